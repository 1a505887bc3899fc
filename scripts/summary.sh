#!/usr/bin/env bash
# The one summary line of `make test`: per step, how many checks ran and
# passed (from build/summary/, written by scripts/step.sh), then the total
# failed. Exits 1 when anything failed or a step left no record.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build/summary
steps=(c-tests specs-5.1 specs-5.2 specs-5.3 specs-5.4 specs-luajit openresty nodes prism asan-ubsan valgrind rocks fuzz)
labels=("C tests" "specs 5.1" "specs 5.2" "specs 5.3" "specs 5.4" "specs LuaJIT" "OpenResty" "two nodes" "Prism"
        "ASan+UBSan" "valgrind" "rocks" "fuzzers")
parts=() failed=0 missing=0
for i in "${!steps[@]}"; do
  f=$dir/${steps[$i]}
  if [ ! -s "$f" ]; then parts+=("${labels[$i]} not run"); missing=1; continue; fi
  if [ "${steps[$i]}" = fuzz ]; then
    read -r targets execs finds < <(awk '$1 == "fuzz" { t++; e += $2; f += $3 } END { print t + 0, e + 0, f + 0 }' "$f")
    parts+=("fuzzers $targets targets $execs executions $finds findings")
    failed=$((failed + finds))
  else
    read -r ran passed < <(awk '$1 != "fuzz" { r += $1; p += $2 } END { print r + 0, p + 0 }' "$f")
    parts+=("${labels[$i]} $passed/$ran")
    failed=$((failed + ran - passed))
  fi
done
line=$(IFS=';'; echo "${parts[*]}" | sed 's/;/, /g')
echo "make test: $line; $failed failed"
[ "$failed" -eq 0 ] && [ "$missing" -eq 0 ]
