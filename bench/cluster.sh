#!/usr/bin/env bash
# Side-by-side: a three-node cluster with replication factor 2 (carbon_ch, the placement of
# docs/cluster/ring-rf2) as Carbonado web roles with the ring, and as Debian's graphite-web
# (one django runserver per node, CLUSTER_SERVERS = the two others). Each node has its own
# whisper tree holding exactly the copies the ring puts there (placed by python carbon's own
# ConsistentHashingRouter). bench_cluster renders a few hundred metrics from node a: healthy,
# with node c killed (-9), and with node c hung (SIGSTOP); it prints median, p95 and the
# slowest of the first 5 queries after the failure for both, and the ratios.
# Usage: bench/cluster.sh [queries per phase, default 30] [metrics, default 300]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-30}
M=${2:-300}
PY=${CARBONADO_PYTHON:-$ROOT/.venv/bin/python}
SYS_PY=${CARBONADO_SYS_PYTHON:-/usr/bin/python3}
"$PY" -c 'import whisper' 2>/dev/null || { echo "need python whisper in $PY (scripts/test.sh installs it)" >&2; exit 1; }
"$SYS_PY" -c 'import graphite, carbon.routers' 2>/dev/null || { echo "need Debian graphite-web and graphite-carbon for $SYS_PY" >&2; exit 1; }

WORK=${BENCH_DIR:-$(mktemp -d /tmp/carbonado-bench-cluster.XXXXXX)}
mkdir -p "$WORK/log"
NOW=$(date +%s)
NOW=$((NOW - NOW % 10))

echo "placing $M metrics (1 h at 10 s) on three whisper trees with carbon's ring (rf 2)..."
"$SYS_PY" - "$WORK" "$M" > "$WORK/placement.txt" <<'PYEOF'
import sys
from types import SimpleNamespace
from carbon.routers import ConsistentHashingRouter
work, m = sys.argv[1], int(sys.argv[2])
r = ConsistentHashingRouter(SimpleNamespace(REPLICATION_FACTOR=2, DIVERSE_REPLICAS=False, ROUTER_HASH_TYPE="carbon_ch"))
for port, inst in ((2104, "a"), (2204, "b"), (2304, "c")):
    r.addDestination(("127.0.0.1", port, inst))
for i in range(m):
    name = "bench.cluster.h%04d.cpu" % i
    print(name, " ".join(inst for (_, _, inst) in r.getDestinations(name)))
PYEOF
"$PY" - "$WORK" "$NOW" <<'PYEOF'
import os, sys, whisper
work, now = sys.argv[1], int(sys.argv[2])
for line in open(os.path.join(work, "placement.txt")):
    name, *owners = line.split()
    h = int(name.split(".")[2][1:])
    for o in owners:
        p = os.path.join(work, "node-" + o, "whisper", *name.split(".")) + ".wsp"
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if os.path.exists(p):
            os.remove(p)
        whisper.create(p, [(10, 8640)])
        whisper.update_many(p, [(t, float((t // 10 + h) % 100)) for t in range(now - 7200, now, 10)], now=now)
PYEOF
echo "copies per node: $(for n in a b c; do printf '%s=%s ' $n "$(find "$WORK/node-$n/whisper" -name '*.wsp' | wc -l)"; done)"

free_port() { "$SYS_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A CB GW
for n in a b c; do CB[$n]=127.0.0.1:$(free_port); GW[$n]=127.0.0.1:$(free_port); done

# Carbonado: web-only nodes over their trees, the ring of docs/cluster/ring-rf2, no answer cache.
for n in a b c; do
  cat > "$WORK/cb-$n.toml" <<EOF
[cache]
enabled = false

[web]
enabled = true
listen = "${CB[$n]}"
local_data_dir = "$WORK/node-$n/whisper"
default_cache_duration = 0
find_cache_duration = 0
remote_timeout = "2s"
cluster_self = "${CB[$n]}"
cluster_relay_method = "carbon_ch"
cluster_replication_factor = 2
cluster_diverse_replicas = false
cluster_hedge_min = "5ms"
cluster_hedge_max = "100ms"
cluster_ring = [
  { destination = "127.0.0.1:2104:a", http = "${CB[a]}" },
  { destination = "127.0.0.1:2204:b", http = "${CB[b]}" },
  { destination = "127.0.0.1:2304:c", http = "${CB[c]}" },
]
EOF
done

# graphite-web: one settings module per node; the same 2 s remote timeouts as Carbonado.
for n in a b c; do
  others=""
  for o in a b c; do [ "$o" = "$n" ] || others="$others'${GW[$o]}', "; done
  mkdir -p "$WORK/gw-$n/log"
  cat > "$WORK/gw_$n.py" <<PYEOF
SECRET_KEY = 'carbonado-bench'
STORAGE_DIR = '$WORK/gw-$n'
WHISPER_DIR = '$WORK/node-$n/whisper'
STANDARD_DIRS = ['$WORK/node-$n/whisper']
LOG_DIR = '$WORK/gw-$n/log'
INDEX_FILE = '$WORK/gw-$n/index'
DATABASES = {'default': {'NAME': '$WORK/gw-$n/graphite.db', 'ENGINE': 'django.db.backends.sqlite3'}}
TIME_ZONE = 'UTC'
CARBONLINK_HOSTS = []
CLUSTER_SERVERS = [$others]
FIND_TIMEOUT = 2.0
FETCH_TIMEOUT = 2.0
PYEOF
  GRAPHITE_SETTINGS_MODULE=gw_$n DJANGO_SETTINGS_MODULE=graphite.settings PYTHONPATH="$WORK" \
    "$SYS_PY" -m django migrate --run-syncdb -v 0 >"$WORK/log/migrate-$n.log" 2>&1
done

cargo build --release -q -p carbonado --bin carbonado
cargo build --release -q -p carbonado-bench --bin bench_cluster
FROM=$((NOW - 3600)); UNTIL=$((NOW - 60))
echo "work dir $WORK; carbonado ${CB[a]} ${CB[b]} ${CB[c]}; graphite-web ${GW[a]} ${GW[b]} ${GW[c]}"
CARBONADO_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/carbonado" SYS_PY="$SYS_PY" \
  "${CARGO_TARGET_DIR:-$ROOT/target}/release/bench_cluster" "$WORK" "$N" "$M" "$FROM" "$UNTIL" \
  "${CB[a]}" "${CB[b]}" "${CB[c]}" "${GW[a]}" "${GW[b]}" "${GW[c]}"
