#!/usr/bin/env bash
# Side-by-side: Carbonado's tag index and graphite-web's default TagDB (LocalDatabaseTagDB over a
# SQLite file, run in-process through Django) on the same tagged series and the same queries.
# Carbonado indexes N series (default 1,000,000) and also the first SMALL (default 20,000) that
# graphite-web indexes; queries are compared at SMALL (and answer counts must agree there).
# Usage: bench/tags.sh [N] [SMALL]. BENCH_TAGS_E2E=<n> also sends n new series through a running
# cache + web node's line receiver and times until all are indexed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-1000000}
SMALL=${2:-20000}
SYS_PY=${CARBONADO_SYS_PYTHON:-/usr/bin/python3}
"$SYS_PY" -c 'import graphite.tags.localdatabase' 2>/dev/null || { echo "need Debian's graphite-web for $SYS_PY" >&2; exit 1; }

WORK=${BENCH_DIR:-$(mktemp -d /tmp/carbonado-bench-tags.XXXXXX)}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
cargo build --release -q -p carbonado-bench --bin bench_tags

"$BIN/bench_tags" gen "$N" "$WORK/series.txt" "$WORK/queries.json"
echo "graphite-web LocalDatabaseTagDB: tagging $SMALL series and timing queries (this is the slow part)..."
"$SYS_PY" bench/tags_py.py "$WORK/series.txt" "$SMALL" "$WORK/queries.json" "$WORK" >"$WORK/graphite-web.json"
"$BIN/bench_tags" run "$WORK/series.txt" "$N" "$SMALL" "$WORK/queries.json" "$WORK/graphite-web.json"

E2E=${BENCH_TAGS_E2E:-0}
if [ "$E2E" -gt 0 ]; then
  cargo build --release -q -p carbonado --bin carbonado
  free_port() { "$SYS_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  LINE=$(free_port); HTTP=$(free_port); QUERY=$(free_port)
  mkdir -p "$WORK/node"
  # one small archive per file: the e2e run creates a whisper file for every series
  printf '[all]\npattern = .*\nretentions = 60:1h\n' > "$WORK/node/storage-schemas.conf"
  cat > "$WORK/node/carbonado.toml" <<EOF2
[cache]
enabled = true
local_data_dir = "$WORK/node/data"
line_receiver = "127.0.0.1:$LINE"
pickle_receiver = ""
cache_query = "127.0.0.1:$QUERY"
http_listen = ""
max_creates_per_minute = "inf"
storage_schemas = "$WORK/node/storage-schemas.conf"
carbon_metric_interval = "0s"

[web]
enabled = true
listen = "127.0.0.1:$HTTP"
default_cache_duration = 0
EOF2
  "$BIN/carbonado" serve --config "$WORK/node/carbonado.toml" >"$WORK/node/carbonado.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do
    "$SYS_PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$HTTP/version', timeout=2)" 2>/dev/null && break
    sleep 0.2
  done
  "$BIN/bench_tags" e2e "$WORK/series.txt" "$E2E" "127.0.0.1:$LINE" "127.0.0.1:$HTTP"
fi
