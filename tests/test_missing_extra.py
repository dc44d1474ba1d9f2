"""`voxstream train`, `eval` and `plot` in an install without the train extra: one line naming it, exit 2.

The missing library is simulated inside a child process (``sys.modules[name] = None``, Python's documented
way to make an import fail with ModuleNotFoundError and ``find_spec`` say "not found"); nothing is uninstalled.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

WRAPPER = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from voxstream.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def _run(blocked: str, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXSTREAM_")}
    if cwd is not None:
        env["XDG_CONFIG_HOME"] = str(cwd)
    return subprocess.run(
        [sys.executable, "-c", WRAPPER, blocked, *argv], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


@pytest.mark.parametrize(
    "command, blocked",
    [
        ("eval", "pandas"),
        ("train", "pandas"),
        ("plot", "pandas"),
        ("train", "tensorflow"),
        ("eval", "sklearn"),
        ("plot", "librosa"),
        ("plot", "matplotlib"),
    ],
)
def test_missing_library_is_one_line_naming_the_extra(tmp_path, command, blocked):
    """Before any work, the command names the extra and the library that is missing, without a traceback."""
    out = tmp_path / "out"
    r = _run(blocked, command, "--data", str(tmp_path), "--out", str(out))
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        f"voxstream: error: voxstream {command} needs the train extra ({blocked} is not installed): "
        "pip install 'voxstream[train]'"
    ], r.stderr
    assert r.stdout == ""
    assert not out.exists()


def test_library_failing_later_is_reported_the_same_way(tmp_path):
    """A library of the extra that is found but fails to import while the command runs (here pandas without
    its core) gives the same one line."""
    r = _run("pandas.core", "eval", "--data", str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        "voxstream: error: voxstream eval needs the train extra (pandas is not installed): "
        "pip install 'voxstream[train]'"
    ], r.stderr


def test_a_missing_module_of_voxstream_itself_is_not_blamed_on_the_extra(tmp_path):
    """A broken voxstream install is not reported as a missing extra (its traceback is shown as it is)."""
    r = _run("voxstream.train.evaluate", "eval", "--data", str(tmp_path))
    assert r.returncode == 1
    assert "train extra" not in r.stderr
    assert "ModuleNotFoundError" in r.stderr


def test_commands_without_an_extra_are_not_checked(tmp_path):
    """`voxstream config` runs with the train extra's libraries all missing."""
    r = _run("pandas,tensorflow,sklearn,matplotlib,librosa", "config", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "[mqtt]" in r.stdout
