#!/usr/bin/env bash
# Carbonado's whisper engine vs python whisper 1.1.10 (the venv's), same machine, one run:
#   (a) update_many of 1 point into each of 10,000 files (10s:6h,1m:7d,10m:5y, sparse files)
#   (b) update_many of 60 points into each of 1,000 files
#   (c) fetch of 1 day from each of the 10,000 files
# Prints both rates (operations = files per second) and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${CARBONADO_PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || { echo "python whisper venv missing: run scripts/test.sh once" >&2; exit 1; }

cargo build --quiet --release -p carbonado-bench --bin bench_whisper
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/bench_whisper

WORK=$(mktemp -d "${TMPDIR:-/tmp}/whisper-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

"$PY" bench/whisper_py.py "$WORK/py" > "$WORK/py.txt"
"$BIN" "$WORK/rs" > "$WORK/rs.txt"

printf '%-24s %14s %14s %9s\n' workload "python ops/s" "carbonado ops/s" ratio
join <(sort "$WORK/py.txt") <(sort "$WORK/rs.txt") |
  awk '{ printf "%-24s %14.0f %14.0f %8.1fx\n", $1, $2, $3, $3 / $2 }'
