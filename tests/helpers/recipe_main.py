"""Runs a recipe script as ``python script.py ARGS`` would, in this
process (no interpreter start-up), for refusals that stop before any
training."""

import runpy
import sys

import pytest


def exit_status_of(script, argv, monkeypatch):
    """The exit status of ``script`` run as ``__main__`` with ``argv``."""
    monkeypatch.setattr(sys, "argv", [script, *map(str, argv)])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(script, run_name="__main__")
    return stopped.value.code
