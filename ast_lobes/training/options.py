"""A recipe script's command line: its overrides, its YAML's plain
settings, its experiment folder, the one-line errors of bad input
(``run_main``) and the end of its DDP processes.

Authors
 * AST-SpeechBrain contributors 2026
"""

import contextlib
import difflib
import logging
import re

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml, resolve_references
from ruamel.yaml import YAML

from ast_lobes.training.launcher import (
    end_with_launcher,
    record_for_torchrun,
    worker_rank,
)
from ast_lobes.training.run_lock import (
    hold_output_folder,
    release_output_folders,
)

logger = logging.getLogger(__name__)


class RecipeOptionError(ValueError):
    """A command-line option a recipe cannot take as given."""


def parse_overrides(overrides):
    """Command-line overrides (SpeechBrain gives a YAML string) as a dict.

    Example
    -------
    >>> parse_overrides("{fold: 2, lr: 0.001}")
    {'fold': 2, 'lr': 0.001}
    >>> try:
    ...     parse_overrides("lr: 0.1\\nlr: 0.2")
    ... except RecipeOptionError as error:
    ...     print(error)
    --lr given twice (0.1, then 0.2); give each option once
    """
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError

    try:
        return dict(YAML(typ="safe").load(overrides) or {})
    except DuplicateKeyError as error:
        found = re.search(
            r'duplicate key "(.*?)" with value "(.*?)" '
            r'\(original value: "(.*?)"\)', str(error.problem),
        )  # fmt: skip
        if found is None:
            raise RecipeOptionError(
                f"an option given twice ({error.problem})"
            ) from None
        key, second, first = found.groups()
        raise RecipeOptionError(
            f"--{key} given twice ({first}, then {second}); give each "
            "option once"
        ) from None
    except MarkedYAMLError as error:
        raise RecipeOptionError(
            f"the options are not valid YAML ({error.problem}); check the "
            "quoting of values with brackets, braces or colons"
        ) from None


@contextlib.contextmanager
def known_overrides(hparams_file):
    """Turns hyperpyyaml's ``KeyError`` for an override the YAML has no
    key for into one line naming the option, the file and the nearest
    keys.

    Example
    -------
    >>> message = "Override 'lr_gama' not found in: ['lr', 'lr_gamma']"
    >>> try:
    ...     with known_overrides("ast.yaml"):
    ...         raise KeyError(message)
    ... except RecipeOptionError as error:
    ...     print(error)
    --lr_gama: ast.yaml has no key lr_gama (did you mean lr_gamma?)
    """
    try:
        yield
    except KeyError as error:
        found = re.match(
            r"Override '(.+)' not found in: \[(.*)\]$", str(error.args[0])
        )
        if found is None:
            raise
        key, known = found[1], re.findall(r"'([^']+)'", found[2])
        near = difflib.get_close_matches(key, known, n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise RecipeOptionError(
            f"--{key}: {hparams_file} has no key {key}{hint}"
        ) from None


def read_plain_hparams(hparams_file, overrides=None):
    """Resolves a HyperPyYAML file's references without building objects.

    Used to read plain settings (folds, folders) before any model is built.

    Arguments
    ---------
    hparams_file : str
        The YAML file.
    overrides : dict or str or None
        Overrides as for ``load_hyperpyyaml``.

    Returns
    -------
    dict
        The YAML tree; tagged nodes stay unbuilt.
    """
    with (
        open(hparams_file, encoding="utf-8") as handle,
        known_overrides(hparams_file),
    ):
        text = resolve_references(handle, overrides or {}).getvalue()
    return YAML(typ="rt").load(text)


def load_experiment(hparams_file, overrides):
    """The recipe's hparams with ``overrides``, its experiment folder held
    by this run (``hold_output_folder``: a second run on it is refused)
    and made (SpeechBrain's ``create_experiment_directory``: the resolved
    YAML and the log go there)."""
    with (
        open(hparams_file, encoding="utf-8") as handle,
        known_overrides(hparams_file),
    ):
        hparams = load_hyperpyyaml(handle, overrides)
    hold_output_folder(hparams["output_folder"])
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    return hparams


def end_distributed():
    """Waits for every process, then closes the DDP process group.

    Call it last in a recipe: a process that exits with the group still
    open can be killed by its communication threads at interpreter exit.
    """
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def user_errors():
    """The errors that mean the input or the options are wrong (not the
    code): missing or bad files and folders, refused keys and folders, a
    time budget spent before there is anything to train."""
    from ast_lobes.audio.fbank import FrontEndSettingError
    from ast_lobes.audio.io import AudioFileError
    from ast_lobes.inference.hardware import SlowPrecisionError
    from ast_lobes.model.config import ModelSettingError
    from ast_lobes.training.data.datasets import UnknownLabelError
    from ast_lobes.training.data.fbank_cache import FbankCacheSettingError
    from ast_lobes.training.data.feature_store import FeatureTimeError
    from ast_lobes.training.data.labelled_audio import DataError
    from ast_lobes.training.data.shards import ShardError
    from ast_lobes.training.distillation import TeacherError
    from ast_lobes.training.hparams_check import (
        ContradictoryHparamsError,
        UnknownHparamError,
    )
    from ast_lobes.training.run_fingerprint import RunIdentityError
    from ast_lobes.training.run_lock import OutputFolderBusyError
    from ast_lobes.weights.files import CheckpointError

    return (
        AudioFileError, CheckpointError, ContradictoryHparamsError,
        DataError, FbankCacheSettingError, FeatureTimeError,
        FileNotFoundError,
        FrontEndSettingError, ModelSettingError, OutputFolderBusyError,
        RecipeOptionError,
        RunIdentityError, ShardError, SlowPrecisionError, TeacherError,
        UnknownHparamError, UnknownLabelError,
    )  # fmt: skip


def run_main(main, extra_errors=()):
    """Runs a recipe's ``main``: an error of the input or options (see
    ``user_errors``, and ``extra_errors``) ends with one short line on
    stderr naming the file, key or folder, and exit status 2; its
    traceback goes to the run's ``log.txt`` when the run has one, and to
    the screen with ``--traceback``. Under ``torchrun`` each process that
    meets the error prints it in one line with its rank, which
    ``torchrun``'s summary of the failure repeats, and each process ends
    when the launcher dies (``ast_lobes.training.launcher``)."""
    import sys

    from ast_lobes.training.budget import mark_run_start

    verbose = "--traceback" in sys.argv
    if verbose:
        sys.argv.remove("--traceback")
    end_with_launcher()
    mark_run_start()
    try:
        main()
    except (*user_errors(), *extra_errors) as error:
        if verbose:
            raise
        logs = [
            handler.baseFilename
            for handler in logging.getLogger().handlers
            if isinstance(handler, logging.FileHandler)
        ]
        if logs:  # the run's log.txt; without one, stderr keeps one line
            logger.error("stopped: %s", error, exc_info=True)
        where = f"traceback in {logs[0]}" if logs else "--traceback shows it"
        rank = worker_rank()
        if rank is None:
            print(f"error: {error}\n({where})", file=sys.stderr)
        else:  # a line a process, which torchrun's summary repeats
            line = f"error: {error} (rank {rank}; {where})"
            # one write: unbuffered (torchrun), print's line and newline
            # are two, and another rank's line can land between them
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
            record_for_torchrun(line)
        sys.exit(2)
    finally:  # the process ends here, or a test goes on in it
        release_output_folders()
