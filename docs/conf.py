"""Sphinx configuration of the documentation site (``bash run_tests.sh``
builds it with warnings as errors; ``python -m sphinx docs docs/_build``
for a local copy)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

project = "ast-lobes"
author = "AST-SpeechBrain contributors"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "myst_parser",
]
autosummary_generate = True
# The package's public names are the facade's lazy attributes: documented
# once, in the modules that define them.
autodoc_default_options = {"members": True, "ignore-module-all": True}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_custom_sections = [("Arguments", "params_style")]
myst_heading_anchors = 3
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
