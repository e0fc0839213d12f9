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

# The fetch workloads read the same prepared files (a day of points each) on both sides.
"$BIN" prepare "$WORK"
"$PY" bench/whisper_py.py "$WORK" > "$WORK/py.txt"
mkdir -p "$WORK/rs" && ln -s "$WORK/fill" "$WORK/rs/fill"
"$BIN" "$WORK/rs" > "$WORK/rs.txt"

# Rows are <workload>@<variant>. "cold": each call opens and closes its file (python's path
# calls); "warm-*": handles opened before the clock starts (python: file objects kept open with
# file_update_many / file_fetch), by descriptor, by memory mapping, and mapped over every core.
# Every Carbonado row is compared with python's row of the same warmth (warm-* with python's warm-fd).
# Columns: wall-clock rates and their ratio; then CPU time (user + system) per operation and its
# ratio; then user-space CPU only.
printf '%-44s %11s %11s %6s | %9s %9s %6s | %9s %9s %6s\n' workload "py op/s" "cb op/s" ratio \
  "py cpu us" "cb cpu us" ratio "py usr us" "cb usr us" ratio
awk 'NR == FNR { py[$1] = $0; next }
     { split($1, w, "@"); key = w[1] "@" (w[2] == "cold" ? "cold" : "warm-fd");
       if (!(key in py)) next; split(py[key], p, " ");
       pc = p[3] + p[4]; rc = $3 + $4;
       printf "%-44s %11.0f %11.0f %5.1fx | %9.1f %9.1f %5.1fx | %9.1f %9.1f %5.1fx\n",
         $1, p[2], $2, $2 / p[2], pc, rc, (rc >= 0.1 ? pc / rc : 0), p[3], $3, ($3 >= 0.1 ? p[3] / $3 : 0) }' \
  "$WORK/py.txt" "$WORK/rs.txt"
