"""Old names kept working until a release, each in one table entry.

Every old name warns (``DeprecationWarning``) with its new name and the
release it goes away in. The module imports the standard library only:
the encoder's config, the tagger, the recipes and ``import ast_lobes``
all read it, so it sits below every layer (an import-linter contract
says so).

Authors
 * AST-SpeechBrain contributors 2026
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from dataclasses import dataclass

REMOVED_IN = "0.5.0"  # the release that drops the aliases of 0.4.0


@dataclass(frozen=True)
class Alias:
    """An old name that still works until ``removed_in``; ``new`` says
    what to use instead.

    Example
    -------
    >>> Alias("input_tdim", "target_length").message("AST")
    'AST: input_tdim is now target_length (input_tdim goes away in 0.5.0)'
    """

    old: str
    new: str
    removed_in: str = REMOVED_IN

    def message(self, where=""):
        """The deprecation message, after ``where`` when given."""
        prefix = f"{where}: " if where else ""
        return (
            f"{prefix}{self.old} is now {self.new} ({self.old} goes away "
            f"in {self.removed_in})"
        )

    def warn(self, where=""):
        """Warns with ``message`` (a ``DeprecationWarning``) from the
        user's line that led here (``user_stacklevel``), so that Python's
        default filter shows it in ``__main__``."""
        warnings.warn(
            self.message(where), DeprecationWarning,
            stacklevel=user_stacklevel(),
        )  # fmt: skip


# The packages whose frames a warning passes over to name the user's line:
# this project's, and importlib's (``importlib.import_module`` of a moved
# module path).
PACKAGES = ("ast_lobes", "pretrained_interfaces", "importlib")


def is_import_machinery(frame):
    """A frame of ``importlib._bootstrap``, which ``warnings`` skips when
    it counts a ``stacklevel``."""
    name = frame.f_code.co_filename
    return "importlib" in name and "_bootstrap" in name


def user_stacklevel():
    """The ``stacklevel`` that makes a warning raised by the caller of
    this function name the first line outside this project's packages
    and importlib (``PACKAGES``), the user's, however deep the call
    (counted as ``warnings`` counts, without the import machinery's
    frames).

    Example
    -------
    >>> def old_name():  # in this module: a frame of the project
    ...     warnings.warn("old", DeprecationWarning,
    ...                   stacklevel=user_stacklevel())
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     old_name()
    >>> caught[0].filename == __file__
    False
    """
    frame = sys._getframe(1)  # the function calling warnings.warn
    level = 1
    while frame.f_back is not None and (
        frame.f_globals.get("__name__", "").split(".")[0] in PACKAGES
    ):
        frame = frame.f_back
        while frame.f_back is not None and is_import_machinery(frame):
            frame = frame.f_back
        level += 1
    return level


# Arguments and attributes renamed: the model's input frames have one
# name, target_length, in the config, the front end, the YAML and the
# tagger.
RENAMED_ARGUMENTS = {
    # AudioSpectrogramTransformer(Config) argument and attribute, and an
    # encoder field of model.json / hyperparams.yaml
    "input_tdim": Alias("input_tdim", "target_length"),
    # AudioTagger.from_modules / from_ast_checkpoint argument, and
    # AudioTagger attribute
    "max_frames": Alias("max_frames", "target_length"),
}

# Command-line options of the recipes' train.py: old -> new names.
RENAMED_OPTIONS = {
    "max_frames": (Alias("--max_frames", "--max_target_length"),
                   ("max_target_length",)),
    "patch_stride": (Alias("--patch_stride", "--fstride and --tstride"),
                     ("fstride", "tstride")),
    # one key of a starting checkpoint across the recipes
    "pretrained_ast": (Alias("--pretrained_ast", "--pretrained"),
                       ("pretrained",)),
}  # fmt: skip

# Constructors and package-level names that became one way in.
DEPRECATED_CALLS = {
    "AudioTagger.from_modules": Alias(
        "AudioTagger.from_modules",
        "AudioTagger.from_pipeline(AudioClassificationPipeline(KaldiFbank("
        "target_length=...), FbankNormalization(...), encoder, head), "
        "label_names)",
    ),
    "AudioTagger.from_ast_checkpoint": Alias(
        "AudioTagger.from_ast_checkpoint", "AudioTagger.from_source"
    ),
    "ast_lobes.load_exported_model": Alias(
        "ast_lobes.load_exported_model",
        "ast_lobes.load_model_source (or "
        "ast_lobes.weights.exported.load_exported_model)",
    ),
    "ast_lobes.load_ast_checkpoint": Alias(
        "ast_lobes.load_ast_checkpoint",
        "ast_lobes.load_model_source (a pipeline with its encoder and "
        "head; or ast_lobes.weights.published.load_ast_checkpoint)",
    ),
    "ast_lobes.read_ast_checkpoint": Alias(
        "ast_lobes.read_ast_checkpoint",
        "ast_lobes.weights.published.read_ast_checkpoint",
    ),
}

# The module a package-level deprecated name is read from.
DEPRECATED_PACKAGE_NAMES = {
    "load_exported_model": "ast_lobes.weights.exported",
    "load_ast_checkpoint": "ast_lobes.weights.published",
    "read_ast_checkpoint": "ast_lobes.weights.published",
}

# A model folder of hyperparams.yaml and .ckpt files, without model.json
# (read as data by ast_lobes.compat.exports).
OLD_EXPORT_FOLDERS = Alias(
    "a model folder of hyperparams.yaml and .ckpt files",
    "model.json and model.safetensors (export it again with "
    "ast_lobes.export_classifier)",
)

# Names of ast_lobes.training.datasets read from its package
# ast_lobes.training.data (once one module).
MOVED_NAMES = {
    "ast_lobes.training.data": Alias(
        "ast_lobes.training.data.<name>",
        "ast_lobes.training.data.datasets.<name>",
    ),
}


# Module paths that moved, imported by the custom_interface.py of model
# folders exported then and by users' code: old path -> (its new module,
# the release the old path goes away in).
# fmt: off
MOVED_MODULE_PATHS = {
    "ast_lobes.audio_io": ("ast_lobes.audio.io", REMOVED_IN),
    "ast_lobes.checkpoints": ("ast_lobes.weights.published", REMOVED_IN),
    "ast_lobes.features": ("ast_lobes.audio.fbank", REMOVED_IN),
    "ast_lobes.labels": ("ast_lobes.weights.labels", REMOVED_IN),
    "ast_lobes.precision": ("ast_lobes.inference.precision", REMOVED_IN),
    # fast inference, out of the model layer into its own
    **{
        f"ast_lobes.model.{name}": (f"ast_lobes.inference.{name}", REMOVED_IN)
        for name in ("precision", "modes", "hardware", "onnx_runtime",
                     "token_merging")
    },
    # named for what they hold
    "ast_lobes.training.stages": (
        "ast_lobes.training.hparams_check", REMOVED_IN),
    "ast_lobes.training.identity": (
        "ast_lobes.training.run_fingerprint", REMOVED_IN),
    # training/ split into data/ and evaluation/
    **{
        f"ast_lobes.training.{name}":
            (f"ast_lobes.training.{room}.{name}", REMOVED_IN)
        for room, names in (
            ("data", ("labelled_audio", "unlabelled_audio", "splits",
                      "manifest", "sampling")),
            ("evaluation", ("metrics", "thresholds", "report",
                            "event_metrics", "averaging", "crossval")),
        )
        for name in names
    },
}
# fmt: on
MOVED_MODULES = {
    old: Alias(old, new, removed_in)
    for old, (new, removed_in) in MOVED_MODULE_PATHS.items()
}


def renamed_fields(fields, where="AudioSpectrogramTransformer"):
    """``fields`` with the renamed encoder fields (``input_tdim``) under
    their new names, warning of each.

    Example
    -------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     renamed_fields({"input_tdim": 512, "fstride": 10})
    {'fstride': 10, 'target_length': 512}
    >>> str(caught[0].message).startswith("AudioSpectrogramTransformer: "
    ...                                   "input_tdim is now target_length")
    True
    """
    fields = dict(fields)
    alias = RENAMED_ARGUMENTS["input_tdim"]
    if alias.old not in fields:
        return fields
    value = fields.pop(alias.old)
    if fields.get(alias.new) is not None and value is not None:
        raise TypeError(f"{where}: give {alias.new} only, not also {alias.old}")
    alias.warn(where)
    if value is not None:
        fields[alias.new] = value
    return fields


def renamed_frames_argument(target_length, max_frames, where):
    """``target_length``, or ``max_frames`` (its old name) with a warning
    when that is given.

    Example
    -------
    >>> renamed_frames_argument(100, None, "AudioTagger.from_modules")
    100
    """
    if max_frames is None:
        return target_length
    RENAMED_ARGUMENTS["max_frames"].warn(where)
    return max_frames


def renamed_attribute(old, where):
    """Warns that the attribute ``where.old`` is now its new name."""
    RENAMED_ARGUMENTS[old].warn(where)


def renamed_options(overrides, stream=None):
    """Command-line options under their new names, printing (to
    ``stream``, default stderr) what each old one is now.

    Example
    -------
    >>> import io
    >>> renamed_options({"patch_stride": 12}, io.StringIO())
    {'fstride': 12, 'tstride': 12}
    """
    for old, (alias, new_names) in RENAMED_OPTIONS.items():
        if old in overrides:
            print(alias.message(), file=stream or sys.stderr)
            value = overrides.pop(old)
            overrides.update({name: value for name in new_names})
    return overrides


def deprecated_call(name):
    """Warns that the constructor or function ``name`` (a key of
    ``DEPRECATED_CALLS``) goes away."""
    DEPRECATED_CALLS[name].warn()


def moved_name(package, name):
    """``name`` read from ``package`` where it was (``MOVED_NAMES``),
    from the module it is now in, with a warning; AttributeError if it
    is not there either."""
    alias = MOVED_NAMES[package]
    module = importlib.import_module(alias.new.rsplit(".", 1)[0])
    own = vars(sys.modules[package])
    if name in own:  # a submodule, imported meanwhile
        return own[name]
    if not hasattr(module, name):
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    Alias(f"{package}.{name}", f"{module.__name__}.{name}",
          alias.removed_in).warn()  # fmt: skip
    return getattr(module, name)


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path (``MOVED_MODULES``) as the module it
    moved to, with a warning."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        alias = MOVED_MODULES[spec.name]
        alias.warn()
        return importlib.import_module(alias.new)

    def exec_module(self, module):
        pass


def install_moved_modules():
    """Lets the old module paths be imported (once per interpreter)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
