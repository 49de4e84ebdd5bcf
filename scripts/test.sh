#!/usr/bin/env bash
# The README's test command: set up, lint and type-check, then run every test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/bootstrap.sh"
cd "$root"
echo "ruff: checking CPython code (lint and format)" >&2
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
echo "mypy: checking types (pyproject.toml [tool.mypy])" >&2
.venv/bin/mypy
exec .venv/bin/python -m pytest -n 2 "$@"
