#!/usr/bin/env bash
# The Raft core's propose-to-commit benchmark, TinyKV's and etcd's (3.4, from
# Debian's golang-etcd-server-dev), in the same run on the same machine.
# Three runs each; prints a markdown table of medians with the ratio.
#
#   bench/raft-vs-etcd.sh [seconds-per-mode]
# Installs golang-go and golang-etcd-server-dev if missing (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-2}"

need=()
for p in golang-go golang-etcd-server-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target raft_bench >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
( cd bench/etcd-raft && HOME="$work" GOCACHE="$work/gocache" GO111MODULE=off GOPATH=/usr/share/gocode \
    go build -o "$work/etcd-raft-bench" . )

for run in 1 2 3; do
  build/release/bench/raft_bench --benchmark_min_time="$secs" --benchmark_counters_tabular=true 2>/dev/null |
    awk '/^BM_/ { name = $1; sub(/^BM_/, "", name); print name, $7, $8 }' > "$work/tinykv.$run"
  "$work/etcd-raft-bench" "$secs" > "$work/etcd.$run"
done

# "median (min-max)" of the numbers on stdin.
summary() { sort -n | awk '{ v[NR] = $1 } END { printf "%s (%s-%s)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
tinykv_rate() { cat "$work"/tinykv.* | awk -v m="$1" '$1 == m { print $3 }' | sed 's/k\/s//' | awk '{ printf "%.0f\n", $1 * 1000 }'; }
etcd_rate() { cat "$work"/etcd.* | awk -v m="$1" '$1 == m { print $2 }'; }

echo "| mode | TinyKV entries/s, median (min-max) | etcd entries/s, median (min-max) | ratio of medians | TinyKV allocs/entry | etcd allocs/entry |"
echo "|---|---|---|---|---|---|"
for mode in ProposeOneAtATime ProposePipelined/16 ProposePipelined/256; do
  t=$(tinykv_rate "$mode" | median)
  e=$(etcd_rate "$mode" | median)
  ta=$(cat "$work"/tinykv.* | awk -v m="$mode" '$1 == m { print $2 }' | median)
  ea=$(cat "$work"/etcd.* | awk -v m="$mode" '$1 == m { print $3 }' | median)
  ratio=$(awk -v a="$t" -v b="$e" 'BEGIN { printf "%.2f", a / b }')
  echo "| $mode | $(tinykv_rate "$mode" | summary) | $(etcd_rate "$mode" | summary) | ${ratio}x | $ta | $ea |"
done
