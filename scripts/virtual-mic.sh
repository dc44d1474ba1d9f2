#!/usr/bin/env bash
# A virtual microphone for machines without a sound card: a PulseAudio server with a null sink
# ("vsink") whose monitor is remapped as a capture source ("vmic"). Whatever is played into vsink
# (paplay --device=vsink file.wav) is captured by `voxstream run --device pulse`.
#
#   scripts/virtual-mic.sh start [DIR]   start the server in DIR (default /tmp/voxstream-pa)
#   scripts/virtual-mic.sh env   [DIR]   print the exports that point clients at it (eval "$(... env)")
#   scripts/virtual-mic.sh stop  [DIR]   stop it (pactl exit, then its own PID)
#
# Needs: pulseaudio pulseaudio-utils libasound2-plugins (ALSA's pulse plugin, so PortAudio sees 'pulse').
set -euo pipefail
CMD="${1:-}"
DIR="$(mkdir -p "${2:-/tmp/voxstream-pa}" && cd "${2:-/tmp/voxstream-pa}" && pwd)"
RT="$DIR/rt"
export HOME="$DIR/home" XDG_RUNTIME_DIR="$RT" PULSE_RUNTIME_PATH="$RT/pulse"

say() { echo "[virtual-mic] $*" >&2; }

start() {
  command -v pulseaudio >/dev/null || { say "pulseaudio not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)"; exit 3; }
  if pactl info >/dev/null 2>&1; then say "already running in $DIR"; return 0; fi
  mkdir -p "$HOME" "$RT" && chmod 700 "$RT"
  cat > "$DIR/default.pa" <<'PA'
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name=vsink rate=48000 sink_properties=device.description=VirtualSink
load-module module-remap-source source_name=vmic master=vsink.monitor source_properties=device.description=VirtualMic
set-default-sink vsink
set-default-source vmic
PA
  # -n: no default config; exit-idle-time=-1: stay up with no clients
  setsid pulseaudio -n -F "$DIR/default.pa" --exit-idle-time=-1 --system=false --daemonize=no \
    --log-target="file:$DIR/pulseaudio.log" </dev/null >/dev/null 2>&1 &
  echo $! > "$DIR/pulseaudio.pid"
  for _ in $(seq 1 50); do
    if pactl info >/dev/null 2>&1; then say "running in $DIR (pid $(cat "$DIR/pulseaudio.pid")): sink vsink, source vmic"; return 0; fi
    kill -0 "$(cat "$DIR/pulseaudio.pid")" 2>/dev/null || break
    sleep 0.1
  done
  say "pulseaudio did not start; see $DIR/pulseaudio.log"; tail -5 "$DIR/pulseaudio.log" >&2 || true
  exit 1
}

stop() {
  pactl exit >/dev/null 2>&1 || true
  if [ -f "$DIR/pulseaudio.pid" ]; then
    pid="$(cat "$DIR/pulseaudio.pid")"
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill "$pid" 2>/dev/null || true
    rm -f "$DIR/pulseaudio.pid"
  fi
  say "stopped ($DIR)"
}

case "$CMD" in
  start) start ;;
  stop) stop ;;
  env) printf 'export HOME=%q XDG_RUNTIME_DIR=%q PULSE_RUNTIME_PATH=%q\n' "$HOME" "$RT" "$RT/pulse" ;;
  *) echo "usage: $0 start|stop|env [DIR]" >&2; exit 2 ;;
esac
