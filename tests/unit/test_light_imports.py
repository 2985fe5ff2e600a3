"""The package facade is light: ``import ast_lobes`` loads none of the
heavy libraries, ``ast-tag --help`` answers without torch, and every
public name and every module path of earlier versions still resolves."""

import json
import subprocess
import sys

import pytest

HEAVY = (
    "torch", "speechbrain.core", "timm", "sklearn", "matplotlib",
    "transformers",
)  # fmt: skip


def loaded_after(code):
    """The heavy modules in ``sys.modules`` after running ``code`` in a
    fresh interpreter."""
    probe = (
        f"import sys, json\n{code}\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["ast_lobes", "ast_lobes.audio"])
def test_importing_the_package_loads_no_heavy_library(module):
    assert loaded_after(f"import {module}") == []


def test_the_help_of_ast_tag_loads_no_torch():
    code = (
        "from pretrained_interfaces.tag_cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert loaded_after(code) == []


def test_a_public_name_loads_only_what_it_needs():
    # the fbank needs torch and torchaudio, not the Brain or scikit-learn
    assert loaded_after("import ast_lobes; ast_lobes.KaldiFbank") == ["torch"]


def test_every_public_name_resolves():
    import ast_lobes

    for name in ast_lobes.__all__:
        assert getattr(ast_lobes, name) is not None, name
    assert set(ast_lobes.__all__) <= set(dir(ast_lobes))
    with pytest.raises(AttributeError, match="no attribute 'KaldiFbnak'"):
        ast_lobes.KaldiFbnak  # noqa: B018


def test_module_paths_of_earlier_versions_import_as_their_new_modules():
    import importlib

    from ast_lobes.compat.aliases import MOVED_MODULES

    for old, alias in MOVED_MODULES.items():
        sys.modules.pop(old, None)  # imported before: imported again here
        with pytest.warns(DeprecationWarning, match=alias.removed_in):
            moved = importlib.import_module(old)
        assert moved is importlib.import_module(alias.new)
    with pytest.warns(DeprecationWarning, match="datasets.build_label"):
        from ast_lobes.training.data import build_label_encoder
    from ast_lobes.training.data.datasets import build_label_encoder as new

    assert build_label_encoder is new
