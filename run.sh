#!/usr/bin/env bash
# Installs what is missing, builds, and starts TinyKV on this machine.
#
#   ./run.sh                      a standalone server on 127.0.0.1:20160, data in ./data/standalone,
#                                 until Ctrl-C
#   ./run.sh --demo               the same, runs a short workload against it, then stops
#   ./run.sh --addr HOST:PORT     another address
#   ./run.sh --data-dir DIR       another data folder
#
# Logs go to <data-dir>/tinykv-server.log. (A replicated local cluster comes
# with the scheduler; until then this runs one standalone node.)
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

addr=127.0.0.1:20160
data_dir=data/standalone
demo=0
while [ $# -gt 0 ]; do
  case "$1" in
    --addr) addr="$2"; shift 2 ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    --demo) demo=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see ./run.sh --help)" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
echo "==> building (release)"
cmake --preset release >/dev/null
cmake --build --preset release --target tinykv-server tinykv-ctl | grep -v '^\[' || true
bin="$root/build/release"
server_bin="$bin/src/server/tinykv-server"
ctl_bin="$bin/tools/ctl/tinykv-ctl"
[ -x "$server_bin" ] && [ -x "$ctl_bin" ] || { echo "run.sh: build failed" >&2; exit 1; }

mkdir -p "$data_dir"
log="$data_dir/tinykv-server.log"
addr_file="$data_dir/server.addr"
rm -f "$addr_file"
# In its own session, so that Ctrl-C reaches only this script, which then
# stops the server with one SIGTERM (a second signal would skip the clean shutdown).
setsid "$server_bin" --standalone --addr "$addr" --data-dir "$data_dir" --addr-file "$addr_file" \
  --log-file "$log" &
server_pid=$!

stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "==> stopping tinykv-server (pid $server_pid)"
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
}
trap 'stop_server; exit 0' INT TERM
trap 'stop_server' EXIT

# Wait until the server answers its health check (or gives up).
ctl() { "$ctl_bin" --addr "$addr" "$@"; }
for _ in $(seq 1 300); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid" || true
    echo "run.sh: tinykv-server did not start; last lines of $log:" >&2
    tail -n 5 "$log" >&2 || true
    trap - EXIT
    exit 1
  fi
  if [ -s "$addr_file" ] && ctl health >/dev/null 2>&1; then break; fi
  sleep 0.1
done
ctl health >/dev/null || { echo "run.sh: tinykv-server is not answering" >&2; exit 1; }

cat <<INFO

TinyKV is running (standalone, one node)
  store address : $addr
  data          : $data_dir
  log           : $log

Try it (tinykv-ctl is $ctl_bin):
  $ctl_bin --addr $addr raw put hello world
  $ctl_bin --addr $addr raw get hello
  $ctl_bin --addr $addr raw scan "" --limit 10

INFO

if [ "$demo" = 1 ]; then
  echo "==> demo: writing, reading, scanning and deleting through tinykv-ctl"
  for i in $(seq -w 1 20); do ctl raw put "demo/key$i" "value $i" >/dev/null; done
  echo "wrote 20 keys under demo/"
  echo "get demo/key07 -> $(ctl raw get demo/key07)"
  echo "scan from demo/key18:"
  ctl raw scan demo/key18 --limit 5 | sed 's/^/  /'
  ctl raw delete demo/key07 >/dev/null
  if ctl raw get demo/key07 >/dev/null 2>&1; then
    echo "run.sh: demo/key07 still there after delete" >&2; exit 1
  fi
  echo "deleted demo/key07 (get now exits 1: not found)"
  ctl raw put 'binary\x00key' '\xff' >/dev/null
  echo "binary key -> $(ctl raw get 'binary\x00key') (escaped), $(ctl --hex raw get 62696e617279006b6579) (hex)"
  echo "==> demo done"
  exit 0
fi

echo "Press Ctrl-C to stop."
wait "$server_pid"
status=$?
trap - EXIT
echo "run.sh: tinykv-server exited with status $status" >&2
exit "$status"
