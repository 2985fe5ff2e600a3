# Sourced by run_demo.sh and run_tests.sh: creates .venv on first use and
# installs the project with the known-good dependency set of
# constraints.txt (setup.py itself requires ranges), then activates it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AST_VENV:-$ROOT/.venv}"
bash "$ROOT/scripts/make_venv.sh" "$VENV" "$ROOT/constraints.txt"
# shellcheck disable=SC1091
source "$VENV/bin/activate"
cd "$ROOT"
