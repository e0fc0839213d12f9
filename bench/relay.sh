#!/usr/bin/env bash
# Side-by-side relay benchmark: Carbonado's relay role, Debian's carbon-c-relay and Python
# carbon-relay, each with the same carbon_ch ring of 2 counting sinks, fed 100,000 metrics x 10
# points over 4 plaintext connections. Prints (a) the highest paced rate each delivers with no
# loss and (b) an unthrottled burst: delivered/s, points lost, CPU s per million points, peak RSS
# (bench/src/bin/bench_relay.rs does the measuring).
# Usage: bench/relay.sh [metrics, default 100000] [max paced rate, default 3200000]
# BENCH_RELAY_ONLY=carbonado|carbon-c-relay|carbon-relay runs one implementation.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
METRICS=${1:-100000}
MAX_RATE=${2:-3200000}
for b in /usr/bin/carbon-c-relay /usr/bin/carbon-relay; do
  [ -x "$b" ] || { echo "need $b (scripts/test.sh installs carbon-c-relay and graphite-carbon)" >&2; exit 1; }
done
WORK=${BENCH_DIR:-$(mktemp -d /tmp/carbonado-bench-relay.XXXXXX)}
cargo build --release -q -p carbonado --bin carbonado
cargo build --release -q -p carbonado-bench --bin bench_relay
T="${CARGO_TARGET_DIR:-$ROOT/target}/release"
echo "work dir $WORK (configs and relay logs)"
"$T/bench_relay" "$WORK" "$T/carbonado" "$METRICS" "$MAX_RATE"
