#!/usr/bin/env bash
# The README's main command: a small ESC-50 five-fold demo on the CPU.
# Creates .venv on first use.
source "$(dirname "$0")/scripts/venv.sh"
python recipes/ESC50/demo.py "$@"
