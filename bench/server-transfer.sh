#!/usr/bin/env bash
# Benchmark: ferry's embedded server beside vsftpd, one big file downloaded and uploaded by
# curl from each, in the same run, interleaved. Loopback only. Needs root (vsftpd local user).
#   bash bench/server-transfer.sh            # 1 GiB, 5 runs
#   SIZE_MB=256 RUNS=3 bash bench/server-transfer.sh
#   TMPDIR=/dev/shm bash bench/server-transfer.sh   # files on tmpfs: no disk writeback noise
# Prints a Markdown table: MB/s medians (min-max) per server and direction, the ferry/vsftpd
# ratio, and the ferry server's peak RSS (VmHWM) over the whole run.
# With two or more CPUs (and PIN not 0) both servers run on CPU 0 and curl on CPU 1
# (taskset), so the scheduler cannot stack client and server on one core in some runs only.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
# shellcheck source=lib/vsftpd.sh
source "$HERE/lib/vsftpd.sh"

SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-5}
command -v curl >/dev/null || die "curl missing: apt-get install curl"
[[ -f $ROOT/dist/src/cli/main.js ]] || (cd "$ROOT" && npm run build >/dev/null)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")
PIN=${PIN:-1}
(( $(nproc) >= 2 )) && command -v taskset >/dev/null || PIN=0
pin_server() { if [[ $PIN == 1 ]]; then taskset -a -p -c 0 "$1" >/dev/null; fi; }
client() { if [[ $PIN == 1 ]]; then taskset -c 1 "$@"; else "$@"; fi; }
FERRY_PID=""
cleanup() { set +e; stop_pid "$FERRY_PID"; vsftpd_stop; rm -rf "$WORK"; restore_page_reporting; }
trap cleanup EXIT
trap 'exit 130' INT TERM

hold_page_reporting

log "making a $SIZE_MB MiB file"
SRC=$WORK/big.bin
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$SRC"
BYTES=$(stat -c %s "$SRC")

vsftpd_start "$WORK"
cp "$SRC" "$VSFTPD_HOME/big.bin" && chown "$VSFTPD_USER" "$VSFTPD_HOME/big.bin"

FROOT=$WORK/ferry-root
mkdir -p "$FROOT"
cp "$SRC" "$FROOT/big.bin"
FPORT=$(free_port)
FPASS=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
# FERRY_ENV: extra environment for the server, e.g. FERRY_ENV="MALLOC_ARENA_MAX=2" as the Dockerfile sets.
# shellcheck disable=SC2086
env FERRY_LOG_LEVEL=warn ${FERRY_ENV:-} node "$ROOT/dist/src/cli/main.js" serve --root "$FROOT" --host 127.0.0.1 --port "$FPORT" \
  --user "bench:$FPASS" >"$WORK/ferry.log" 2>&1 &
FERRY_PID=$!
wait_port "$FPORT" "$FERRY_PID" || die "ferry serve did not start: $(head -c 500 "$WORK/ferry.log")"
pin_server "$VSFTPD_PID"
pin_server "$FERRY_PID"
log "vsftpd :$VSFTPD_PORT (pid $VSFTPD_PID), ferry :$FPORT (pid $FERRY_PID), pinned: $PIN"

url() { # url SERVER PATH
  if [[ $1 == vsftpd ]]; then echo "ftp://$VSFTPD_USER:$VSFTPD_PASS@$HOST:$VSFTPD_PORT/$2"
  else echo "ftp://bench:$FPASS@$HOST:$FPORT/$2"; fi
}
home() { if [[ $1 == vsftpd ]]; then echo "$VSFTPD_HOME"; else echo "$FROOT"; fi; }

# Sample the server's resident set every 100 ms while the transfers run (VmHWM alone also
# counts start-up).
RSS_SAMPLES=$WORK/rss.txt
( while kill -0 "$FERRY_PID" 2>/dev/null; do awk '/^VmRSS:/ {print $2}' "/proc/$FERRY_PID/status" 2>/dev/null; sleep 0.1; done ) >"$RSS_SAMPLES" &
SAMPLER_PID=$!

