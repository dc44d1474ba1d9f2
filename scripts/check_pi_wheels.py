"""Prove the runtime installs on 64-bit Raspberry Pi OS from wheels only.

Resolves the runtime dependencies of pyproject.toml (no extras, so no
TensorFlow) for aarch64 Linux and each Python that Raspberry Pi OS ships or
may ship (3.11 Bookworm, 3.13 Trixie; 3.12 for good measure), with
``--only-binary=:all:``: if any package had no aarch64 wheel, pip would fail.
Pi OS Bookworm has glibc 2.36, so manylinux tags up to 2_28 are all usable.
pip does not widen ``--platform`` to older manylinux tags by itself, hence the
list.  Nothing is installed (``--dry-run``); pip fetches metadata only where
the index publishes it.

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
PLATFORMS = ["manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_26_aarch64",
             "manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64"]


def runtime_requirements() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(data["project"]["dependencies"])


def resolve(python_version: str, requirements: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
               "--only-binary=:all:", "--python-version", python_version, "--target", str(Path(tmp) / "t"),
               "--report", str(report)]
        for plat in PLATFORMS:
            cmd += ["--platform", plat]
        proc = subprocess.run(cmd + requirements, capture_output=True, text=True)
        if proc.returncode != 0:
            errors = [l for l in proc.stderr.splitlines() if l.startswith("ERROR")]
            return {"python": python_version, "ok": False, "error": " | ".join(errors) or proc.stderr[-500:]}
        items = json.loads(report.read_text())["install"]
        wheels = sorted(Path(i["download_info"]["url"]).name for i in items)
        names = {i["metadata"]["name"].lower() for i in items}
        return {"python": python_version, "ok": True, "packages": len(wheels), "wheels": wheels,
                "tensorflow": any(n.startswith("tensorflow") for n in names)}


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
    return 0 if all(r["ok"] and not r["tensorflow"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
