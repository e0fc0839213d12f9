#!/usr/bin/env bash
# Graph rendering: Carbonado's graph crate (pure Rust) vs graphite-web's glyph.py (cairo, Debian's
# graphite-web), both in-process on the same data, 800x600:
#   lines_1000_*  1,000 individually drawn series of 360 points (legend hidden, as graphite does past 10)
#   stacked_20_*  20 series, areaMode=stacked
# Prints seconds per render for both and the ratio. Usage: bash bench/graph.sh [repetitions]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${1:-5}
SYS_PY=${CARBONADO_SYS_PYTHON:-/usr/bin/python3}
"$SYS_PY" -c 'import graphite.render.glyph' 2>/dev/null || "$SYS_PY" -c 'import graphite' \
  || { echo "Debian graphite-web missing: run scripts/test.sh once" >&2; exit 1; }

cargo build --quiet --release -p carbonado-bench --bin bench_graph
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/bench_graph

WORK=$(mktemp -d "${TMPDIR:-/tmp}/graph-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$SYS_PY" bench/graph_py.py "$REPS" > "$WORK/py.txt"
"$BIN" "$REPS" > "$WORK/rs.txt"

# Columns: wall-clock ms per render and ratio, then CPU ms per render and ratio (the CPU figures
# stay meaningful when other work shares the machine).
printf '%-16s %12s %12s %7s | %12s %12s %7s\n' workload "graphite ms" "carbonado ms" ratio "graphite cpu" "carbonado cpu" ratio
join <(sort "$WORK/py.txt") <(sort "$WORK/rs.txt") |
  awk '{ printf "%-16s %12.1f %12.1f %6.1fx | %12.1f %12.1f %6.1fx\n", $1, $2 * 1000, $4 * 1000, ($4 > 0 ? $2 / $4 : 0), $3 * 1000, $5 * 1000, ($5 > 0 ? $3 / $5 : 0) }'
