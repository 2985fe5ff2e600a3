"""Compatibility: every name, argument, option and module path kept for
code and model folders of earlier versions, each with the release it goes
away in.

``aliases`` holds the tables (standard library only, so every layer and
``import ast_lobes`` read it); ``exports`` reads model folders exported
with a ``hyperparams.yaml`` and ``.ckpt`` files but no ``model.json``.
To drop an alias in a release, delete its entry and the code that reads
it (search for the entry's name)."""
