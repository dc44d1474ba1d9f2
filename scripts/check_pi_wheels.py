"""Prove the runtime installs on 64-bit Raspberry Pi OS from wheels only.

Resolves the runtime dependencies of pyproject.toml (no extras, so no
TensorFlow) for aarch64 Linux and each Python that Raspberry Pi OS ships or
may ship (3.11 Bookworm, 3.13 Trixie; 3.12 for good measure), with
``--only-binary=:all:``: if any package had no aarch64 wheel, pip would fail.
Pi OS Bookworm has glibc 2.36, so manylinux tags up to 2_28 are all usable.
pip does not widen ``--platform`` to older manylinux tags by itself, hence the
list.  Nothing is installed (``--dry-run``); pip fetches metadata only where
the index publishes it.  It needs the package index, so the test suite checks only
:func:`summarise` (tests/test_pi_wheels.py); ``scripts/pi-check.sh`` and a release run this.

    python scripts/check_pi_wheels.py [--python 3.11 3.12 3.13] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = [
    "manylinux_2_28_aarch64",
    "manylinux_2_27_aarch64",
    "manylinux_2_26_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux2014_aarch64",
    "linux_aarch64",
]


def runtime_requirements() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(data["project"]["dependencies"])


HEAVY = ("librosa", "scipy", "scikit_learn", "scikit-learn", "numba", "llvmlite")
"""Packages of the training side that must not reach the Pi's runtime install."""


def resolve(python_version: str, requirements: list[str]) -> dict:
    """pip's dry-run resolution for aarch64 and ``python_version`` (needs the package index), summarised."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--ignore-installed",
            "--only-binary=:all:",
            "--python-version",
            python_version,
            "--target",
            str(Path(tmp) / "t"),
            "--report",
            str(report),
        ]
        for plat in PLATFORMS:
            cmd += ["--platform", plat]
        proc = subprocess.run(cmd + requirements, capture_output=True, text=True)
        if proc.returncode != 0:
            errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
            return {"python": python_version, "ok": False, "error": " | ".join(errors) or proc.stderr[-500:]}
        return summarise(python_version, json.loads(report.read_text()))


def summarise(python_version: str, report: dict) -> dict:
    """A pip installation report (``pip install --report``) -> the wheels, and whether the install is fit for
    the Pi: wheels only, an aarch64 LiteRT, no TensorFlow and none of :data:`HEAVY`."""
    items = report["install"]
    files = sorted(Path(i["download_info"]["url"]).name for i in items)
    names = {i["metadata"]["name"].lower().replace("_", "-") for i in items}
    tensorflow = any(n.startswith("tensorflow") for n in names)
    heavy = sorted(n for n in names if n in {h.replace("_", "-") for h in HEAVY})
    not_wheels = [f for f in files if not f.endswith(".whl")]
    litert = [f for f in files if f.startswith("ai_edge_litert-") and "aarch64" in f]
    problems = (
        ([f"not a wheel: {', '.join(not_wheels)}"] if not_wheels else [])
        + (["TensorFlow is a runtime dependency"] if tensorflow else [])
        + ([f"the runtime pulls in {', '.join(heavy)}"] if heavy else [])
        + ([] if litert else ["no aarch64 ai-edge-litert wheel"])
    )
    return {
        "python": python_version,
        "ok": not problems,
        "error": "; ".join(problems) or None,
        "packages": len(files),
        "wheels": files,
        "tensorflow": tensorflow,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", nargs="+", default=["3.11", "3.12", "3.13"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [resolve(v, runtime_requirements()) for v in args.python]
    if args.json:
        print(json.dumps(results, indent=2))
    for r in results:
        status = f"ok, {r['packages']} wheels" if r["ok"] else f"FAILED: {r['error']}"
        print(f"aarch64 Python {r['python']}: {status}", file=sys.stderr)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
