#!/usr/bin/env bash
# Prove the Raspberry Pi install on an emulated arm64 Debian bookworm (what 64-bit Raspberry Pi OS is built on).
#   sudo scripts/pi-check.sh [--tests-only | --no-tests] [ROOT_DIR]
#                                           (ROOT_DIR default /var/tmp/voxstream-pi-root; kept and reused between runs)
# Builds the root with debootstrap + qemu-user-static (aarch64 registered with binfmt_misc), copies this checkout
# (tracked and new files, as `git clone` of the commit about to be made would give) to /opt/voxstream inside,
# follows the README's Raspberry Pi steps (apt-get install git; bash scripts/setup.sh run), then runs
# `voxstream classify`, `voxstream run --file` publishing to a mosquitto inside the root, and `voxstream bench`.
# Then the numeric engine tests (features, gate, normalizer, smoother, resampler, property tests; none needs
# mosquitto, PulseAudio, Chromium or TensorFlow) run inside the root with pytest, from a second venv
# (/opt/voxstream-tests-venv: voxstream + librosa, scipy, pytest, pytest-timeout, pytest-asyncio, hypothesis at
# the dev extra's versions, aarch64 wheels only), so the runtime .venv reported above holds the runtime alone.
# Default: everything. --tests-only: the root, the set-up and the tests, without classify/run/bench.
# --no-tests: the runtime checks alone. CI is not set inside (tests/ci_skips.py: skips stay allowed, listed).
# The per-test timeout is raised to PI_CHECK_TEST_TIMEOUT (default 1200 s) for the emulation's slowness.
# Reports: whether every dependency came as an aarch64 (or pure-Python) wheel, nothing built from source, the
# .venv size, and timings. All timings are EMULATED (QEMU user mode on this host's CPU), not Raspberry Pi figures.
# Under QEMU user mode LiteRT reads the host's x86 /proc/cpuinfo and segfaults; a Raspberry Pi 4 cpuinfo is
# bind-mounted over it. Takes about 15-20 minutes the first time (root + set-up + tests), about 11 when the root
# exists.
# Not part of the test suite.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { echo "[pi-check] $*" >&2; }
RUNTIME=1 TESTS=1 ARGS=()
for a in "$@"; do
  case "$a" in
    --tests-only) RUNTIME=0 ;;
    --no-tests) TESTS=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
    -*) say "unknown option $a (--tests-only, --no-tests)"; exit 2 ;;
    *) ARGS+=("$a") ;;
  esac
done
((RUNTIME + TESTS)) || { say "--tests-only and --no-tests leave nothing to do"; exit 2; }
ROOTFS="${ARGS[0]:-/var/tmp/voxstream-pi-root}"
MIRROR="${PI_CHECK_MIRROR:-http://deb.debian.org/debian}"
TEST_TIMEOUT="${PI_CHECK_TEST_TIMEOUT:-1200}"
TEST_FILES=(tests/test_features.py tests/test_features_dstd.py tests/test_features_prosody.py
            tests/test_features_seq.py tests/test_gate_ring.py tests/test_gate.py tests/test_normalize.py
            tests/test_smoother.py tests/test_resample.py tests/test_property.py)
[ "$(id -u)" -eq 0 ] || { say "needs root (debootstrap, chroot, mount)"; exit 2; }

# 1. host tools and the aarch64 handler
need=()
for p in qemu-user-static binfmt-support debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq "${need[@]}" >/dev/null
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { say "could not register qemu-aarch64 with binfmt_misc"; exit 1; }

# 2. the root (Debian bookworm arm64, minimal)
if [ ! -f "$ROOTFS/.pi-check-root" ]; then
  say "building the arm64 bookworm root in $ROOTFS (debootstrap, a few minutes)"
  rm -rf "$ROOTFS"
  t0=$SECONDS
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.debootstrap.log" 2>&1 \
    || { say "debootstrap failed; see $ROOTFS.debootstrap.log"; tail -5 "$ROOTFS.debootstrap.log" >&2; exit 1; }
  echo "$((SECONDS - t0))" > "$ROOTFS/.pi-check-root"
fi
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
# no daemons started by package scripts inside the root (it shares this host's network: port 1883 stays free)
printf '#!/bin/sh\nexit 101\n' > "$ROOTFS/usr/sbin/policy-rc.d" && chmod +x "$ROOTFS/usr/sbin/policy-rc.d"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then  # a host behind a TLS-inspecting proxy
  cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
fi

# 3. a Raspberry Pi 4's /proc/cpuinfo, and the mounts (undone on exit)
CPUINFO="$ROOTFS.cpuinfo-pi4"
: > "$CPUINFO"
for i in 0 1 2 3; do
  printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n' "$i"
  printf 'CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
