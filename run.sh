#!/usr/bin/env bash
# Installs what is missing, builds, and starts a local TinyKV cluster.
#
#   ./run.sh                  tinykv-scheduler + 3 tinykv-server stores on loopback, data in
#                             ./data/cluster, until Ctrl-C
#   ./run.sh --stores N       N stores instead of 3
#   ./run.sh --demo           starts the cluster with small regions, writes and reads 10,000
#                             keys (enough to split regions), prints the region map, stops
#   ./run.sh --standalone     one standalone server (no replication) on 127.0.0.1:20160
#   ./run.sh --data-dir DIR   another data folder (kept between runs: the cluster restarts
#                             with its data; delete the folder for a new cluster)
#   ./run.sh --port P         the scheduler on P, stores on P+1, P+2, ... (default 2379 and
#                             20161, 20162, ...)
#   ./run.sh --store-config F the stores' TOML configuration (config/tinykv.toml lists every
#                             key; the default is the built-in defaults)
#
# Logs go to <data-dir>/*.log.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

stores=3
demo=0
standalone=0
data_dir=""
port=""
while [ $# -gt 0 ]; do
  case "$1" in
    --stores) stores="$2"; shift 2 ;;
    --demo) demo=1; shift ;;
    --standalone) standalone=1; shift ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --store-config) user_store_config="$(realpath "$2")"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see ./run.sh --help)" >&2; exit 2 ;;
  esac
done
case "$stores" in ''|*[!0-9]*) echo "run.sh: --stores needs a number" >&2; exit 2 ;; esac
[ "$stores" -ge 1 ] || { echo "run.sh: --stores must be at least 1" >&2; exit 2; }

scripts/install-deps.sh
echo "==> building (release)"
cmake --preset release >/dev/null
cmake --build --preset release --target tinykv-server tinykv-scheduler tinykv-ctl | grep -v '^\[' || true
bin="$root/build/release"
server_bin="$bin/src/server/tinykv-server"
scheduler_bin="$bin/src/server/tinykv-scheduler"
ctl_bin="$bin/tools/ctl/tinykv-ctl"
for b in "$server_bin" "$scheduler_bin" "$ctl_bin"; do
  [ -x "$b" ] || { echo "run.sh: build failed ($b missing)" >&2; exit 1; }
done

