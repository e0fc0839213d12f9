#!/usr/bin/env bash
# Side-by-side ingest benchmark: Debian's carbon-cache and Carbonado's cache role on the same workloads
# (bench/src/bin/bench_ingest.rs does the measuring):
#  (a) METRICS existing metrics x POINTS points over 4 connections, plaintext then pickle: points accepted
#      per second and points persisted per second (every point checked in its whisper file);
#  (b) CREATES brand-new metrics x 1 point: whisper creates per second;
#  (c) steady state, METRICS metrics x 1 point every 10 s for STEADY seconds: CPU and RSS.
# Usage: bench/ingest.sh [METRICS 50000] [POINTS 20] [CREATES 100000] [STEADY 60]
#   quick run: bench/ingest.sh 5000 10 5000 20
# BENCH_INGEST_ONLY=carbonado|carbon-cache runs one implementation.
# BENCH_INGEST_CACHE_EXTRA="whisper_mmap = true" adds settings to Carbonado's [cache] section.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ -x /usr/bin/carbon-cache ] || { echo "need /usr/bin/carbon-cache (scripts/test.sh installs graphite-carbon)" >&2; exit 1; }
WORK=${BENCH_DIR:-$(mktemp -d /tmp/carbonado-bench-ingest.XXXXXX)}
cargo build --release -q -p carbonado --bin carbonado
cargo build --release -q -p carbonado-bench --bin bench_ingest --bin bench_fs_floor
T="${CARGO_TARGET_DIR:-$ROOT/target}/release"
export BENCH_FS_FLOOR="$T/bench_fs_floor"
echo "work dir $WORK (configs, whisper trees, logs; removed at the end unless BENCH_KEEP=1)"
"$T/bench_ingest" "$WORK" "$T/carbonado" "$@"
[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$WORK"
