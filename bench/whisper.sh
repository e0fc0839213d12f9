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

# Columns: wall-clock rates and their ratio; then CPU time (user + system) per operation and its
# ratio, which stays meaningful when other work shares the machine; then user-space CPU only (the
# engines' own work, without the kernel's file I/O that both sides pay).
printf '%-24s %11s %11s %6s | %9s %9s %6s | %9s %9s %6s\n' workload "py op/s" "cb op/s" ratio \
  "py cpu us" "cb cpu us" ratio "py usr us" "cb usr us" ratio
join <(sort "$WORK/py.txt") <(sort "$WORK/rs.txt") |
  awk '{ pc = $3 + $4; rc = $6 + $7;
         printf "%-24s %11.0f %11.0f %5.1fx | %9.1f %9.1f %5.1fx | %9.1f %9.1f %5.1fx\n",
           $1, $2, $5, $5 / $2, pc, rc, (rc > 0 ? pc / rc : 0), $3, $6, ($6 > 0 ? $3 / $6 : 0) }'
