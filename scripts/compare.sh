#!/usr/bin/env bash
# Delivered throughput, loss, latency and emit cost of statsd clients, side by
# side in one run against one counting server; prints markdown tables.
#   scripts/compare.sh                      # 10 million metrics per client, 3 rounds
#   scripts/compare.sh --count 2000000 --rounds 5
#   scripts/compare.sh --python             # also sprockets-statsd (pip install sprockets-statsd==1.0.0)
#   scripts/compare.sh --only instructions  # instructions per call (callgrind; needs valgrind)
#   scripts/compare.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
# The instructions section runs the instructions binary beside compare's.
cargo build --release -q -p statsd-connector-tools --bin instructions
exec cargo run --release -p statsd-connector-tools --bin compare -- "$@"
