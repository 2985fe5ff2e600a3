#!/usr/bin/env bash
# Runs the whole test suite: lint (ruff, yamllint), the layer contract
# (import-linter), unit tests, doctests and the recipe smoke tests.
# Creates .venv on first use.
source "$(dirname "$0")/scripts/venv.sh"
ruff check .
ruff format --check .
yamllint -s .
lint-imports
python -m pytest -q "$@"
