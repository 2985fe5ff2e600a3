#!/usr/bin/env bash
# Runs the whole test suite: lint (ruff, yamllint), the layer contracts
# (import-linter), the wheel installed outside the checkout, the
# documentation site (Sphinx, warnings as errors), unit tests, doctests
# and the recipe smoke tests in the known-good set (constraints.txt), then
# the unit and parity tests in the oldest supported set
# (constraints-oldest.txt), installed meanwhile.
# Creates .venv and .venv-oldest on first use.
HERE="$(cd "$(dirname "$0")" && pwd)"
OLDEST="${AST_OLDEST_VENV:-$HERE/.venv-oldest}"
OLDEST_LOG="$(mktemp)"
# pip uses one core: the two set-ups overlap, before the tests need both
bash "$HERE/scripts/make_venv.sh" --checkout-on-path "$OLDEST" \
  "$HERE/constraints-oldest.txt" "$HERE/constraints.txt" \
  > "$OLDEST_LOG" 2>&1 &
OLDEST_INSTALL=$!
trap 'kill "$OLDEST_INSTALL" 2> /dev/null || true; rm -f "$OLDEST_LOG"' EXIT
source "$HERE/scripts/venv.sh"
ruff check .
ruff format --check .
yamllint -s .
lint-imports
bash scripts/check_wheel.sh
python -m sphinx -W --keep-going -q -b html docs docs/_build
# two test processes (pytest-xdist) of one thread each: most tests are
# Python start-up and small models, which one core runs as fast as two
WORKERS=(-n "${AST_TEST_WORKERS:-2}")
python -m pytest -q "${WORKERS[@]}" "$@"
if ! wait "$OLDEST_INSTALL"; then
  grep -v "^WARNING: Location" "$OLDEST_LOG" >&2
  echo "run_tests.sh: could not install the oldest supported set in" \
    "$OLDEST (constraints-oldest.txt)" >&2
  exit 1
fi
echo "The unit and parity tests in the oldest supported set" \
  "(constraints-oldest.txt, in $OLDEST):"
"$OLDEST/bin/python" -m pytest -q "${WORKERS[@]}" -m "not recipe" "$@"
