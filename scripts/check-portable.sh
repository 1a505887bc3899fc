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
done < <(git grep -nIE "$pattern" -- . ':!scripts/check-portable.sh' 2>/dev/null)

# Paths that leave the repository: a clone has nothing beside it (no
# shared directory beside it). A relative path counts from its file's directory, or from the
# repository's root when it follows $root, $ROOT or $top; `X/../Y` inside a
# longer path is left alone (it is data, not a place).
outside_pattern='(^|[^A-Za-z0-9_.~/@-]|\$(root|ROOT|top|[A-Za-z_]+_DIR|\{[A-Za-z_]+\})/)(\.\./)+[A-Za-z0-9_.-]*'
while IFS= read -r hit; do
  [ -n "$hit" ] || continue
  file=${hit%%:*}; rest=${hit#*:}; line=${rest%%:*}; text=${rest#*:}
  while IFS= read -r m; do
    rel=$(printf '%s' "$m" | grep -oE '(\.\./)+[A-Za-z0-9_.-]*')
    case "$m" in '$root/'*|'$ROOT/'*|'$top/'*) base=$root ;; *) base=$root/$(dirname "$file") ;; esac
    where=$(realpath -m "$base/$rel")
    case "$where/" in
      "$root"/*) ;;
      *) echo "check-portable: $file:$line: $rel is outside the repository (a clone has nothing beside it)"; bad=1 ;;
    esac
  done < <(printf '%s\n' "$text" | grep -oE "$outside_pattern")
done < <(git grep -nIE "(^|[^A-Za-z0-9_.~/@-]|/)\.\./" -- . ':!scripts/check-portable.sh' ':!test/tools/package-lock.json' 2>/dev/null)
while IFS= read -r hit; do
  [ -n "$hit" ] || continue
  echo "check-portable: ${hit%%:*}: names the directory beside the clone (shared/ or its variable), which users do not have"; bad=1
done < <(git grep -nIE "CLOSE_SHARED[_]DIR|\.\./shar[e]d" -- . ':!scripts/check-portable.sh' 2>/dev/null | cut -d: -f1-2)

if [ "$bad" -ne 0 ]; then exit 1; fi
echo "check-portable: no tracked link leaves the repository, no tracked file names a machine's paths or a path outside the repository"
