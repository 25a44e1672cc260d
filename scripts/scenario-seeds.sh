#!/usr/bin/env bash
# Runs one scenario of the replicated store under many seeds (not in CI).
#
#   scripts/scenario-seeds.sh [--count N] [--from S] [--test NAME]
#
# Defaults: 200 seeds from 1 of the combined scenario (split + membership
# change + snapshot + unreliable network + restarts + partitions). Builds the
# release preset first. Prints each failing seed with the command that
# replays it, and the seeds per minute; exits non-zero if any seed failed.
set -euo pipefail
cd "$(dirname "$0")/.."

count=200
from=1
test=Scenario3B.SplitConfChangeSnapshotUnreliableRecoverConcurrentPartition
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --from) from="$2"; shift 2 ;;
    --test) test="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target scenario_test
bin=build/release/tests/cluster/scenario_test
logs=$(mktemp -d /tmp/tinykv-seeds.XXXXXX)

failed=()
start=$(date +%s)
for ((seed = from; seed < from + count; seed++)); do
  if TINYKV_SCENARIO_SEED=$seed "$bin" --gtest_filter="$test" >"$logs/$seed.log" 2>&1; then
    rm -f "$logs/$seed.log"
  else
    failed+=("$seed")
    echo "seed $seed FAILED (log: $logs/$seed.log)"
  fi
  done_count=$((seed - from + 1))
  if ((done_count % 10 == 0)); then
    echo "$done_count/$count seeds, ${#failed[@]} failed, $(( $(date +%s) - start ))s"
  fi
done
elapsed=$(( $(date +%s) - start ))
per_min=$(awk -v n="$count" -v s="$elapsed" 'BEGIN { printf "%.1f", (s > 0 ? n * 60 / s : n) }')
echo "$test: $count seeds from $from in ${elapsed}s ($per_min seeds/minute), ${#failed[@]} failed"
if ((${#failed[@]} > 0)); then
  echo "replay one: TINYKV_SCENARIO_SEED=${failed[0]} TINYKV_TEST_VERBOSE=debug $bin --gtest_filter=$test"
  exit 1
fi
rmdir "$logs" 2>/dev/null || true
