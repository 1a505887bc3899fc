#!/usr/bin/env bash
# Fails (saying what and where) when the repository holds something that
# works on one machine only: a tracked symbolic link that points outside the
# repository, or an absolute path of a build machine (under /tmp, /root,
# /home, /work, or this checkout's own location) in a tracked file.
set -u
root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root" || exit 2
bad=0

while IFS= read -r -d '' entry; do
  mode=${entry%% *}
  path=${entry#*$'\t'}
  [ "$mode" = 120000 ] || continue
  target=$(git cat-file -p ":$path" 2>/dev/null || readlink "$path")
  case "$target" in
    /*) where=$target ;;
    *) where=$(cd "$(dirname "$path")" && realpath -m "$target") ;;
  esac
  case "$where/" in
    "$root"/*) ;;
    *) echo "check-portable: $path is a symbolic link to $target, outside the repository"; bad=1 ;;
  esac
done < <(git ls-files -s -z)

# Absolute paths that exist on one machine only. A path must start a word
# (not be the tail of a URL or of another path) to count.
pattern="(^|[^A-Za-z0-9_.~/@}])(/(tmp|root|home|work)/[A-Za-z0-9_.-]+|$(printf '%s' "$root" | sed 's/[.[\*^$]/\\&/g'))"
while IFS= read -r hit; do
  [ -n "$hit" ] || continue
  file=${hit%%:*}; rest=${hit#*:}; line=${rest%%:*}; text=${rest#*:}
  path=$(printf '%s\n' "$text" | grep -oE "$pattern" | head -n 1 | sed -E 's/^[^/]//')
  echo "check-portable: $file:$line: $path is a path on one machine (use mktemp or a path inside the repository)"
  bad=1
done < <(git grep -nIE "$pattern" -- . ':!scripts/check-portable.sh' ':!spec/portable_spec.lua' 2>/dev/null)

if [ "$bad" -ne 0 ]; then exit 1; fi
echo "check-portable: no tracked link leaves the repository, no tracked file names a machine's paths"
