#!/usr/bin/env bash
# TinyKV against etcd on this machine, same workloads, same client counts,
# same durability (an acknowledged write is fsynced on a quorum: etcd always
# fsyncs its WAL; TinyKV fsyncs the Raft log before a write is acknowledged).
#
#   bench/compare-etcd.sh [--clients "1 16 64 256"] [--duration 10] [--runs 3]
#                         [--workloads "load c a"] [--keys 100000] [--no-docs]
#
# Installs etcd-server and gnuplot from Debian's packages if missing (root or
# sudo), builds the release preset, starts a 3-member etcd cluster and a
# 3-store TinyKV cluster (scheduler + 3 stores) on loopback, runs every
# workload at every client count against each in turn (median of --runs),
# and writes the table and a chart (docs/benchmarks-compare.png) into
# docs/benchmarks.md between the compare-etcd markers. Everything it starts,
# it stops; its data lives in a temporary folder, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

clients="1 16 64 256"
duration=10
runs=3
workloads="load c a"
keys=100000
value_size=256
write_docs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --no-docs) write_docs=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "compare-etcd: unknown argument $1" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v gnuplot >/dev/null 2>&1 || need+=(gnuplot-nox)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi
cmake --preset release >/dev/null
cmake --build --preset release -j2 --target tinykv-server tinykv-scheduler tinykv-ctl tinykv-bench
bin=$root/build/release
bench=$bin/tools/bench/tinykv-bench
ctl_bin=$bin/tools/ctl/tinykv-ctl

