# Sourced by run_demo.sh and run_tests.sh: creates .venv on first use and
# installs the project with its pinned dependencies, then activates it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AST_VENV:-$ROOT/.venv}"
STAMP="$VENV/.installed-$(sha1sum "$ROOT/setup.py" | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
  echo "Setting up the virtual environment in $VENV (first run only)..."
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT[test]"
  touch "$STAMP"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
cd "$ROOT"
