#!/usr/bin/env bash
# Instructions per call of each call shape (callgrind; a count that does not
# move with the machine): each shape runs twice, with 1 000 and 101 000 calls,
# and the difference is divided by 100 000.
#   scripts/instructions.sh [SHAPE...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p statsd-connector-tools --bin instructions
bin=target/release/instructions
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(incr counter gauge timing tags2 hist_tags2)
count() {
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$out"; rm -f "$out"
}
echo "| shape | instructions per call |"
echo "|---|---:|"
for shape in "${shapes[@]}"; do
  small=$(count "$shape" 1000); large=$(count "$shape" 101000)
  echo "| $shape | $(( (large - small) / 100000 )) |"
done