# CPU seconds of a server: its own and its reaped children's (vsftpd forks a process per
# session and reaps it when the session ends; ferry's threads are counted in its own).
cpu_ticks() { awk '{ split($0, a, ") "); split(a[2], f, " "); print f[12] + f[13] + f[14] + f[15] }' "/proc/$1/stat"; }
server_pid() { if [[ $1 == vsftpd ]]; then echo "$VSFTPD_PID"; else echo "$FERRY_PID"; fi; }
# Wait (at most 3 s) until a server has no session process left, so its CPU is counted.
reaped() { local i; for ((i = 0; i < 60; i++)); do pgrep -P "$1" >/dev/null || return 0; sleep 0.05; done; }

declare -A T C
for ((run = 0; run <= RUNS; run++)); do
  for server in vsftpd ferry; do
    out=$WORK/down.bin
    rm -f "$out"
    c0=$(cpu_ticks "$(server_pid "$server")")
    s=$(time_cmd client curl -sS --fail -o "$out" "$(url "$server" big.bin)") || die "$server download failed"
    reaped "$(server_pid "$server")"
    c1=$(cpu_ticks "$(server_pid "$server")")
    cmp -s "$SRC" "$out" || die "$server download: bytes differ"
    rm -f "$(home "$server")/up.bin"
    u=$(time_cmd client curl -sS --fail -T "$SRC" "$(url "$server" up.bin)") || die "$server upload failed"
    reaped "$(server_pid "$server")"
    c2=$(cpu_ticks "$(server_pid "$server")")
    cmp -s "$SRC" "$(home "$server")/up.bin" || die "$server upload: bytes differ"
    rm -f "$(home "$server")/up.bin" "$out"
    if ((run == 0)); then log "warm-up $server: down ${s}s up ${u}s"; continue; fi
    T[$server,down]+="$(awk -v b="$BYTES" -v s="$s" 'BEGIN{printf "%.1f", b/s/1e6}') "
    T[$server,up]+="$(awk -v b="$BYTES" -v s="$u" 'BEGIN{printf "%.1f", b/s/1e6}') "
    C[$server,down]=$(( ${C[$server,down]:-0} + c1 - c0 ))
    C[$server,up]=$(( ${C[$server,up]:-0} + c2 - c1 ))
    log "run $run $server: down ${s}s up ${u}s (server CPU $(( c1 - c0 )) / $(( c2 - c1 )) ticks)"
  done
done
RSS_KB=$(peak_rss_kb "$FERRY_PID")
kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null || true
RSS_MAX_KB=$(sort -n "$RSS_SAMPLES" | tail -1)

cell() { # cell KEY -> "median (min-max)"
  local v; v=$(tr ' ' '\n' <<<"${T[$1]}" | grep -v '^$')
  printf '%s (%s-%s)' "$(median <<<"$v")" "$(sort -g <<<"$v" | head -1)" "$(sort -g <<<"$v" | tail -1)"
}
med() { tr ' ' '\n' <<<"${T[$1]}" | grep -v '^$' | median; }
echo
echo "| server | download MB/s | upload MB/s |"
echo "|---|---|---|"
echo "| vsftpd $(vsftpd -v 0>&1 2>/dev/null | sed -nE 's/.*version ([^ ]+).*/\1/p') | $(cell vsftpd,down) | $(cell vsftpd,up) |"
echo "| ferry serve | $(cell ferry,down) | $(cell ferry,up) |"
echo "| ratio ferry/vsftpd (medians) | $(awk -v a="$(med ferry,down)" -v b="$(med vsftpd,down)" 'BEGIN{printf "%.2f", a/b}') | $(awk -v a="$(med ferry,up)" -v b="$(med vsftpd,up)" 'BEGIN{printf "%.2f", a/b}') |"
echo
echo "File ${SIZE_MB} MiB, $RUNS timed runs after one warm-up, curl $(curl -V | head -1 | cut -d' ' -f2) as the client; MB = 10^6 bytes."
cpu() { awk -v t="${C[$1]}" -v r="$RUNS" -v mb="$SIZE_MB" 'BEGIN{printf "%.2f", t / 100 / r / (mb / 1024)}'; }
echo "server CPU seconds per GiB (user+sys, mean of the timed runs): vsftpd down $(cpu vsftpd,down) up $(cpu vsftpd,up); ferry serve down $(cpu ferry,down) up $(cpu ferry,up)"
[[ -z $PAGE_REPORTING_NOTE ]] || echo "$PAGE_REPORTING_NOTE"
echo "ferry serve resident memory${FERRY_ENV:+ (with $FERRY_ENV)}: highest sample during transfers $((RSS_MAX_KB / 1024)) MiB; VmHWM over the whole run $((RSS_KB / 1024)) MiB"