done >> "$CPUINFO"
printf 'Hardware\t: BCM2835\nRevision\t: b03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n' >> "$CPUINFO"
MOUNTS=()
cleanup() {
  [ -n "${MQTT_PID_FILE:-}" ] && [ -s "$MQTT_PID_FILE" ] && kill "$(cat "$MQTT_PID_FILE")" 2>/dev/null || true
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() { mount "$@"; MOUNTS+=("${@: -1}"); }
bind -t proc proc "$ROOTFS/proc"
bind --bind "$CPUINFO" "$ROOTFS/proc/cpuinfo"
bind --rbind /sys "$ROOTFS/sys"; mount --make-rslave "$ROOTFS/sys"
bind --bind /dev "$ROOTFS/dev"
bind --bind /dev/pts "$ROOTFS/dev/pts"
CHROOT=(chroot "$ROOTFS" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 QEMU_CPU=cortex-a72)
inside() { "${CHROOT[@]}" bash -c "$1"; }
[ "$(inside 'python3 -c "import platform; print(platform.machine())"')" = aarch64 ] \
  || { say "the root does not run as aarch64"; exit 1; }
compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null && inside 'update-ca-certificates >/dev/null 2>&1'

# 4. the checkout, as `git clone` of the tree about to be committed gives it (no .venv, no caches); symlinks
# stay symlinks (src/voxstream/models -> ../../models: the shipped models as package data); files deleted in
# the working tree are left out
say "copying the checkout to /opt/voxstream (fresh: no .venv)"
rm -rf "$ROOTFS/opt/voxstream" "$ROOTFS/root/.cache/pip"
mkdir -p "$ROOTFS/opt/voxstream"
(cd "$HERE" && git ls-files -z --cached --others --exclude-standard \
   | while IFS= read -r -d '' f; do { [ -f "$f" ] || [ -L "$f" ]; } && printf '%s\0' "$f"; done \
   | tar --null -T - -cf -) | tar -xf - -C "$ROOTFS/opt/voxstream"

# 5. the README's Raspberry Pi steps (as root, so no sudo), timed
say "README step 2: apt-get install git; bash scripts/setup.sh run (emulated; several minutes)"
t0=$SECONDS
inside 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq git >/dev/null'
SETUP_LOG="$ROOTFS.setup.log"
inside 'cd /opt/voxstream && bash scripts/setup.sh run' 2>&1 | tee "$SETUP_LOG" >&2
SETUP_S=$((SECONDS - t0))

# 6. what was installed
REPORT="$ROOTFS.report.txt"
inside 'cd /opt/voxstream && .venv/bin/python - <<"EOF"
import glob, os, subprocess
site = glob.glob(".venv/lib/python3*/site-packages")[0]
tags = {}
for wheel in glob.glob(f"{site}/*.dist-info/WHEEL"):
    name = os.path.basename(os.path.dirname(wheel))[: -len(".dist-info")]
    tags[name] = [ln.split(":", 1)[1].strip() for ln in open(wheel) if ln.startswith("Tag:")]
binary = {n: t for n, t in tags.items() if not all(x.endswith("-any") for x in t)}
bad = {n: t for n, t in binary.items() if not any("aarch64" in x and "manylinux" in x for x in t)}
built = [f for f in glob.glob("/root/.cache/pip/wheels/**/*.whl", recursive=True)]
heavy = [m for m in ("librosa", "scipy", "sklearn", "numba", "llvmlite", "tensorflow")
         if os.path.isdir(f"{site}/{m}")]
size = subprocess.run(["du", "-sm", ".venv"], capture_output=True, text=True).stdout.split()[0]
print(f"distributions installed: {len(tags)} ({len(binary)} with compiled code, {len(tags) - len(binary)} pure Python)")
for n, t in sorted(binary.items()):
    print(f"  {n}: {t[0]}")
print("every compiled dependency came as a manylinux aarch64 wheel:", "yes" if not bad else f"NO {bad}")
print("wheels built from source on the machine:", ", ".join(os.path.basename(b) for b in built) or "none")
print("librosa/scipy/scikit-learn/numba/TensorFlow in the runtime .venv:", ", ".join(heavy) or "none")
print(f".venv size: {size} MB (du -sm .venv)")
EOF' | tee "$REPORT"

# 7. the commands (audio made inside with espeak-ng; same file classified on this host for comparison)
PI_LABEL=- HOST_LABEL=- RUN_RC=- RUN_EVENTS=- MQTT_EMOTION=- MQTT_DISCOVERY=- CLASSIFY_S=- BENCH_S=-
if ((RUNTIME)); then
inside 'cd /tmp && espeak-ng -w pi-speech.wav "I am so angry about this, it is completely unacceptable. What a lovely surprise, I am so happy today." && espeak-ng -w pi-short.wav "Hello there"'
timed() { local t0; t0=$(date +%s.%N); inside "$1"; python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)"; }
say "classify (emulated)"
CLS_OUT="$ROOTFS.classify.out"
CLASSIFY_S=$(timed 'cd /tmp && /opt/voxstream/.venv/bin/voxstream classify pi-speech.wav --format json > /tmp/pi-classify.json 2>/tmp/pi-classify.err; echo $? > /tmp/pi-classify.rc' | tail -1)
cp "$ROOTFS/tmp/pi-classify.json" "$CLS_OUT"
PI_LABEL=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['label'])" "$CLS_OUT" 2>/dev/null \
  || { say "classify failed: $(tail -3 "$ROOTFS/tmp/pi-classify.err")"; echo "FAILED"; })
