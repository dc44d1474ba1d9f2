#!/usr/bin/env bash
# Run `voxstream bench` twice, unpinned and pinned to CPU 0 (`taskset -c 0`, a stand-in for one Pi core),
# write bench/results.json and print a Markdown table.  Extra arguments go to both `voxstream bench` runs.
#
#   bench/run_bench.sh                      # full bench (about 2 x 1.5 minutes)
#   MAX_LOAD=2.5 WAIT_S=600 bench/run_bench.sh --data /path/to/clips
#
# Waits up to WAIT_S seconds for the 1-minute load average to fall below MAX_LOAD; either way the load
# at the start and end of each run is recorded in the JSON and the table.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${OUT:-bench/results.json}
MAX_LOAD=${MAX_LOAD:-2.5}
WAIT_S=${WAIT_S:-300}

load1() { cut -d' ' -f1 /proc/loadavg; }
waited=0
while awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l >= m) }' && [ "$waited" -lt "$WAIT_S" ]; do
    [ "$waited" -eq 0 ] && echo "load $(load1) >= $MAX_LOAD: waiting up to ${WAIT_S} s for a quieter machine" >&2
    sleep 15
    waited=$((waited + 15))
done
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "+ $PY -m voxstream.cli.main bench $*" >&2
"$PY" -m voxstream.cli.main bench "$@" > "$tmp/unpinned.json"
echo "+ taskset -c 0 $PY -m voxstream.cli.main bench $*" >&2
taskset -c 0 "$PY" -m voxstream.cli.main bench "$@" > "$tmp/pinned.json"
if "$PY" -c 'import tensorflow, librosa' 2>/dev/null; then
    for f in "$tmp/unpinned.json" "$tmp/pinned.json"; do "$PY" bench/seed_way.py "$f"; done
else
    echo "no TensorFlow/librosa (train extra): seed-way rows are n/a" >&2
fi
"$PY" bench/report.py "unpinned (2 cores)=$tmp/unpinned.json" "taskset -c 0 (1 core)=$tmp/pinned.json" --out "$OUT"
echo "wrote $OUT" >&2
