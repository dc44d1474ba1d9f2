#!/usr/bin/env bash
# One command: set everything up, lint and type-check, then run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh test
# Lint and types first (a few seconds): the config is pyproject.toml's [tool.ruff] and [tool.mypy].
if ! .venv/bin/ruff check src tests bench scripts; then
  echo "ruff check failed (src tests bench scripts): fix the lines above; failing" >&2; exit 1
fi
if ! .venv/bin/ruff format --check src tests bench scripts; then
  echo "ruff format: the files above are not formatted (.venv/bin/ruff format src tests bench scripts); failing" >&2
  exit 1
fi
if ! .venv/bin/mypy; then
  echo "mypy failed (src/voxstream): fix the errors above; failing" >&2; exit 1
fi
set +e
.venv/bin/python -m pytest -q -rs "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit "$rc"
