"""Runs a recipe script as ``python script.py ARGS`` would, in this
process (no interpreter start-up), for refusals that stop before any
training."""

import logging
import runpy
import subprocess
import sys


def exit_status_of(script, argv, monkeypatch):
    """The exit status of ``script`` run as ``__main__`` with ``argv``
    (0 when it ends without ``sys.exit``).

    What the run set up for the process it stands for is taken down after
    it: SpeechBrain's experiment folder replaces the root logger's
    handlers with its own (a file handler on the run's ``log.txt``, a
    console handler on this test's captured output) and the exception
    hook; left in place, a later test in this process would log into a
    deleted folder and a closed stream, and read the old ``log.txt`` as
    its own run's.
    """
    monkeypatch.setattr(sys, "argv", [script, *map(str, argv)])
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        runpy.run_path(script, run_name="__main__")
        code = 0  # ended without sys.exit
    except SystemExit as stopped:
        code = 0 if stopped.code is None else stopped.code
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
    return code


def run_in_process(script, argv, monkeypatch, capsys):
    """``script`` run with ``argv`` as ``exit_status_of`` runs it, with
    what it printed: the ``subprocess.CompletedProcess`` that
    ``subprocess.run([python, script, *argv], capture_output=True,
    text=True)`` gives, without a new interpreter's start-up (its
    imports: seconds a run), for runs refused before they train."""
    capsys.readouterr()  # what came before is not the run's
    code = exit_status_of(script, argv, monkeypatch)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess([script, *map(str, argv)], code, out,
                                       err)  # fmt: skip
