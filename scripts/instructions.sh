#!/usr/bin/env bash
# Instructions per call (callgrind: a count that does not move with the
# machine) of each call shape, ours beside cadence's and
# metrics-exporter-dogstatsd's same calls: each shape runs twice, with 1 000
# and 101 000 calls, and the difference is divided by 100 000.
#   scripts/instructions.sh             # the table
#   scripts/instructions.sh incr gauge  # some of ours only
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p statsd-connector-tools --bin instructions
bin=target/release/instructions
count() {
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$out"; rm -f "$out"
}
per_call() { local small large; small=$(count "$1" 1000); large=$(count "$1" 101000); echo $(( (large - small) / 100000 )); }
if [ $# -gt 0 ]; then
  for shape in "$@"; do echo "$shape $(per_call "$shape")"; done
  exit 0
fi
# ours | peer | peer shape | call
rows=(
  "incr|cadence 1|cadence_incr|\`incr(\"bench.requests\")\`"
  "tags2|cadence 1|cadence_tags2|\`with_tags(&[(\"region\",\"eu\"),(\"host\",\"web-01\")]).incr(..)\`"
  "gauge|cadence 1|cadence_gauge|\`gauge(\"bench.gauge\", 21.53)\`"
  "timing|cadence 1|cadence_timing|\`timing(\"bench.timing\", 1.53 ms)\`"
  "hist_tags2|cadence 1|cadence_hist_tags2|\`with_tags(2 tags).histogram(\"bench.hist\", 42.0)\`"
  "agg_incr|metrics-exporter-dogstatsd 0.9|dsd_incr|aggregating: \`incr(name)\` / \`counter!(name).increment(1)\`"
  "agg_tags2|metrics-exporter-dogstatsd 0.9|dsd_tags2|aggregating: \`incr\` / \`counter!\` with the same 2 tags"
)
echo "| call | ours | peer | peer's | peer ÷ ours |"
echo "|---|---:|---|---:|---:|"
for row in "${rows[@]}"; do
  IFS='|' read -r ours peer peer_shape call <<<"$row"
  a=$(per_call "$ours"); b=$(per_call "$peer_shape")
  echo "| $call | $a | $peer | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f×", b / a }') |"
done
echo "| \`Counter::incr\` (a handle) | $(per_call counter) | | | |"
