#!/usr/bin/env bash
# Fails if a shell script pipes into an early-closing reader: `| head`,
# `| grep -q` (or -m, -l, -L), `| sed ...q`, `| awk ...exit`, `| read`.
#
# Why: such a reader exits as soon as it has what it wants, and the writer's
# next write gets SIGPIPE. Under `set -o pipefail` (every script here) the
# pipeline then fails, and `set -e` stops the script — but only when the
# writer was still writing, so the failure comes and goes with timing and
# load (the demo's `client submit | head -1` failed that way). Read the
# whole output first (out=$(cmd); "${out%%$'\n'*}"), or use a reader that
# reads to the end (grep without -q, sed -n 1p, awk 'NR==1').
#
#   scripts/lint-pipes.sh [FILE...]    # default: the scripts in scripts/ and .ci/
#
# Comment lines are skipped. The check is by pattern, line by line: it can
# be fooled, on purpose, but not by accident.
set -euo pipefail
cd "$(dirname "$0")/.."

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  # Shell scripts: named *.sh, or starting with a shell's #! line.
  while IFS= read -r f; do
    case $f in
      *.sh) files+=("$f") ;;
      *) if IFS= read -r first <"$f" 2>/dev/null && [[ $first =~ ^#!.*(ba|da|z|k)?sh ]]; then files+=("$f"); fi ;;
    esac
  done < <(find scripts .ci -type f | sort)
fi

# A pipe (not ||) into one of the readers, as a command of its own.
pipe='(^|[^|])\|[[:space:]]*'
readers=(
  "${pipe}head\\b"
  "${pipe}grep[[:space:]]+(-[[:alnum:]]*[qmlL]|--quiet|--silent|--max-count|--files-with)"
  "${pipe}sed\\b[^|]*[0-9\$/;{[:space:]'\"]q(['\"};[:space:]]|\$)"
  "${pipe}awk\\b[^|]*\\bexit\\b"
  "${pipe}(IFS=[^[:space:]]*[[:space:]]+)?read\\b"
)
pattern=$(IFS='|'; echo "${readers[*]}")

bad=0
for f in "${files[@]}"; do
  # grep -n prints FILE:LINE:TEXT; comment lines are dropped after it.
  if hits=$(grep -nHE "$pattern" "$f" | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#'); then
    printf '%s\n' "$hits" >&2
    bad=1
  fi
done
if [ "$bad" -ne 0 ]; then
  echo "lint-pipes: the lines above pipe into a reader that may close early (SIGPIPE under pipefail); read the whole output first" >&2
  exit 1
fi
