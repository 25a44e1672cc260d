#!/usr/bin/env bash
# Installs what is missing, builds, and runs the test suite.
#
#   ./test.sh                  everything, in the sanitizer build (ASan + UBSan)
#   ./test.sh --preset debug   another build preset (debug, release, asan)
#   ./test.sh -L unit          only tests with this ctest label (unit, integration, process)
#   ./test.sh -R Engine        only tests whose name matches
# Extra arguments go to ctest. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")"

preset=asan
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --preset=*) preset="${1#--preset=}"; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) ctest_args+=("$1"); shift ;;
  esac
done

scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" --timeout 600 "${ctest_args[@]}"
