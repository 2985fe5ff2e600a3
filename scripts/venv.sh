# Sourced by run_demo.sh and run_tests.sh: creates .venv on first use and
# installs the project with the known-good dependency set of
# constraints.txt (setup.py itself requires ranges), then activates it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AST_VENV:-$ROOT/.venv}"
STAMP="$VENV/.installed-$(cat "$ROOT/setup.py" "$ROOT/constraints.txt" \
  | sha1sum | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
  echo "Setting up the virtual environment in $VENV (first run only)..."
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT[test]" \
    -c "$ROOT/constraints.txt"
  touch "$STAMP"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
cd "$ROOT"
