#!/usr/bin/env bash
# Side-by-side: the same whisper tree (>= 100,000 metrics) served by graphite-web (Debian's, under
# gunicorn) and by Carbonado's web role; prints median/p95 latency of find and render and requests/s
# with 4 concurrent clients, and the ratios (bench/src/bin/bench_render.rs does the measuring).
# Usage: bench/render.sh [requests per kind, default 20]. Needs root for apt-get on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-20}
PY=${CARBONADO_PYTHON:-$ROOT/.venv/bin/python}
SYS_PY=${CARBONADO_SYS_PYTHON:-/usr/bin/python3}

need=""
for p in graphite-web python3-gunicorn; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
"$PY" -c 'import whisper' 2>/dev/null || { echo "need python whisper in $PY (scripts/test.sh installs it)" >&2; exit 1; }

WORK=${BENCH_DIR:-$(mktemp -d /tmp/carbonado-bench-render.XXXXXX)}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
mkdir -p "$WORK/whisper" "$WORK/log"

if [ ! -f "$WORK/.tree-done" ]; then
  echo "building whisper tree in $WORK/whisper (100,000 find metrics + 1,000 render series of 1 day at 10 s)..."
  "$PY" - "$WORK/whisper" <<'PYEOF'
import os, sys, time, whisper
root = sys.argv[1]
now = int(time.time())
def path(name):
    p = os.path.join(root, *name.split(".")) + ".wsp"
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p
for a in range(100):
    for b in range(1000):
        whisper.create(path("bench.find.a%03d.b%03d" % (a, b)), [(60, 60)])
start = now - 86400
for h in range(1000):
    p = path("bench.render.h%04d.cpu" % h)
    whisper.create(p, [(10, 8640)])
    whisper.update_many(p, [(t, float((t // 10 + h) % 100)) for t in range(start + 10, now, 10)], now=now)
PYEOF
  touch "$WORK/.tree-done"
fi

free_port() { "$SYS_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
GW_PORT=$(free_port); CB_PORT=$(free_port)

# graphite-web: its own settings module so nothing under /etc is touched.
cat > "$WORK/bench_gw_settings.py" <<PYEOF
SECRET_KEY = 'carbonado-bench'
STORAGE_DIR = '$WORK'
WHISPER_DIR = '$WORK/whisper'
STANDARD_DIRS = ['$WORK/whisper']
LOG_DIR = '$WORK/log'
INDEX_FILE = '$WORK/index'
DATABASES = {'default': {'NAME': '$WORK/graphite.db', 'ENGINE': 'django.db.backends.sqlite3'}}
TIME_ZONE = 'UTC'
# no carbon-cache in this comparison (Carbonado runs web-only too); generous timeouts so big
# renders finish instead of failing at the 6 s FETCH_TIMEOUT default
CARBONLINK_HOSTS = []
FETCH_TIMEOUT = 600
FIND_TIMEOUT = 600
PYEOF
export GRAPHITE_SETTINGS_MODULE=bench_gw_settings DJANGO_SETTINGS_MODULE=graphite.settings PYTHONPATH="$WORK"
"$SYS_PY" -m django migrate --run-syncdb -v 0 >"$WORK/log/migrate.log" 2>&1
(cd "$WORK" && exec "$SYS_PY" -m gunicorn --workers 4 --timeout 300 --bind "127.0.0.1:$GW_PORT" \
  graphite.wsgi:application >"$WORK/log/gunicorn.log" 2>&1) &
PIDS+=($!)

cargo build --release -q -p carbonado --bin carbonado
cargo build --release -q -p carbonado-bench --bin bench_render
cat > "$WORK/carbonado.toml" <<EOF2
[cache]
enabled = false

[web]
enabled = true
listen = "127.0.0.1:$CB_PORT"
local_data_dir = "$WORK/whisper"
default_cache_duration = 0
EOF2
"${CARGO_TARGET_DIR:-$ROOT/target}/release/carbonado" serve --config "$WORK/carbonado.toml" >"$WORK/log/carbonado.log" 2>&1 &
PIDS+=($!)

wait_http() {
  for _ in $(seq 1 600); do
    "$SYS_PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$1/version', timeout=2)" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "server on port $1 did not come up; logs in $WORK/log" >&2; exit 1
}
wait_http "$GW_PORT"; wait_http "$CB_PORT"
echo "graphite-web (gunicorn, 4 workers) on :$GW_PORT, carbonado on :$CB_PORT, $N requests per kind"
"${CARGO_TARGET_DIR:-$ROOT/target}/release/bench_render" "127.0.0.1:$GW_PORT" "127.0.0.1:$CB_PORT" "$N"
