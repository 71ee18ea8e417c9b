#!/usr/bin/env bash
# Instructions per call (callgrind: a count that does not move with the
# machine) of each call shape, ours beside cadence's and
# metrics-exporter-dogstatsd's same calls: each shape runs twice, with 1 000
# and 101 000 calls, and the difference is divided by 100 000. This is
# compare's instructions section: the issue's table, then the criterion
# benches' call shapes.
#   scripts/instructions.sh                         # both tables
#   scripts/instructions.sh incr gauge              # some shapes only
#   target/release/instructions                     # lists the shapes
# It builds both binaries (compare runs the instructions binary beside it):
#   cargo build --release -p statsd-connector-tools --bin instructions --bin compare
#   cargo run --release -p statsd-connector-tools --bin compare -- --only instructions
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p statsd-connector-tools --bin instructions --bin compare
if [ $# -gt 0 ]; then
  shapes=$(IFS=,; echo "$*")
  exec cargo run --release -q -p statsd-connector-tools --bin compare -- --shapes "$shapes"
fi
exec cargo run --release -q -p statsd-connector-tools --bin compare -- --only instructions