pids=()
names=()
# Each process in its own session, so that Ctrl-C reaches only this script,
# which then stops the stores and the scheduler with one SIGTERM each.
start() {  # start NAME LOG COMMAND...
  local name=$1 log=$2
  shift 2
  setsid "$@" --log-file "$log" >>"$log.stderr" 2>&1 &
  pids+=($!)
  names+=("$name")
}
stop_all() {
  local i
  # Stores first (they report to the scheduler while they stop), then the scheduler.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "==> stopping ${names[$i]} (pid ${pids[$i]})"
      kill -TERM "${pids[$i]}" 2>/dev/null || true
      wait "${pids[$i]}" 2>/dev/null || true
    fi
  done
  pids=()
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# A process that exited: say so, with the end of its log.
check_alive() {
  local i
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "run.sh: ${names[$i]} exited; the end of its log:" >&2
      tail -n 5 "${logs[$i]}" "${logs[$i]}.stderr" 2>/dev/null >&2 || true
      exit 1
    fi
  done
}

if [ "$standalone" = 1 ]; then
  data_dir=${data_dir:-data/standalone}
  addr=127.0.0.1:${port:-20160}
  mkdir -p "$data_dir"
  logs=("$data_dir/tinykv-server.log")
  start tinykv-server "${logs[0]}" "$server_bin" --standalone --addr "$addr" --data-dir "$data_dir"
  ctl() { "$ctl_bin" --addr "$addr" "$@"; }
  for _ in $(seq 1 300); do
    check_alive
    if ctl health >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  ctl health >/dev/null || { echo "run.sh: tinykv-server is not answering" >&2; exit 1; }
  cat <<INFO

TinyKV is running (standalone, one node, no replication)
  store address : $addr
  data          : $data_dir
  log           : ${logs[0]}

Try it:
  $ctl_bin --addr $addr raw put hello world
  $ctl_bin --addr $addr raw get hello
  $ctl_bin --addr $addr raw scan "" --limit 10

Press Ctrl-C to stop.
INFO
  wait "${pids[0]}" || true
  exit 0
fi

# ---- A local cluster ----
data_dir=${data_dir:-data/cluster}
[ "$demo" = 1 ] && [ -z "${DEMO_KEEP_DATA:-}" ] && data_dir="${data_dir%/}-demo"
if [ -n "$port" ]; then
  sched_port=$port
  store_base=$((port + 1))
else
  sched_port=2379
  store_base=20161
fi
scheduler_addr=127.0.0.1:$sched_port
mkdir -p "$data_dir"

store_config="$data_dir/store.toml"
if [ "$demo" = 1 ]; then
  # A fresh cluster with small regions, so that 10,000 keys split it.
  rm -rf "$data_dir"/scheduler "$data_dir"/store*
  cat >"$store_config" <<'TOML'
# Written by ./run.sh --demo: small regions and quick reports, to show splits.
[server]
store-heartbeat-interval = "1s"
[raftstore]
region-max-size = "256KiB"
region-split-size = "192KiB"
split-region-check-tick-interval = "1s"
region-heartbeat-interval = "2s"
TOML
elif [ -n "${user_store_config:-}" ]; then
  cp "$user_store_config" "$store_config"
else
  cat >"$store_config" <<'TOML'
# Written by ./run.sh: the defaults (config/tinykv.toml lists every key).
[server]
TOML
fi

logs=("$data_dir/scheduler.log")
start tinykv-scheduler "${logs[0]}" "$scheduler_bin" --addr "$scheduler_addr" \
  --data-dir "$data_dir/scheduler"
for i in $(seq 1 "$stores"); do
  addr=127.0.0.1:$((store_base + i - 1))
  logs+=("$data_dir/store$i.log")
  start "tinykv-server (store $i)" "$data_dir/store$i.log" "$server_bin" --config "$store_config" \
    --scheduler "$scheduler_addr" --addr "$addr" --data-dir "$data_dir/store$i"
done

ctl() { "$ctl_bin" --scheduler "$scheduler_addr" "$@"; }
echo "==> waiting for the cluster (scheduler $scheduler_addr, $stores stores)"
ready=0
for _ in $(seq 1 60); do
  check_alive
  if ctl --timeout 2 wait --stores "$stores" --for 5 \
      2> >(grep --line-buffered -v '^tinykv-ctl: DeadlineExceeded' | sed 's/^/    /' >&2) >/dev/null; then
    ready=1
    break
  fi
done
[ "$ready" = 1 ] || { echo "run.sh: the cluster did not become ready; see $data_dir/*.log" >&2; exit 1; }

store_list=""
for i in $(seq 1 "$stores"); do store_list+="127.0.0.1:$((store_base + i - 1)) "; done
cat <<INFO

TinyKV is running: a scheduler and $stores stores on this machine
  scheduler : $scheduler_addr
  stores    : $store_list
  data      : $data_dir  (logs: $data_dir/*.log)

Try it from another terminal:
  $ctl_bin --scheduler $scheduler_addr raw put hello world
  $ctl_bin --scheduler $scheduler_addr raw get hello
  $ctl_bin --scheduler $scheduler_addr txn put alice 100
  $ctl_bin --scheduler $scheduler_addr cluster

INFO

if [ "$demo" = 1 ]; then
  n=10000
  echo "==> demo: writing $n keys of ~100 bytes"
  start_s=$(date +%s.%N)
  seq -f "%06g" 1 "$n" | awk '{ printf "demo/key%s\tvalue %s %s\n", $1, $1, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" }' \
    | ctl --timeout 60 raw batch-put
  echo "    done in $(awk -v s="$start_s" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
  echo "==> demo: waiting for regions to split"
  prev=0
  stable=0
  for _ in $(seq 1 60); do
    regions=$(ctl --json cluster | grep -o '"region_count":[0-9]*' | head -1 | cut -d: -f2)
    regions=${regions:-1}
    if [ "$regions" -gt 1 ] && [ "$regions" = "$prev" ]; then
      stable=$((stable + 1))
      [ "$stable" -ge 4 ] && break
    else
      stable=0
    fi
    prev=$regions
    sleep 0.5
  done
  echo "    $regions regions"
  echo "==> demo: reading every key back"
  got=$(seq -f "demo/key%06g" 1 "$n" | ctl --timeout 60 raw batch-get | wc -l)
  if [ "$got" != "$n" ]; then
    echo "run.sh: read back $got of $n keys" >&2
    exit 1
  fi
  echo "    read back all $n keys"
  echo "    get demo/key004242 -> $(ctl raw get demo/key004242 | cut -c1-40)..."
  echo "    scan from demo/key009998:"
  ctl raw scan demo/key009998 --limit 3 | cut -c1-60 | sed 's/^/      /'
  echo "==> demo: a transaction moving 30 from alice to bob"
  ctl txn script <<'SCRIPT' | sed 's/^/    /'
begin
put demo/alice 100
put demo/bob 0
commit
begin
get demo/alice
get demo/bob
put demo/alice 70
put demo/bob 30
commit
SCRIPT
  echo "    now: alice $(ctl txn get demo/alice), bob $(ctl txn get demo/bob)"
  echo
  ctl cluster
  echo
  echo "==> demo done"
  exit 0
fi

echo "Press Ctrl-C to stop."
while true; do
  check_alive
  sleep 1
done
