# Shared shell helpers for ferry's benchmarks: loopback only, every started process stopped by PID.
# shellcheck shell=bash
HOST=127.0.0.1
log() { printf '[bench %s] %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_port() { # wait_port PORT PID: bounded wait until something accepts on 127.0.0.1:PORT
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
# Every step may fail harmlessly (the process may be gone): "|| true" keeps `set -e` callers,
# such as an EXIT trap, from stopping half-way and leaving servers behind.
stop_pid() {
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 0
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"; exit}; if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# time_cmd CMD...: prints elapsed seconds; fails if the command fails
time_cmd() {
  local t0 t1
  t0=$EPOCHREALTIME
  "$@" || return 1
  t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f\n", b-a}'
}
# peak_rss_kb PID: VmHWM of a running process (kB)
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Free page reporting (virtio-balloon) hands memory the guest frees back to the host, and
# touching it again costs a host fault per page: on the CI-sized VM a GiB written to tmpfs
# took 0.4-2.7 s instead of a steady 0.4-0.5 s, depending on whether the pages had been
# handed back yet, which swung the ratios by 30 % and more (bench/lib/pageReporting.ts has
# the details). hold_page_reporting holds it back for the run (root, and a kernel with the
# knobs; HOLD_PAGE_REPORTING=0 leaves it alone) and says what it did in PAGE_REPORTING_NOTE;
# the caller's cleanup calls restore_page_reporting.
PAGE_REPORTING=/sys/module/page_reporting/parameters
PAGE_REPORTING_SAVED=()
PAGE_REPORTING_NOTE=""
hold_page_reporting() {
  PAGE_REPORTING_NOTE=""
  [[ ${HOLD_PAGE_REPORTING:-1} != 0 ]] || { PAGE_REPORTING_NOTE="free page reporting left as the VM has it (HOLD_PAGE_REPORTING=0)"; return 0; }
  local name value
  for name in min_free_ms:300000 max_waiting_mib:1048576; do
    value=${name#*:} name=${name%%:*}
    [[ -w $PAGE_REPORTING/$name ]] || { restore_page_reporting; return 0; }
    PAGE_REPORTING_SAVED+=("$name:$(cat "$PAGE_REPORTING/$name")")
    echo "$value" >"$PAGE_REPORTING/$name" 2>/dev/null || { restore_page_reporting; return 0; }
  done
  PAGE_REPORTING_NOTE="free page reporting held back during the run (min_free_ms 300000, max_waiting_mib 1048576; HOLD_PAGE_REPORTING=0 to measure without)"
}
restore_page_reporting() {
  local entry
  for entry in "${PAGE_REPORTING_SAVED[@]}"; do echo "${entry#*:}" >"$PAGE_REPORTING/${entry%%:*}" 2>/dev/null || true; done
  PAGE_REPORTING_SAVED=()
}
