#!/usr/bin/env bash
# Carbonado's whisper engine vs python whisper 1.1.10 (the venv's), same machine, one run:
#   (a) update_many of 1 point into each of 10,000 files (10s:6h,1m:7d,10m:5y, sparse files)
#   (b) update_many of 60 points into each of 1,000 files
#   (c) fetch of 1 day from each of the 10,000 files
# Prints both rates (operations = files per second) and the ratio, and the user-space CPU time
# per operation of each side (system time is printed by each program; see bench/README.md).
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

# Columns: wall-clock rates and their ratio, then user-space CPU per operation (the engine's own
# work, without the kernel's file I/O, which both sides share) and that ratio.
printf '%-24s %12s %12s %7s   %14s %14s %7s\n' workload "python op/s" "carbonado" ratio \
  "py user us/op" "cb user us/op" ratio
join <(sort "$WORK/py.txt") <(sort "$WORK/rs.txt") |
  awk '{ printf "%-24s %12.0f %12.0f %6.1fx   %14.1f %14.1f %6.1fx\n", $1, $2, $5, $5 / $2, $3, $6, ($6 > 0 ? $3 / $6 : 0) }'
