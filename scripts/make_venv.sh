#!/usr/bin/env bash
# Usage: bash scripts/make_venv.sh [--checkout-on-path] VENV CONSTRAINTS...
# Creates the virtual environment VENV with the project's requirements and
# test extras under the given constraints files (the first file naming a
# package wins), once per content of setup.py and those files. The project
# itself is installed editable, or with --checkout-on-path only put on the
# path (a .pth file), which writes nothing into the checkout, so that two
# environments can be set up at once.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EDITABLE=1
if [ "${1:-}" = "--checkout-on-path" ]; then
  EDITABLE=0
  shift
fi
VENV="$1"
shift
STAMP="$VENV/.installed-$(cat "$ROOT/setup.py" "$@" | sha1sum | cut -c1-12)"
# PyPI's x86_64 torch is a CUDA build: an environment takes 6.5-7 GB
NEED_GB="${AST_VENV_DISK_GB:-8}"
if [ ! -f "$STAMP" ]; then
  PARENT="$(dirname "$VENV")"
  mkdir -p "$PARENT"
  FREE_GB="$(df -Pk "$PARENT" | awk 'NR == 2 {print int($4 / 1048576)}')"
  if [ "$FREE_GB" -lt "$NEED_GB" ]; then
    echo "make_venv.sh: $VENV needs about $NEED_GB GB of disk;" \
      "$PARENT has $FREE_GB GB free" >&2
    exit 1
  fi
  echo "Setting up the virtual environment in $VENV (first run only)..."
  python3 -m venv "$VENV"
  awk -F'==' '/^[[:space:]]*(#|$)/ {next} !($1 in seen) {seen[$1]; print}' \
    "$@" > "$VENV/constraints.txt"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  if [ "$EDITABLE" = 1 ]; then
    "$VENV/bin/python" -m pip install -q -e "$ROOT[test]" \
      -c "$VENV/constraints.txt"
  else
    python3 "$ROOT/scripts/requirements.py" test > "$VENV/requirements.txt"
    "$VENV/bin/python" -m pip install -q -r "$VENV/requirements.txt" \
      -c "$VENV/constraints.txt"
    SITE="$("$VENV/bin/python" -c \
      'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$ROOT" > "$SITE/ast_lobes_checkout.pth"
  fi
  touch "$STAMP"
fi
