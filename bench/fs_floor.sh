#!/usr/bin/env bash
# What the file system allows at all for the ingest benchmark's creates and steady-state figures,
# with no whisper code, no network and no cache (bench/src/bin/bench_fs_floor.rs):
#   creates/s of whisper-sized files by 1 and 2 threads; CPU of writing one point per file every
#   10 s through kept descriptors and through mappings.
# Usage: bench/fs_floor.sh [CREATES 100000] [METRICS 50000] [STEADY 60] [WARMUP 30]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/carbonado-fs-floor.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cargo build --release -q -p carbonado-bench --bin bench_fs_floor
"${CARGO_TARGET_DIR:-$ROOT/target}/release/bench_fs_floor" "$WORK" "$@"
