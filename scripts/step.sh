#!/usr/bin/env bash
# step.sh NAME COMMAND...: runs COMMAND with its output passed through, and
# adds what it ran and passed to build/summary/NAME, for the summary line of
# `make test` (scripts/summary.sh). It reads the lines the checks print:
# busted's "N successes / N failures / N errors / N pending", ours
# "N passed, N failed", and the fuzzers' "fuzz: T: N executions, N findings".
set -uo pipefail
name=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/build/summary"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# strip colour codes before reading the counts
sed -e 's/\x1b\[[0-9;]*m//g' "$log" | awk '
  /^[0-9]+ successes \/ [0-9]+ failures \/ [0-9]+ errors \/ [0-9]+ pending/ {
    print $1 + $4 + $7, $1 }
  match($0, /[0-9]+ passed, [0-9]+ failed/) {
    split(substr($0, RSTART, RLENGTH), w, " "); print w[1] + w[3], w[1] }
  /^fuzz: [^ ]+: [0-9]+ executions, [0-9]+ findings/ {
    print "fuzz", $3 + 0, $5 + 0 }
' >>"$root/build/summary/$name"
# a step that printed no count at all is a failure of its own
[ -s "$root/build/summary/$name" ] || { echo "step.sh: $name printed no count of its checks"; rc=1; }
exit "$rc"
