"""No import cycle between modules: every module of ``ast_lobes`` and
``pretrained_interfaces`` can be read after the modules it imports
(those imported inside functions included). The layers between packages
are import-linter's contracts (``pyproject.toml``); this test covers the
modules within a layer too."""

import graphlib

import grimp

PACKAGES = ("ast_lobes", "pretrained_interfaces")


def import_graph():
    """``{module: modules it imports}`` over ``PACKAGES``."""
    graph = grimp.build_graph(*PACKAGES)
    return {
        module: graph.find_modules_directly_imported_by(module)
        for module in graph.modules
    }


def test_no_module_imports_itself_back():
    graph = import_graph()
    assert "pretrained_interfaces.audio_tagger" in graph  # the tree was read
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        cycle = " -> ".join(error.args[1])
        raise AssertionError(f"import cycle: {cycle}") from None
