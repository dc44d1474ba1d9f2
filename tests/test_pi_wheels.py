"""The aarch64 wheel check (scripts/check_pi_wheels.py) judges pip's resolution right.

The check itself needs the package index, so the suite does not run it (``python
scripts/check_pi_wheels.py`` does, and ``scripts/pi-check.sh``); here its verdict is checked on pip
installation reports written in the test.
"""

import importlib.util
import tomllib

from engine_support import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("check_pi_wheels", ROOT / "scripts" / "check_pi_wheels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(*files: str) -> dict:
    def item(f: str) -> dict:
        name = f.split("-")[0]
        return {"download_info": {"url": f"https://files.example/{f}"}, "metadata": {"name": name}}

    return {"install": [item(f) for f in files]}


RUNTIME = (
    "numpy-2.3.5-cp311-cp311-manylinux_2_27_aarch64.whl",
    "ai_edge_litert-2.1.0-cp311-cp311-manylinux_2_27_aarch64.whl",
    "soundfile-0.13.1-py2.py3-none-linux_aarch64.whl",
    "aiomqtt-2.4.0-py3-none-any.whl",
)


def test_a_wheels_only_runtime_passes():
    r = _script().summarise("3.11", _report(*RUNTIME))
    assert r["ok"] and r["error"] is None and r["packages"] == len(RUNTIME) and not r["tensorflow"]


def test_each_problem_fails_with_its_reason():
    check = _script().summarise
    cases = {
        "not a wheel": (*RUNTIME, "soxr-0.5.0.tar.gz"),
        "TensorFlow": (*RUNTIME, "tensorflow-2.21.0-cp311-cp311-manylinux_2_17_aarch64.whl"),
        "pulls in scipy": (*RUNTIME, "scipy-1.16.0-cp311-cp311-manylinux_2_17_aarch64.whl"),
        "no aarch64 ai-edge-litert": tuple(f for f in RUNTIME if not f.startswith("ai_edge")),
    }
    for reason, files in cases.items():
        r = check("3.11", _report(*files))
        assert not r["ok"] and reason in r["error"], (reason, r)


def test_it_checks_the_runtime_dependencies_of_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert _script().runtime_requirements() == deps
    assert any(d.startswith("ai-edge-litert") for d in deps)
