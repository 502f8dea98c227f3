#!/usr/bin/env bash
# Fails if the top-level modules of core/src import each other in a cycle.
#
# A module is a file `core/src/<m>.rs` or a directory `core/src/<m>/` (its files together).
# An edge m -> n is any `crate::n` path in m's code outside comments and `#[cfg(test)]` test
# modules (tests may reach anywhere). `super::` and `self::` stay inside a top-level module in
# this crate's layout (files of a directory module refer to their parent), so they add no edge.
# The graph goes through `tsort`, which reports a loop if there is one.
#
#   scripts/check-module-cycles.sh          # check; print the dependency order
#   scripts/check-module-cycles.sh --edges  # also print every edge
set -euo pipefail
cd "$(dirname "$0")/../core/src"

edges_file=$(mktemp)
trap 'rm -f "$edges_file"' EXIT

# The code of one file without line comments and without a trailing `#[cfg(test)] mod ...`.
code_of() {
  awk '
    /^[[:space:]]*#\[cfg\(test\)\][[:space:]]*$/ { pending = 1; next }
    pending && /^[[:space:]]*(pub(\([a-z]+\))?[[:space:]]+)?mod[[:space:]]+[a-z_]+[[:space:]]*\{/ { skip = 1 }
    { pending = 0 }
    skip && /^}/ { skip = 0; next }
    skip { next }
    { sub(/\/\/.*/, ""); print }
  ' "$1"
}

for path in *.rs */; do
  path=${path%/}
  module=${path%.rs}
  [ "$module" = lib ] && continue
  if [ -d "$path" ]; then
    files=$(find "$path" -name '*.rs' | sort)
    [ -f "$module.rs" ] && files="$files $module.rs"
  else
    [ -d "$module" ] && continue # counted with its directory
    files=$path
  fi
  echo "$module $module" >>"$edges_file" # every module is a node, even without edges
  for f in $files; do
    { code_of "$f" | grep -oE 'crate::[a-z_][a-z0-9_]*' || true; } | sed 's/^crate:://' | sort -u |
      while read -r dep; do
        if [ "$dep" != "$module" ] && { [ -e "$dep.rs" ] || [ -d "$dep" ]; }; then
          echo "$dep $module"
        fi
      done
  done >>"$edges_file"
done

sort -u "$edges_file" -o "$edges_file"
if [ "${1:-}" = --edges ]; then
  awk '$1 != $2 { print "  " $2 " -> " $1 }' "$edges_file"
fi
if ! order=$(tsort "$edges_file" 2>&1 >/dev/null) || [ -n "$order" ]; then
  echo "import cycle among core/src modules:" >&2
  tsort "$edges_file" 2>&1 >/dev/null | sed 's/^/  /' >&2
  exit 1
fi
echo "no import cycle among core/src modules; dependency order (each imports only earlier ones):"
tsort "$edges_file" | tr '\n' ' '
echo
