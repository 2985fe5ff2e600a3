#!/usr/bin/env bash
# Runs the whole test suite: lint (ruff, yamllint), the layer contracts
# (import-linter), the wheel installed outside the checkout, the
# documentation site (Sphinx, warnings as errors), unit tests, doctests
# and the recipe smoke tests.
# Creates .venv on first use.
source "$(dirname "$0")/scripts/venv.sh"
ruff check .
ruff format --check .
yamllint -s .
lint-imports
bash scripts/check_wheel.sh
python -m sphinx -W --keep-going -q -b html docs docs/_build
python -m pytest -q "$@"