HOST_LABEL=$( (cd /tmp && "$HERE/.venv/bin/voxstream" classify "$ROOTFS/tmp/pi-speech.wav" --format json 2>/dev/null) \
  | python3 -c "import json,sys; print(json.load(sys.stdin)['label'])" || echo "?")

say "run --file with MQTT to a mosquitto inside the root (emulated)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MQTT_PID_FILE="$ROOTFS.mosquitto.pid"
inside "printf 'listener $PORT 127.0.0.1\nallow_anonymous true\npersistence false\n' > /tmp/pi-mosq.conf"
"${CHROOT[@]}" mosquitto -c /tmp/pi-mosq.conf >/dev/null 2>&1 &  # chroot and env exec: $! is mosquitto
echo $! > "$MQTT_PID_FILE"
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.2; done
inside "timeout 120 mosquitto_sub -p $PORT -t 'voxstream/#' -t 'homeassistant/#' -v > /tmp/pi-mqtt.txt & sleep 2;
        cd /tmp && /opt/voxstream/.venv/bin/voxstream run --file pi-speech.wav --json --ws-port 0 \
          --mqtt-port $PORT --node picheck > /tmp/pi-run.jsonl 2>/tmp/pi-run.err; echo \$? > /tmp/pi-run.rc;
        sleep 2; kill \$! 2>/dev/null; true"
RUN_RC=$(cat "$ROOTFS/tmp/pi-run.rc")
RUN_EVENTS=$(wc -l < "$ROOTFS/tmp/pi-run.jsonl")
MQTT_EMOTION=$(grep -c '^voxstream/picheck/emotion ' "$ROOTFS/tmp/pi-mqtt.txt" || true)
MQTT_DISCOVERY=$(grep -c '^homeassistant/' "$ROOTFS/tmp/pi-mqtt.txt" || true)
kill "$(cat "$MQTT_PID_FILE")" 2>/dev/null || true

say "bench (emulated; a few minutes)"
BENCH_S=$(timed 'cd /tmp && /opt/voxstream/.venv/bin/voxstream bench --hops 300 --run-seconds 6 --fast-seconds 60 --repeats 1 > /tmp/pi-bench.json 2>/tmp/pi-bench.err; echo $? > /tmp/pi-bench.rc' | tail -1)
[ "$(cat "$ROOTFS/tmp/pi-bench.rc")" = 0 ] || say "bench failed: $(tail -3 "$ROOTFS/tmp/pi-bench.err")"
cp "$ROOTFS/tmp/pi-bench.json" "$ROOTFS.bench.json"
fi

