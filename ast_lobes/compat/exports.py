"""Reading a model folder exported with a ``hyperparams.yaml`` and
``.ckpt`` files but no ``model.json`` (``OLD_EXPORT_FOLDERS`` in
``ast_lobes.compat.aliases`` says until when), without running any code
from it.

Its YAML is read as data (never built by HyperPyYAML, which runs the
``!new:``/``!apply:`` tags it holds), each tag checked against
``ALLOWED_TAGS``, and its weights read with
``torch.load(weights_only=True)`` (``read_torch_file``).
``ast_lobes.weights.exported`` calls it for such a folder.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
)

from ast_lobes.compat.aliases import OLD_EXPORT_FOLDERS, renamed_fields
from ast_lobes.model.config import AudioSpectrogramTransformerConfig
from ast_lobes.weights.files import (
    CheckpointError,
    UnsafeModelFolderError,
    checked_state,
    load_state_dict_exactly,
    read_torch_file,
)

# The tags such a hyperparams.yaml may hold: this project's modules and
# SpeechBrain's label encoder and pretrainer. Anything else
# (``!apply:os.system``, ``!name:``, another class) would run code.
ALLOWED_TAGS = {
    "!ref",
    "!new:ast_lobes.KaldiFbank",
    "!new:ast_lobes.FbankNormalization",
    "!new:ast_lobes.AudioSpectrogramTransformer",
    "!new:ast_lobes.AudioClassificationHead",
    "!new:ast_lobes.DistillationHead",
    "!new:ast_lobes.FrameLevelHead",
    "!new:ast_lobes.AudioClassificationPipeline",
    "!new:speechbrain.dataio.encoder.CategoricalEncoder",
    "!new:speechbrain.utils.parameter_transfer.Pretrainer",
}
# The head's tag -> its kind in a description (``weights.exported.HEADS``)
HEAD_TAGS = {
    "!new:ast_lobes.AudioClassificationHead": "clip",
    "!new:ast_lobes.DistillationHead": "pair",
    "!new:ast_lobes.FrameLevelHead": "frames",
}


# The limits a model folder's hyperparams.yaml is read within: its size,
# the aliases it may hold (an alias repeats a node: nine levels of nine
# make a 2 KB file of 9**9 nodes) and how deeply its nodes may nest.
MAX_YAML_BYTES = 1 << 20
MAX_YAML_ALIASES = 16
MAX_YAML_DEPTH = 32
# and the nodes of its tree with every alias expanded (an export has a few
# hundred; a few levels of aliases repeat a node thousands of times)
MAX_YAML_NODES = 100_000


def is_yaml_export(folder):
    """True for a folder whose ``hyperparams.yaml`` builds this project's
    modules."""
    path = os.path.join(folder, "hyperparams.yaml")
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as handle:
        return b"ast_lobes." in handle.read(MAX_YAML_BYTES + 1)


def read_yaml_tree(path):
    r"""The parsed YAML of ``path`` (nodes keep their tags; nothing is
    built), refused with one line naming the file when it is larger than
    ``MAX_YAML_BYTES``, holds more than ``MAX_YAML_ALIASES`` aliases, nests
    deeper than ``MAX_YAML_DEPTH`` or is not YAML.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "hyperparams.yaml")
    >>> _ = open(path, "w").write("a: &a [1]\nb: *a\n")
    >>> read_yaml_tree(path)["b"]
    [1]
    """
    size = os.path.getsize(path)
    if size > MAX_YAML_BYTES:
        raise UnsafeModelFolderError(
            f"{path}: {size} bytes, more than the {MAX_YAML_BYTES} bytes a "
            "model folder's hyperparams.yaml may have"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        check_yaml_events(YAML(typ="rt").parse(text), path)
        tree = YAML(typ="rt").load(text)
    except (YAMLError, UnicodeDecodeError, RecursionError) as error:
        first = str(error).strip().splitlines()
        raise CheckpointError(
            f"{path}: not YAML ({type(error).__name__}: "
            f"{first[0] if first else ''})"
        ) from error
    check_expanded_size(tree, path)
    return tree


def check_expanded_size(tree, path):
    """Refuses a tree of more than ``MAX_YAML_NODES`` nodes once its
    aliases are expanded (what walking it costs), counting no further."""
    pending, nodes = [tree], 0
    while pending:
        node = pending.pop()
        nodes += 1
        if nodes > MAX_YAML_NODES:
            raise UnsafeModelFolderError(
                f"{path}: more than {MAX_YAML_NODES} YAML nodes with its "
                "aliases expanded: refused"
            )
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def check_yaml_events(events, path):
    """Refuses a YAML event stream with too many aliases or too deep."""
    aliases = depth = 0
    for event in events:
        if isinstance(event, AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise UnsafeModelFolderError(
                    f"{path}: more than {MAX_YAML_ALIASES} YAML aliases (*): "
                    "refused, as each repeats a node and a few make an "
                    "exponentially large tree"
                )
        elif isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise UnsafeModelFolderError(
                    f"{path}: nested deeper than {MAX_YAML_DEPTH} levels; "
                    "refused"
                )
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def tag_of(node):
    """The tag of a parsed YAML node (``!new:...``), or None."""
    return getattr(getattr(node, "tag", None), "value", None)


def check_tags(node, source, where=""):
    """Refuses any tag outside ``ALLOWED_TAGS`` in a parsed YAML tree,
    naming its key."""
    tag = tag_of(node)
    if tag is not None and tag.startswith("!") and tag not in ALLOWED_TAGS:
        raise UnsafeModelFolderError(
            f"{source}: key {where or '(top)'!r} holds {tag}, which a model "
            "folder may not hold (only this project's and SpeechBrain's own "
            "classes): it would run code when built. Refused; rebuild the "
            "folder with a recipe's export, or load it with SpeechBrain's "
            "from_hparams only if you trust it"
        )
    if isinstance(node, dict):
        for key, value in node.items():
            check_tags(value, source, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            check_tags(value, source, f"{where}[{index}]")


def plain(node):
    """A parsed YAML node as plain Python data (tags dropped).

    Example
    -------
    >>> plain({"a": [1, {"b": "c"}]})
    {'a': [1, {'b': 'c'}]}
    """
    if isinstance(node, dict):
        return {str(key): plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [plain(value) for value in node]
    return getattr(node, "value", node)


def description_from_yaml(folder):
    """The description of the folder (as ``model.json`` holds it, less
    its ``format``), read from its ``hyperparams.yaml`` as data (no
    object is built)."""
    OLD_EXPORT_FOLDERS.warn(folder)
    path = os.path.join(folder, "hyperparams.yaml")
    tree = read_yaml_tree(path)
    if not isinstance(tree, dict):
        raise CheckpointError(f"{path}: not a mapping of settings")
    check_tags(tree, path)
    head_tag = tag_of(tree.get("classifier"))
    if head_tag not in HEAD_TAGS:
        raise CheckpointError(f"{path}: classifier is {head_tag}, not a head")
    try:
        values = {key: plain(tree[key]) for key in (
            "compute_features", "mean_var_norm", "embedding_model",
            "classifier",
        )}  # fmt: skip
    except KeyError as error:
        raise CheckpointError(f"{path}: no {error.args[0]}") from error
    for key, value in values.items():
        if not isinstance(value, dict):
            raise CheckpointError(f"{path}: {key}: not a mapping of settings")
    values["embedding_model"].pop("config", None)
    try:
        description = {
            "sample_rate": tree.get("sample_rate", 16000),
            "multi_label": bool(tree.get("multi_label", False)),
            "front_end": values["compute_features"],
            "normalization": values["mean_var_norm"]["normalization"],
            "per_clip_mean": bool(
                values["mean_var_norm"].get("per_clip_mean", False)
            ),
            "encoder": encoder_config_fields(values["embedding_model"], path),
            "head": {"kind": HEAD_TAGS[head_tag], **values["classifier"]},
        }
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"{path}: not a model description this version reads "
            f"({type(error).__name__}: {error})"
        ) from error
    description["labels"] = read_label_file(folder)
    description["thresholds"] = plain(tree.get("thresholds"))
    return description


def encoder_config_fields(arguments, source):
    """Config fields from the encoder's YAML arguments (``model_size``
    expanded to its dimensions, as the constructor does)."""
    arguments = renamed_fields(arguments, source)
    return AudioSpectrogramTransformerConfig.from_size(**arguments).as_dict()


def read_label_file(folder):
    """The label names of ``label_encoder.ckpt`` (SpeechBrain's text
    format), in index order."""
    from speechbrain.dataio.encoder import CategoricalEncoder

    labels = CategoricalEncoder()
    path = os.path.join(folder, "label_encoder.ckpt")
    if not os.path.isfile(path):
        raise CheckpointError(f"{folder}: no label_encoder.ckpt")
    if os.path.getsize(path) > MAX_YAML_BYTES:
        raise CheckpointError(f"{path}: more than {MAX_YAML_BYTES} bytes")
    try:
        labels.load(path)
        return [labels.ind2lab[i] for i in range(len(labels))]
    except Exception as error:  # SpeechBrain's reader: any malformed line
        raise CheckpointError(
            f"{path}: not a label file ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''})"
        ) from error


def read_ckpt_state(weights, device="cpu"):
    """The state dict of a ``.ckpt`` file (``read_torch_file`` onto
    ``device``; ``"meta"`` reads the shapes without the data), or one
    line naming the file."""
    return checked_state(read_torch_file(weights, device), weights)


def load_ckpt_weights(encoder, head, folder, missing=""):
    """Fills ``encoder`` and ``head`` from the folder's
    ``embedding_model.ckpt`` and ``classifier.ckpt`` (read with
    ``torch.load(weights_only=True)``); ``missing`` names the newer
    weights file in the error when one is absent."""
    for name, module in (("embedding_model", encoder),
                         ("classifier", head)):  # fmt: skip
        weights = os.path.join(folder, f"{name}.ckpt")
        if not os.path.isfile(weights):
            other = f"{missing} or " if missing else ""
            raise CheckpointError(f"{folder}: no {other}{name}.ckpt")
        load_state_dict_exactly(module, read_ckpt_state(weights), weights)