work=$(mktemp -d /tmp/tinykv-compare.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

etcd_endpoints=127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793
start_etcd() {
  local cluster=e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803
  for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$work/etcd$i" \
      --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
      --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
      --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token compare \
      --logger zap --log-outputs "$work/etcd$i.log" >/dev/null 2>&1 &
    pids+=($!)
    etcd_pids[$i]=$!
  done
  for _ in $(seq 1 60); do
    if "$bench" --backend etcd --endpoints "$etcd_endpoints" --workload load --keys 1 \
        --warmup 0 --quiet --summary >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "compare-etcd: etcd did not start; see $work/etcd*.log" >&2
  exit 1
}

scheduler=127.0.0.1:24790
start_tinykv() {
  "$bin/src/server/tinykv-scheduler" --addr "$scheduler" --data-dir "$work/scheduler" \
    --log-file "$work/scheduler.log" >/dev/null 2>&1 &
  pids+=($!)
  for i in 1 2 3; do
    "$bin/src/server/tinykv-server" --scheduler "$scheduler" --addr "127.0.0.1:2479$i" \
      --data-dir "$work/store$i" --log-file "$work/store$i.log" >/dev/null 2>&1 &
    pids+=($!)
    tinykv_pids[$i]=$!
  done
  "$ctl_bin" --scheduler "$scheduler" --timeout 5 wait --stores 3 --for 90 >/dev/null || {
    echo "compare-etcd: the TinyKV cluster did not start; see $work/*.log" >&2
    exit 1
  }
}

# Peak resident size (KiB) of the processes, sampled every second into $1.
sample_rss() {
  local out=$1; shift
  echo 0 >"$out"
  while true; do
    local sum_max=0
    for p in "$@"; do
      local kb
      kb=$(awk '/VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
      [ "${kb:-0}" -gt "$sum_max" ] && sum_max=$kb
    done
    [ "$sum_max" -gt "$(cat "$out")" ] && echo "$sum_max" >"$out"
    sleep 1
  done
}

results=$work/results.tsv
: >"$results"
# run SYSTEM WORKLOAD CLIENTS: the median of $runs runs, appended to $results.
run() {
  local system=$1 workload=$2 n=$3 args
  if [ "$system" = etcd ]; then
    args=(--backend etcd --endpoints "$etcd_endpoints")
  else
    args=(--backend tinykv --scheduler "$scheduler")
  fi
  local lines=()
  for r in $(seq 1 "$runs"); do
    local k=$keys
    # Writes: every run inserts new keys, so none is an overwrite.
    [ "$workload" = load ] && k=100000000
    lines+=("$("$bench" "${args[@]}" --workload "$workload" --keys "$k" --value-size "$value_size" \
      --clients "$n" --duration "$duration" --warmup 2 --quiet --summary)")
  done
  # The run with the median throughput.
  local median
  median=$(printf '%s\n' "${lines[@]}" | sort -n -k1 | sed -n "$(( (runs + 1) / 2 ))p")
  local lo hi
  lo=$(printf '%s\n' "${lines[@]}" | sort -n -k1 | head -1 | cut -f1)
  hi=$(printf '%s\n' "${lines[@]}" | sort -n -k1 | tail -1 | cut -f1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$workload" "$n" "$median" "$lo" "$hi" >>"$results"
  printf '  %-6s %-5s %4s clients: %s ops/s (%s-%s), p99 %s ms\n' "$system" "$workload" "$n" \
    "$(cut -f1 <<<"$median")" "$lo" "$hi" "$(cut -f4 <<<"$median")"
}

preload() {
  local args=("$@")
  "$bench" "${args[@]}" --workload load --keys "$keys" --value-size "$value_size" --clients 64 \
    --duration 600 --warmup 0 --quiet --summary >/dev/null
}

declare -a etcd_pids tinykv_pids
echo "==> etcd: 3 members"
start_etcd
sample_rss "$work/etcd.rss" "${etcd_pids[@]}" &
rss_etcd=$!
pids+=($rss_etcd)
preload --backend etcd --endpoints "$etcd_endpoints"
for w in $workloads; do for n in $clients; do run etcd "$w" "$n"; done; done
kill "$rss_etcd"
for i in 1 2 3; do kill "${etcd_pids[$i]}" 2>/dev/null || true; done

echo "==> TinyKV: scheduler + 3 stores"
start_tinykv
sample_rss "$work/tinykv.rss" "${tinykv_pids[@]}" &
rss_tinykv=$!
pids+=($rss_tinykv)
preload --backend tinykv --scheduler "$scheduler"
for w in $workloads; do for n in $clients; do run tinykv "$w" "$n"; done; done
kill "$rss_tinykv"

etcd_rss_mib=$(( $(cat "$work/etcd.rss") / 1024 ))
tinykv_rss_mib=$(( $(cat "$work/tinykv.rss") / 1024 ))

# The table: one row per workload and client count, both systems.
table=$work/table.md
{
  echo "| workload | clients | TinyKV ops/s (min-max) | etcd ops/s (min-max) | ratio | TinyKV p50 / p99 ms | etcd p50 / p99 ms | p99 ratio |"
  echo "|---|---|---|---|---|---|---|---|"
  for w in $workloads; do
    for n in $clients; do
      t=$(awk -F'\t' -v w="$w" -v n="$n" '$1=="tinykv" && $2==w && $3==n' "$results")
      e=$(awk -F'\t' -v w="$w" -v n="$n" '$1=="etcd" && $2==w && $3==n' "$results")
      awk -F'\t' -v t="$t" -v e="$e" -v w="$w" -v n="$n" 'BEGIN {
        split(t, a, "\t"); split(e, b, "\t");
        printf "| %s | %s | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | %.2fx | %.2f / %.2f | %.2f / %.2f | %.2fx |\n",
          w, n, a[4], a[10], a[11], b[4], b[10], b[11], (b[4] > 0 ? a[4] / b[4] : 0),
          a[5], a[7], b[5], b[7], (b[7] > 0 ? a[7] / b[7] : 0) }'
    done
  done
} >"$table"

# The chart: throughput and p99 by client count, per workload.
png=$work/benchmarks-compare.png
[ "$write_docs" = 1 ] && png=$root/docs/benchmarks-compare.png
{
  nw=$(wc -w <<<"$workloads")
  echo "set terminal pngcairo size 1200,$((360 * nw)) font ',10'"
  echo "set output '$png'"
  echo "set multiplot layout $nw,2"
  echo "set logscale x 2; set grid; set key top left; set xlabel 'clients'"
  for w in $workloads; do
    awk -F'\t' -v w="$w" '$1=="tinykv" && $2==w { print $3, $4, $7 }' "$results" >"$work/t-$w.dat"
    awk -F'\t' -v w="$w" '$1=="etcd" && $2==w { print $3, $4, $7 }' "$results" >"$work/e-$w.dat"
    echo "set title 'workload $w: throughput'; set ylabel 'ops/s'"
    echo "plot '$work/t-$w.dat' using 1:2 with linespoints title 'TinyKV', '$work/e-$w.dat' using 1:2 with linespoints title 'etcd'"
    echo "set title 'workload $w: p99 latency'; set ylabel 'ms'"
    echo "plot '$work/t-$w.dat' using 1:3 with linespoints title 'TinyKV', '$work/e-$w.dat' using 1:3 with linespoints title 'etcd'"
  done
  echo "unset multiplot"
} >"$work/chart.gp"
gnuplot "$work/chart.gp"

cpu=$(awk -F: '/model name/ { print $2; exit }' /proc/cpuinfo | sed 's/^ *//')
section=$work/section.md
{
  echo "<!-- compare-etcd:begin (written by bench/compare-etcd.sh) -->"
  echo "## TinyKV against etcd, end to end"
  echo
  echo "Command: \`bench/compare-etcd.sh --clients \"$clients\" --duration $duration --runs $runs --workloads \"$workloads\" --keys $keys\`."
  echo "Date: $(date -u +%Y-%m-%d). Machine: $(nproc) vCPU ($cpu), $(( $(awk '/MemTotal/ { print $2 }' /proc/meminfo) / 1048576 )) GiB, $(uname -sr)."
  echo "etcd $(etcd --version 2>/dev/null | awk '/etcd Version/ { print $3 }') (Debian's etcd-server), 3 members; TinyKV: scheduler + 3 stores, 3 replicas; all on loopback on this machine, with the load generator (\`tinykv-bench\`, the same code for both)."
  echo "Closed loop, $value_size-byte values; reads and updates over $keys preloaded keys (uniform); writes (\`load\`) insert new keys; linearizable reads on both."
  echo "Each cell: the median of $runs runs of $duration s after a 2 s warm-up (min-max of the throughput in brackets). Ratios are TinyKV / etcd (for p99, lower is better)."
  echo
  cat "$table"
  echo
  echo "Peak resident size of one process: TinyKV store $tinykv_rss_mib MiB, etcd member $etcd_rss_mib MiB."
  echo
  echo "![throughput and p99 by clients](benchmarks-compare.png)"
  echo "<!-- compare-etcd:end -->"
} >"$section"
cat "$section"

if [ "$write_docs" = 1 ]; then
  doc=$root/docs/benchmarks.md
  if grep -q '<!-- compare-etcd:begin' "$doc"; then
    awk -v f="$section" '
      /<!-- compare-etcd:begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
      /<!-- compare-etcd:end/ { skip = 0; next }
      !skip { print }' "$doc" >"$work/doc.md"
    cp "$work/doc.md" "$doc"
  else
    { echo; cat "$section"; } >>"$doc"
  fi
  echo "==> wrote docs/benchmarks.md and docs/benchmarks-compare.png"
fi
