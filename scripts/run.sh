#!/usr/bin/env bash
# One command: set everything up, then run the main job.
# With a microphone: `voxstream run` on the default input. Without one: a demo clip made on the spot
# (espeak-ng) streams through the same live pipeline. Open http://127.0.0.1:8765/ to watch it;
# MQTT goes to the local mosquitto (started here if it is installed and not running).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh run
if command -v mosquitto >/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  mkdir -p .venv/mosquitto
  printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\n' > .venv/mosquitto/local.conf
  mosquitto -c .venv/mosquitto/local.conf -d >/dev/null 2>&1 \
    && echo "[run] started a local mosquitto on 127.0.0.1:1883 (mosquitto_sub -t 'voxstream/#' -v)" >&2 \
    || echo "[run] could not start mosquitto; MQTT will keep retrying in the background" >&2
fi
exec .venv/bin/voxstream run --demo-if-no-mic "$@"
