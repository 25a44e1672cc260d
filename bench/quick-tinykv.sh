#!/usr/bin/env bash
# A quick before/after measurement of TinyKV alone (for one change, in one
# session; the comparison with etcd is bench/compare-etcd.sh):
#   bench/quick-tinykv.sh LABEL [STORE_CONFIG.toml]
# Starts a 3-store cluster with ./run.sh (data in a temporary folder),
# preloads 100,000 keys, then runs tinykv-bench: load at 1 and 64 clients,
# and workload c at 1 and 64 clients, 8 s after 2 s of warm-up, twice each.
# Prints "LABEL WORKLOAD CLIENTS: ops/s p50 p95 p99 p99.9 errors" lines.
# QUICK_WORKLOADS="load" (or "c", or "a": workload a at 64 clients, not run
# by default) runs only those.
# QUICK_COUNT=1 also counts, machine-wide over the measured 8 s, what each
# operation costs: context switches, futex calls, fdatasyncs, sendmsgs and
# CPU ms of the three stores (needs root for perf's tracepoints; installs
# Debian's linux-perf if missing).
# Unlike throughput, the counts hardly move with a noisy disk or CPU (the CPU
# per operation does).
set -euo pipefail
cd "$(dirname "$0")/.."
label=${1:-run}
extra=()
[ -n "${2:-}" ] && extra=(--store-config "$2")
count=${QUICK_COUNT:-0}
if [ "$count" = 1 ] && ! command -v perf >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get install -y -qq linux-perf >/dev/null
fi
data=$(mktemp -d /tmp/tinykv-quick.XXXXXX)
./run.sh --stores 3 --port 3379 --data-dir "$data/cluster" "${extra[@]}" >"$data/run.log" 2>&1 &
runner=$!
trap 'kill $runner 2>/dev/null || true; wait $runner 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 600); do
  grep -q "Press Ctrl-C" "$data/run.log" 2>/dev/null && break
  kill -0 $runner 2>/dev/null || { cat "$data/run.log" >&2; exit 1; }
  sleep 1
done
B=build/release/tools/bench/tinykv-bench
S=(--backend tinykv --scheduler 127.0.0.1:3379 --quiet --summary)
"$B" "${S[@]}" --workload load --keys 100000 --clients 64 --duration 600 --warmup 0 >/dev/null
workloads=" ${QUICK_WORKLOADS:-load c} "
warmup=2 secs=8
# CPU ticks (user + system) of the store processes.
store_ticks() {
  local t=0 p
  for p in $(pgrep -f "tinykv-server --config $data/"); do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$t"
}
# measure WORKLOAD KEYS CLIENTS: one run; with QUICK_COUNT=1, the counts per
# operation over its measured seconds (after the warm-up).
measure() {
  local out="$data/bench.out"
  "$B" "${S[@]}" --workload "$1" --keys "$2" --clients "$3" --duration $secs --warmup $warmup >"$out" &
  local bench=$!
  if [ "$count" != 1 ]; then
    wait $bench
    cat "$out"
    return
  fi
  sleep $warmup
  local t0 t1 ops
  t0=$(store_ticks)
  perf stat -a -x, -o "$data/perf.csv" \
    -e context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_fdatasync,syscalls:sys_enter_sendmsg \
    -- sleep $secs
  t1=$(store_ticks)
  wait $bench
  ops=$(awk -v secs=$secs '{ print $1 * secs }' "$out")  # ops/s is the first column
  printf '%s\tper op: ' "$(cat "$out")"
  awk -F, -v ops="$ops" '$1 ~ /^[0-9]/ { sub(/^syscalls:sys_enter_/, "", $3); printf "%s %.1f  ", $3, $1 / ops }' \
    "$data/perf.csv"
  awk -v t=$((t1 - t0)) -v ops="$ops" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "store-cpu-ms %.2f\n", t * 1000 / hz / ops }'
}
# run WORKLOAD KEYS CLIENTS...: two measurements at each client count.
run() {
  local workload=$1 keys=$2
  shift 2
  for n in "$@"; do
    for _ in 1 2; do
      echo "$label $workload $n: $(measure "$workload" "$keys" "$n")"
    done
  done
}
# load writes keys 0, 1, 2, ... again (overwriting the preloaded ones first);
# its --keys is only an upper bound.
if [[ $workloads == *" load "* ]]; then run load 100000000 1 64; fi
if [[ $workloads == *" c "* ]]; then run c 100000 1 64; fi
if [[ $workloads == *" a "* ]]; then run a 100000 64; fi