# 8. the numeric engine tests, from a second venv (the runtime .venv above stays as reported)
TEST_LINE="not run (--no-tests)" TEST_RC=0 TEST_S=-
if ((TESTS)); then
  say "numeric engine tests: a second venv with the dev extra's test tools, then pytest (emulated; several minutes)"
  t0=$SECONDS
  TEST_LOG="$ROOTFS.pytest.log"
  # the test tools at the versions of pyproject.toml's dev extra; --only-binary: a missing aarch64 wheel fails
  # here instead of compiling for half an hour under QEMU
  TEST_REQS=$(python3 - "$HERE/pyproject.toml" <<'EOF'
import sys, tomllib
want = {"librosa", "scipy", "pytest", "pytest-asyncio", "pytest-timeout", "hypothesis"}
dev = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["dev"]
reqs = [r.replace(" ", "") for r in dev if r.split(">")[0].split("<")[0].split("=")[0].strip() in want]
assert len(reqs) == len(want), reqs
print(" ".join(f"'{r}'" for r in reqs))
EOF
)
  say "test tools: $TEST_REQS"
  inside "cd /opt/voxstream && rm -rf /opt/voxstream-tests-venv && python3 -m venv /opt/voxstream-tests-venv &&
    PIP='/opt/voxstream-tests-venv/bin/python -m pip install -q --disable-pip-version-check' &&
    \$PIP --upgrade pip && \$PIP --only-binary=:all: $TEST_REQS &&
    PYTHONWARNINGS='ignore:Editable installation' \$PIP -e ." 2>&1 | tee "$TEST_LOG" >&2 \
    || { say "could not install the test venv (see $TEST_LOG)"; TEST_RC=1; }
  if [ "$TEST_RC" = 0 ]; then
    set +e
    inside "cd /opt/voxstream && /opt/voxstream-tests-venv/bin/python -m pytest -q -p no:cacheprovider \
      -o timeout=$TEST_TIMEOUT ${TEST_FILES[*]}" 2>&1 | tee -a "$TEST_LOG" >&2
    TEST_RC=${PIPESTATUS[0]}
    set -e
  fi
  TEST_S=$((SECONDS - t0))
  TEST_LINE=$(grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|error)|^(=+ )?no tests ran' "$TEST_LOG" | tail -1 \
    | sed -E 's/^=+ //; s/ =+$//' || true)
  [ -n "$TEST_LINE" ] || TEST_LINE="no pytest result (exit $TEST_RC; see $TEST_LOG)"
fi

{
  echo "== voxstream pi-check: Debian bookworm arm64 under QEMU user mode (qemu-aarch64, cortex-a72) on $(uname -m) =="
  echo "ALL TIMINGS ARE EMULATED ON THIS HOST, NOT RASPBERRY PI FIGURES."
  inside 'python3 --version; . /etc/os-release; echo "$PRETTY_NAME, $(uname -m) userland"'
  cat "$REPORT"
  echo "README step 2 (apt-get install git; scripts/setup.sh run): ${SETUP_S} s emulated"
  echo "setup.sh output: $(wc -l < "$SETUP_LOG") lines: $(tr '\n' '|' < "$SETUP_LOG")"
  if ((RUNTIME)); then
  echo "classify: label $PI_LABEL (this host, x86: $HOST_LABEL), ${CLASSIFY_S} s wall emulated (start-up included)"
  echo "run --file (paced) with MQTT: exit $RUN_RC, $RUN_EVENTS events on stdout, $MQTT_EMOTION on voxstream/picheck/emotion, $MQTT_DISCOVERY discovery configs"
  python3 - "$ROOTFS.bench.json" "$BENCH_S" <<'EOF' || echo "bench: no result (see $ROOTFS/tmp/pi-bench.err)"
import json, sys
b = json.load(open(sys.argv[1]))
print(f"bench ({sys.argv[2]} s wall, emulated): per-hop p50 {b['per_hop_ms']['p50']} ms, model p50 {b['model_ms']['p50']} ms, "
      f"rss peak {b['rss_peak_mb']} MB, startup {b['startup_s']} s, --fast {b['fast_x_realtime']}x real time, "
      f"first label beyond window {b['first_label_beyond_window_s']} s; machine {b['machine']['arch']}")
EOF
  else
    echo "classify, run --file, bench: not run (--tests-only)"
  fi
  echo "numeric engine tests (pytest -q -p no:cacheprovider -o timeout=$TEST_TIMEOUT ${TEST_FILES[*]}," \
       "second venv, CI unset): $TEST_LINE; ${TEST_S} s wall emulated (venv install included)"
} | tee "$ROOTFS.summary.txt"
ok=1
grep -q "manylinux aarch64 wheel: yes" "$REPORT" || ok=0
grep -q "built from source on the machine: none" "$REPORT" || ok=0
grep -q "TensorFlow in the runtime .venv: none" "$REPORT" || ok=0
if ((RUNTIME)); then
  [ "$RUN_RC" = 0 ] && [ "$RUN_EVENTS" -gt 0 ] && [ "$MQTT_EMOTION" -gt 0 ] || ok=0
  [ "$PI_LABEL" != FAILED ] && [ "$(cat "$ROOTFS/tmp/pi-bench.rc")" = 0 ] || ok=0
  [ "$PI_LABEL" = "$HOST_LABEL" ] || say "note: label differs from this host's"
fi
[ "$TEST_RC" = 0 ] || { say "numeric engine tests failed (exit $TEST_RC; see $ROOTFS.pytest.log)"; ok=0; }
say "summary in $ROOTFS.summary.txt ($SECONDS s in all)"
[ "$ok" = 1 ] && say "OK" || { say "FAILED (see above)"; exit 1; }
