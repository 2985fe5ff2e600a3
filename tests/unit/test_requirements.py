"""The package requires ranges, so that it installs beside a user's
SpeechBrain, and the known-good set the README's commands install lies
inside them."""

import ast
import os
import subprocess

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def setup_lists():
    """The requirement lists assigned at the top of setup.py."""
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    lists = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
            name = node.targets[0].id
            lists[name] = [
                element.value
                for element in node.value.elts
                if isinstance(element, ast.Constant)
            ]
    return lists


def constraints(name="constraints.txt"):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        rows = [line.split("#")[0].strip() for line in f]
    return dict(row.split("==") for row in rows if row)


def test_install_requires_are_ranges_not_pins():
    required = [Requirement(r) for r in setup_lists()["INSTALL_REQUIRES"]]
    names = {r.name for r in required}
    assert {"torch", "torchaudio", "speechbrain", "numpy"} <= names
    for requirement in required:
        operators = {spec.operator for spec in requirement.specifier}
        assert "==" not in operators, requirement
        assert {">=", "<"} <= operators, requirement  # tested .. next major


def test_the_known_good_set_lies_inside_the_ranges():
    pinned = constraints()
    for name, entries in setup_lists().items():
        for text in entries:
            requirement = Requirement(text)
            assert requirement.name in pinned, (name, requirement.name)
            assert requirement.specifier.contains(pinned[requirement.name]), (
                requirement,
                pinned[requirement.name],
            )


def test_the_lower_bounds_are_the_oldest_set_tested():
    """Each lower bound is the version run_tests.sh tests: the oldest set's
    where constraints-oldest.txt names the package, else the pinned one."""
    oldest = constraints("constraints-oldest.txt")
    tested = {**constraints(), **oldest}
    assert {"torch", "torchaudio", "speechbrain", "numpy"} <= set(oldest)
    for entries in setup_lists().values():
        for text in entries:
            requirement = Requirement(text)
            lower = [
                spec.version
                for spec in requirement.specifier
                if spec.operator == ">="
            ]
            assert lower == [tested[requirement.name]], requirement
    for name, version in oldest.items():
        assert Version(version) <= Version(constraints()[name]), name


def test_set_up_without_the_disk_stops_at_once_naming_the_folder(tmp_path):
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["bash", os.path.join(ROOT, "scripts", "make_venv.sh"), str(venv),
         os.path.join(ROOT, "constraints.txt")],
        env={**os.environ, "AST_VENV_DISK_GB": "1000000"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"{venv} needs about 1000000 GB of disk" in result.stderr
    assert not venv.exists()


def test_the_default_install_has_what_auto_probes():
    # precision auto probes ort-int8: ONNX Runtime, ONNX and onnxscript
    # are in the default install, at the ranges its message names
    import sys

    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from requirements import requirement_lists

    from ast_lobes.inference.hardware import (
        FAST_INT8_CPUS,
        detect_hardware,
        fast_precisions,
    )
    from ast_lobes.inference.onnx_runtime import ONNX_PACKAGES

    required = requirement_lists()["INSTALL_REQUIRES"]
    assert set(ONNX_PACKAGES.values()) <= set(required)
    cpu = detect_hardware("cpu")
    if cpu.capability in FAST_INT8_CPUS:  # installed here: probed
        assert "ort-int8" in fast_precisions(cpu)
