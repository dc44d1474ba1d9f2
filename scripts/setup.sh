#!/usr/bin/env bash
# Set up everything voxstream needs on a fresh Debian/Ubuntu machine with Python 3.11+.
#   scripts/setup.sh run    system audio libs + runtime venv (.venv, no TensorFlow)
#   scripts/setup.sh test   everything `run` needs + TensorFlow (train extra), test tools,
#                           mosquitto, PulseAudio, sox, espeak-ng, Chromium
# Idempotent: apt runs only for missing packages, pip only when pyproject.toml changed.
# Quiet: a few [setup] lines; apt's and pip's errors still reach stderr (nothing is filtered but the notices
# named below).
set -euo pipefail
MODE="${1:-run}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

APT_RUN=(libportaudio2 libsndfile1 espeak-ng mosquitto mosquitto-clients)
APT_TEST=("${APT_RUN[@]}" pulseaudio pulseaudio-utils libasound2-plugins alsa-utils sox chromium openssl procps
          libatomic1)  # libatomic1: the node driver inside the playwright wheel needs it

case "$MODE" in
  run) PKGS=("${APT_RUN[@]}"); EXTRAS="" ;;
  test) PKGS=("${APT_TEST[@]}"); EXTRAS="[train,dev,dask]" ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

say() { echo "[setup] $*" >&2; }

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      say "missing system packages: ${missing[*]} (not root and no sudo: install them yourself)"; exit 1; fi
  fi
  say "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes \
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3.12 python3.13 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then PY="$c"; break; fi
  done
fi
[ -n "$PY" ] || { say "need Python >= 3.11"; exit 1; }

if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian's system Python ships venv/ensurepip separately
    ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    say "installing python${ver}-venv"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes $SUDO apt-get install -y -qq "python${ver}-venv" \
      >/dev/null || DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes $SUDO apt-get install -y -qq \
      python3-venv >/dev/null
  fi
  say "creating .venv with $PY"
  rm -rf .venv
  "$PY" -m venv .venv || { say "could not create .venv with $PY (apt-get install python3-venv)"; exit 1; }
fi
STAMP=".venv/.voxstream-$MODE"
WANT="$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  say "installing voxstream$EXTRAS into .venv"
  PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
  "${PIP[@]}" --upgrade pip
  # setuptools tells every editable install "Editable installation ... be careful with folders in your
  # working directory" (an information notice, not a problem); that notice alone is silenced.
  PYTHONWARNINGS="ignore:Editable installation" "${PIP[@]}" -e ".$EXTRAS"
  echo "$WANT" > "$STAMP"
fi
# Bytecode for the checkout, as a wheel install has: where PYTHONDONTWRITEBYTECODE is set, every command
# would otherwise compile its ~30 modules at start (25 ms of a `voxstream classify` start-up). Stale files
# are recompiled; an edited module's old bytecode is never used (Python checks the source's mtime).
.venv/bin/python -m compileall -q src >/dev/null
say "ready ($MODE)"
