"""Prints the requirements of setup.py, one per line: the install
requirements and those of the extras named on the command line.

    python3 scripts/requirements.py test > requirements.txt

Only the list assignments of setup.py are run (not ``setup()``), so this
needs nothing but Python.
"""

import ast
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def requirement_lists():
    """The lists assigned at the top level of setup.py, by name."""
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    body = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List)
    ]
    lists = {}
    exec(compile(ast.Module(body=body, type_ignores=[]), "setup.py", "exec"),
         {}, lists)  # fmt: skip
    return lists


def main(extras):
    lists = requirement_lists()
    names = ["INSTALL_REQUIRES"] + [f"{e.upper()}_REQUIRES" for e in extras]
    for name in names:
        if name not in lists:
            sys.exit(f"setup.py has no {name}")
        print("\n".join(lists[name]))


if __name__ == "__main__":
    main(sys.argv[1:])
