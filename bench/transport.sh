#!/usr/bin/env bash
# Side-by-side transport benchmark: Carbonado's relay role and Debian's carbon-c-relay forward
# the same points over TLS (towards the destination, and on the listener), paced at a rate both
# take and then as a burst; Carbonado alone also with gzip, lz4 and snappy (Debian's c-relay is
# built with TLS only). Prints delivered and lost points, points/s, relay CPU per million points
# and the ratios (bench/src/bin/bench_transport.rs does the measuring).
# Usage: bench/transport.sh [burst points, default 1000000] [paced rate, default 25000]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
POINTS=${1:-1000000}
RATE=${2:-25000}
[ -x /usr/bin/carbon-c-relay ] || { echo "need /usr/bin/carbon-c-relay (scripts/test.sh installs it)" >&2; exit 1; }
WORK=${BENCH_DIR:-$(mktemp -d /tmp/carbonado-bench-transport.XXXXXX)}
cargo build --release -q -p carbonado --bin carbonado
cargo build --release -q -p carbonado-bench --bin bench_transport
T="${CARGO_TARGET_DIR:-$ROOT/target}/release"
echo "work dir $WORK (configs and relay logs)"
"$T/bench_transport" "$WORK" "$T/carbonado" "$POINTS" "$RATE"
