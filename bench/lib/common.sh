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
