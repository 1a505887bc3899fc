#!/usr/bin/env bash
# fuzz.sh SECONDS: runs every libFuzzer target of build/fuzz/ for SECONDS
# each, from its committed seed corpus (fuzz/corpus/<target>/, read only:
# what the run finds goes to build/fuzz/work/). Prints per target
# "fuzz: T: N executions, N findings"; exits 1 on any finding, leaving the
# input in build/fuzz/artifacts/.
set -u
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
mkdir -p build/fuzz/work build/fuzz/artifacts
status=0
for bin in build/fuzz/bin/*; do
  t=$(basename "$bin")
  mkdir -p "build/fuzz/work/$t"
  log=build/fuzz/work/$t.log
  "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="build/fuzz/artifacts/$t-" "build/fuzz/work/$t" "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  [ -n "$runs" ] || runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' "$log" | tail -n 1)
  finds=0
  if [ "$rc" -ne 0 ]; then
    finds=1
    status=1
    echo "fuzz: $t found a failing input (exit $rc); the end of $log:"
    tail -n 30 "$log"
  fi
  echo "fuzz: $t: ${runs:-0} executions, $finds findings"
done
exit "$status"
