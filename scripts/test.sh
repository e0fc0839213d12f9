#!/usr/bin/env bash
# The one command that runs Carbonado's whole test suite on a fresh machine.
# It installs the reference implementations the tests compare against:
#   - a local virtualenv (.venv) with PyPI's whisper 1.1.10 (and other pure-Python references),
#   - Debian's graphite-carbon, graphite-web and carbon-c-relay (apt-get, services kept stopped),
# then runs every Rust test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# --- Python references in a local virtualenv -------------------------------------------
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c 'import whisper' 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check whisper==1.1.10
fi
# The compression formats' reference implementations (transport_codecs tests).
if ! .venv/bin/python -c 'import lz4.frame, snappy' 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check lz4==4.4.5 python-snappy==0.7.3
fi

# --- Debian reference packages ---------------------------------------------------------
DEB_PKGS="python3-whisper graphite-carbon graphite-web carbon-c-relay memcached chromium chromium-driver"
missing=""
for p in $DEB_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "need root to apt-get install:$missing" >&2; exit 1
  fi
  # Keep the packages' services from starting: tests start their own on loopback.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

export CARBONADO_PYTHON="$ROOT/.venv/bin/python"   # PyPI whisper 1.1.10
export CARBONADO_SYS_PYTHON=/usr/bin/python3         # sees Debian's carbon / graphite-web

# --- The Rust test suite ----------------------------------------------------------------
cargo test --workspace "$@"
