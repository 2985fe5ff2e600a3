"""Writing recipe manifests and remembering which preparations are done.

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv
import json
import os

OPTIONS_FILE = "prepare_options.json"


def write_manifest(path, rows):
    """Writes ``rows`` (dicts with the same keys) as a CSV manifest.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> write_manifest(path, [{"ID": "a", "duration": "1.0", "wav": "a.wav"}])
    >>> open(path).read().splitlines()
    ['ID,duration,wav', 'a,1.0,a.wav']
    """
    if not rows:
        raise ValueError(f"{path}: no rows to write")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.{os.getpid()}.part"
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, path)


def already_prepared(save_folder, options):
    """True if ``save_folder`` was prepared with exactly ``options``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> already_prepared(folder, {"fold": 1})
    False
    >>> mark_prepared(folder, {"fold": 1})
    >>> already_prepared(folder, {"fold": 1}), already_prepared(folder, {})
    (True, False)
    """
    path = os.path.join(save_folder, OPTIONS_FILE)
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as handle:
        return json.load(handle) == options


def mark_prepared(save_folder, options):
    """Records that ``save_folder`` holds manifests made with ``options``."""
    os.makedirs(save_folder, exist_ok=True)
    with open(
        os.path.join(save_folder, OPTIONS_FILE), "w", encoding="utf-8"
    ) as handle:
        json.dump(options, handle)
