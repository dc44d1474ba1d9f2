"""Installs and runs anywhere: shipped models as package data, a small runtime, a quiet build and start.

The slow test builds the wheel, installs it (with its dependencies) into a
fresh virtual environment outside the checkout and runs the commands from a
temporary directory, as a new user would.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine_support import ROOT, run_cli
from voxstream.errors import ModelError
from voxstream.inference.shipped import DEFAULT_MODEL, resolve_model, shipped_dir, shipped_models

HEAVY = {"librosa", "scipy", "scikit-learn", "sklearn", "numba", "llvmlite", "tensorflow", "tensorflow-cpu", "keras"}
SHIPPED = {
    "voxstream/models/voxstream.tflite",
    "voxstream/models/voxstream.json",
    "voxstream/models/seed.tflite",
    "voxstream/models/seed.json",
    "voxstream/publish/index.html",
    "voxstream/fleet/fleet.html",
    "voxstream/publish/page.js",
    "voxstream/publish/page.css",
}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


@pytest.fixture(scope="module")
def tone(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    t = np.arange(3 * 16000) / 16000
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    return path


def test_runtime_requirements_are_small():
    """pyproject's runtime dependencies name none of librosa, scipy, scikit-learn, numba or TensorFlow."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {_name(d) for d in deps}
    assert "ai-edge-litert" in names and "numpy" in names  # the probe reads the right list
    assert not names & HEAVY, sorted(names & HEAVY)


def test_shipped_names_resolve_inside_the_package(tmp_path, monkeypatch):
    """`voxstream` and `seed` resolve to files of the voxstream.models package, whatever the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "voxstream").mkdir()  # a folder named like the model in the working directory is not the model
    assert {"voxstream", "seed"} <= set(shipped_models())
    for name in ("voxstream", "seed"):
        path = resolve_model(name)
        assert path == shipped_dir() / f"{name}.tflite" and path.is_file() and path.with_suffix(".json").is_file()
    assert resolve_model(DEFAULT_MODEL).name == "voxstream.tflite"


def test_model_paths_are_taken_as_paths(tmp_path, monkeypatch):
    """A path (relative to the working directory or absolute, .tflite or .json) is used as given."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    for suffix in (".tflite", ".json"):
        (tmp_path / "m" / f"mine{suffix}").write_bytes((shipped_dir() / f"seed{suffix}").read_bytes())
    assert resolve_model("m/mine.tflite") == Path("m/mine.tflite")
    assert resolve_model(tmp_path / "m" / "mine.json") == tmp_path / "m" / "mine.json"


@pytest.mark.parametrize(
    "value, expected",
    [
        (
            "nosuch",
            "nosuch: no shipped model of that name; expected one of seed, session_mlp, voxstream",
        ),  # sorted names
        ("models/nosuch.tflite", "models/nosuch.tflite: model not found; expected a .tflite file"),
        ("", "model: empty name"),
    ],
)
def test_bad_model_names_are_one_line_errors(value, expected, tmp_path, monkeypatch):
    """An unknown name or a missing path is one line naming it and what was expected."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError) as err:
        resolve_model(value)
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)


def test_native_stderr_is_restored_after_an_error():
    """fd 2 points where it did before, even when the interpreter creation inside raises."""
    from voxstream.inference.litert import native_stderr

    before = os.fstat(2)
    with pytest.raises(RuntimeError):
        with native_stderr():
            os.write(2, b"ERROR: from C++\n")
            raise RuntimeError("boom")
    after = os.fstat(2)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)


def test_litert_info_line_only_with_debug(tone):
    """LiteRT's XNNPACK INFO line does not reach stderr, except with --debug."""
    quiet = run_cli("classify", str(tone), "--format", "json")
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "XNNPACK" not in quiet.stderr and "INFO: Created" not in quiet.stderr
    debug = run_cli("--debug", "classify", str(tone), "--format", "json")
    assert debug.returncode == 0, debug.stderr[-2000:]
    assert "Created TensorFlow Lite XNNPACK delegate" in debug.stderr  # the probe sees the line when it is there


def _source_copy(dest: Path) -> Path:
    """The checkout's files as a clone would have them (setuptools writes build/ into the tree it builds)."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        if (ROOT / name).is_symlink():  # src/voxstream/models -> ../../models, a link in git too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).symlink_to((ROOT / name).readlink())
        elif (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _build_wheel(out: Path) -> tuple[Path, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # its notice is not ours
    src = _source_copy(out.parent / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return next(out.glob("voxstream-*.whl")), proc.stdout + proc.stderr


def _venv_python(venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    return venv / "bin" / "python"


@pytest.mark.slow  # 10 s on an idle machine, 50 s under load
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path, tone):
    """A wheel built quietly, installed in a fresh venv, runs classify and run --file --fast from another folder."""
    wheel, log = _build_wheel(tmp_path / "dist")
    noise = [ln for ln in log.splitlines() if re.search(r"warning|deprecat", ln, re.I)]
    assert not noise, noise[:10]
    names = set(zipfile.ZipFile(wheel).namelist())
    assert names >= SHIPPED, sorted(SHIPPED - names)
    assert not [n for n in names if n.endswith(".png")]
    python = _venv_python(tmp_path / "venv")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    voxstream = tmp_path / "venv" / "bin" / "voxstream"
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}

    def run(*argv):
        proc = subprocess.run([str(voxstream), *argv], capture_output=True, text=True, timeout=120, cwd=work, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc

    where = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, voxstream.models as p; "
            "print(p.__file__); print('\\n'.join(m.requires('voxstream')))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=work,
        env=env,
        check=True,
    ).stdout
    assert where.startswith(str(tmp_path / "venv")), where
    runtime = {_name(r) for r in where.splitlines()[1:] if "extra ==" not in r}
    assert runtime and not runtime & HEAVY, sorted(runtime & HEAVY)
    installed = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u; print([m for m in "
            "('librosa', 'scipy', 'sklearn', 'numba') if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=work,
        env=env,
    ).stdout.strip()
    assert installed == "[]", f"the runtime install pulled in {installed}"
    classified = json.loads(run("classify", str(tone), "--format", "json").stdout)
    assert classified["file"] == str(tone) and classified["label"]
    events = [
        json.loads(ln)
        for ln in run("run", "--file", str(tone), "--fast", "--json", "--no-ws", "--no-mqtt").stdout.splitlines()
    ]
    assert events and all("label" in e for e in events)
    seed = json.loads(run("classify", str(tone), "--format", "json", "--model", "seed").stdout)
    assert seed["label"]
    config = run("config").stdout
    assert "# config file: none found" in config and 'path = "voxstream"  # default' in config
