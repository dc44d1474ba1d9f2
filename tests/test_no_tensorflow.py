"""The runtime never imports TensorFlow, Keras, librosa, scipy, scikit-learn or numba: checked with
`python -X importtime` on real commands (the runtime install does not even carry them)."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from engine_support import ROOT, need_model

FORBIDDEN = ("tensorflow", "keras", "tf_keras", "librosa", "scipy", "sklearn", "numba", "llvmlite")


def imported_modules(*argv: str) -> tuple[set[str], subprocess.CompletedProcess]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    mods = {ln.rsplit("|", 1)[-1].strip() for ln in out.stderr.splitlines() if ln.startswith("import time:")}
    return mods, out


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "tone.wav"
    t = np.arange(3 * 16000) / 16000
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    return path


@pytest.mark.parametrize(
    "argv",
    [
        (
            "-c",
            "import voxstream.app, voxstream.cli.run, voxstream.cli.classify, "
            "voxstream.cli.bench, voxstream.audio.sources, voxstream.engine.pipeline",
        ),
        ("-m", "voxstream.cli.main", "run", "--file", "{clip}", "--fast", "--json", "--no-ws", "--no-mqtt"),
        ("-m", "voxstream.cli.main", "classify", "{clip}", "--format", "json"),
    ],
)
def test_runtime_commands_do_not_import_tensorflow(argv, clip):
    """Importing the runtime, `run --file --fast` and `classify` load none of the training-only modules."""
    if len(argv) > 2:
        need_model()
    argv = [a.replace("{clip}", str(clip)) for a in argv]
    mods, out = imported_modules(*argv)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "voxstream.engine.pipeline" in mods or "voxstream.cli.main" in mods  # the probe works
    bad = sorted(m for m in mods if m.split(".")[0] in FORBIDDEN)
    assert not bad, f"runtime imported {bad[:5]}"
