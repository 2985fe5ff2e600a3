#!/usr/bin/env bash
# Runs the whole test suite: lint (ruff, yamllint), unit tests, doctests and
# the recipe smoke tests. Creates .venv on first use.
source "$(dirname "$0")/scripts/venv.sh"
ruff check .
ruff format --check .
yamllint -s .
python -m pytest -q "$@"
