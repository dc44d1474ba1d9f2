"""`voxstream run ... --json | head -3`: the reader closing stdout ends the run quietly with exit 0."""

from __future__ import annotations

import json
import subprocess

from engine_support import ROOT, VOXSTREAM, need_model
from fault_support import tone_with_speechlike_bursts


def test_closed_stdout_stops_the_run_quietly(tmp_path):
    """After 3 lines the pipe is closed: exit 0 at once, no "Broken pipe", "Exception ignored" or traceback."""
    need_model()
    clip = tone_with_speechlike_bursts(tmp_path / "tone.wav", 4.0)
    # --loop --duration 600: far more output than a pipe buffers, so the run is still writing when the pipe closes
    proc = subprocess.Popen(
        [
            *VOXSTREAM,
            "run",
            "--file",
            str(clip),
            "--fast",
            "--loop",
            "--duration",
            "600",
            "--json",
            "--no-ws",
            "--no-mqtt",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        proc.stdout.close()  # what `head -3` does after its third line
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert [json.loads(line)["seq"] for line in lines] == [0, 1, 2]
    assert proc.returncode == 0, stderr[-2000:]
    for noise in ("Broken pipe", "BrokenPipeError", "Exception ignored", "Traceback", " ERROR "):
        assert noise not in stderr, stderr[-2000:]
    stopped = [line for line in stderr.splitlines() if "stopped:" in line]
    events = int(stopped[0].split("stopped: ")[1].split()[0])
    assert events < 2000, f"the run went on after stdout closed ({events} events)"
