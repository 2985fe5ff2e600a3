"""The hparams ``AudioClassificationBrain`` reads: the optional ones
declared once with their defaults, and the checks of a YAML's keys.

A recipe's YAML may set any of ``OPTIONAL_HPARAMS``; everything else the
Brain needs is required. ``check_optional_hparams`` refuses a key that is
a near-miss of an optional one (``spec_augmnet``) or that holds a training
stage under a name the Brain does not read, because such a key would
otherwise switch a stage off without a word. ``check_head_settings``
refuses a YAML whose head, pooling, loss and stages contradict each
other: the YAML is the single source of a run, and no code rewrites it.

Authors
 * AST-SpeechBrain contributors 2026
"""

import difflib

from ast_lobes.augmentation.mixup import Mixup
from ast_lobes.augmentation.spectrogram import FbankNoise, SpecAugment
from ast_lobes.model.config import BLOCK_POOLINGS
from ast_lobes.model.head import BlockWeightedHead, head_kind
from ast_lobes.training.weight_average import epochs_problem

# name: (default, what it does)
TRAINING_STAGES = {
    "mixup": (None, "mixes waveforms and targets (before the fbank)"),
    "spec_augment": (None, "masks fbank bands and frames (before scaling)"),
    "fbank_noise": (None, "adds noise and a time roll (after scaling)"),
}
OPTIONAL_HPARAMS = {
    **TRAINING_STAGES,
    "multi_label": (False, "labels separated by ';'; adds mAP, mAUC"),
    "best_key": ("accuracy", "validation metric that picks the checkpoint"),
    "keep_all_checkpoints": (False, "one checkpoint per epoch"),
    "predictions_folder": (None, "scores of every evaluation (.npz)"),
    "per_class_file": (None, "per-class AP and AUC (multi-label)"),
    "metrics_file": (None, "one JSON line of metrics per evaluation"),
    "test_precisions": ((), "inference precisions the test is rerun in"),
    "force_precision": (False, "run a precision this CPU runs slowly"),
    "balanced_sampling": (False, "label-balanced training sampler"),
    "resample_on_load": (False, "resample clips at other rates"),
    "init_from": (None, "exported model folder the weights start from"),
    "distillation": (None, "a teacher supervises the distillation token"),
    "weight_ema_epochs": (0, "validate and keep an average of weights"),
    "teacher_logits_file": (None, "the trained model's logits, a teacher's"),
    "teacher_draws": (0, "augmentation draws of teacher_logits_file"),
    "resume_anyway": (False, "go on from checkpoints of another run"),
    "start_over": (False, "delete checkpoints of another run, train anew"),
    "time_budget": (None, "minutes: epochs and lr decay fitted to them"),
    "train_shards": (None, "WebDataset shards of the training clips"),
    "shuffle_buffer": (1000, "clips the shard reader shuffles among"),
    "clips_per_shard": (1000, "clips per shard the recipe writes"),
    "fbank_cache_mb": (0, "MiB of clips' fbank kept between epochs"),
}
STAGE_TYPES = (Mixup, SpecAugment, FbankNoise)


class UnknownHparamError(ValueError):
    """A YAML key that looks like an optional hparam but is not one."""


def check_optional_hparams(hparams, source="hparams"):
    """Refuses near-misses of optional keys and stages under other names.

    Arguments
    ---------
    hparams : dict
        The loaded hparams.
    source : str
        Named in the error (the YAML file).

    Example
    -------
    >>> check_optional_hparams({"spec_augment": None, "lr": 0.1})
    >>> check_optional_hparams({"spec_augmnet": None})
    Traceback (most recent call last):
    ...
    ast_lobes.training.hparams_check.UnknownHparamError: hparams: unknown key \
'spec_augmnet' (did you mean 'spec_augment'?)...
    """
    for key, value in hparams.items():
        if key in OPTIONAL_HPARAMS:
            continue
        close = difflib.get_close_matches(key, OPTIONAL_HPARAMS, 1, 0.8)
        if close:
            raise UnknownHparamError(
                f"{source}: unknown key {key!r} (did you mean {close[0]!r}?)"
                f"; the optional keys are {', '.join(OPTIONAL_HPARAMS)}"
            )
        if isinstance(value, STAGE_TYPES):
            raise UnknownHparamError(
                f"{source}: key {key!r} holds a {type(value).__name__}, "
                "which the Brain only applies under one of "
                f"{', '.join(TRAINING_STAGES)}"
            )


def optional(hparams, name):
    """The value of optional hparam ``name``, or its declared default."""
    if name not in OPTIONAL_HPARAMS:
        raise KeyError(f"{name} is not a declared optional hparam")
    value = hparams.get(name)
    return OPTIONAL_HPARAMS[name][0] if value is None else value


def active_stage(stage):
    """``stage``, or None when it is a stage that changes nothing (a
    ``Mixup`` of probability 0, an ``FbankNoise`` of scale 0 and no shift):
    a YAML can then hold every stage with its strength as a key.

    Example
    -------
    >>> active_stage(Mixup(probability=0.0)) is None
    True
    >>> active_stage(FbankNoise(scale=0.0, max_shift=5)) is not None
    True
    """
    if isinstance(stage, Mixup) and stage.probability == 0:
        return None
    if isinstance(stage, FbankNoise) and not (stage.scale or stage.max_shift):
        return None
    return stage


def describe_stages(hparams):
    """One line naming the training stages on and off.

    Example
    -------
    >>> describe_stages({"spec_augment": object()})
    'training stages: spec_augment on; mixup off, fbank_noise off'
    """
    active = {name: active_stage(hparams.get(name)) for name in TRAINING_STAGES}
    on = [name for name, stage in active.items() if stage is not None]
    off = [name for name, stage in active.items() if stage is None]
    parts = [
        ", ".join(f"{n} on" for n in on),
        ", ".join(f"{n} off" for n in off),
    ]
    return "training stages: " + "; ".join(p for p in parts if p)


PAIR_POOLINGS = ("cls_dist_pair", "mean_dist_pair")


class ContradictoryHparamsError(ValueError):
    """A run's YAML whose keys ask for things that cannot go together."""


def check_head_settings(hparams, source="hparams"):
    """Refuses a YAML whose head, pooling, loss and stages contradict each
    other, naming the keys (the recipes' names: ``two_heads``,
    ``frame_level``, ``pooling``, ``loss``, ``multi_label``, ``teacher``,
    ``mixup``). The built objects are compared, so a recipe whose keys
    have other names is checked too.

    * a ``DistillationHead`` (``two_heads: true``) takes the encoder's two
      tokens (``pooling: cls_dist_pair`` or ``mean_dist_pair``), and
      those two tokens need it;
    * a ``FrameLevelHead`` (``frame_level``) takes a token per time step
      (``pooling: time_steps``), which only it takes, and scores with
      sigmoids (``loss: bce``, ``multi_label: true``);
    * stored teacher outputs (``teacher``) are for unmixed clips: no
      ``mixup`` unless the teacher runs online;
    * ``weight_ema_epochs``, an average over epochs, is 0 (none) or a
      number of epochs, at least 1.

    Example
    -------
    >>> from ast_lobes import AudioClassificationHead, DistillationHead
    >>> from types import SimpleNamespace
    >>> encoder = SimpleNamespace(pooling="mean")
    >>> check_head_settings({"encoder": encoder, "loss": "ce",
    ...     "classifier": AudioClassificationHead(8, 2)})
    >>> check_head_settings({"encoder": encoder, "loss": "ce",
    ...     "classifier": DistillationHead(8, 2)})
    Traceback (most recent call last):
    ...
    ast_lobes.training.hparams_check.ContradictoryHparamsError: hparams: \
two_heads: true (a DistillationHead) takes the cls and distillation \
tokens, but pooling is 'mean'; set pooling to cls_dist_pair or \
mean_dist_pair (or two_heads: false)
    """
    problems = []
    head = hparams.get("classifier")
    kind = head_kind(head)
    encoder = getattr(hparams.get("encoder"), "module", hparams.get("encoder"))
    pooling = getattr(encoder, "pooling", None)
    if pooling is not None:
        blocks = isinstance(getattr(head, "module", head), BlockWeightedHead)
        problems += pooling_problems("blocks" if blocks else kind, pooling)
    elif encoder is not None and kind in ("pair", "frames"):
        problems.append(
            f"{'two_heads: true' if kind == 'pair' else 'frame_level'} "
            "takes the AST's tokens, but the encoder "
            f"({type(encoder).__name__}) gives one pooled embedding a "
            "clip; set two_heads: false and frame_level: null"
        )
    if kind == "frames" and (
        hparams.get("loss") != "bce" or not hparams.get("multi_label")
    ):
        problems.append(
            "frame_level (a FrameLevelHead) scores each class with a "
            f"sigmoid, but loss is {hparams.get('loss')!r} and multi_label "
            f"{bool(hparams.get('multi_label'))}; set loss: bce and "
            "multi_label: true"
        )
    distillation = hparams.get("distillation")
    if (
        distillation is not None
        and not getattr(distillation, "online", False)
        and active_stage(hparams.get("mixup")) is not None
    ):
        problems.append(
            "teacher: its stored outputs are for the clips as they are, "
            "which mixed clips do not match; set mixup: null, or "
            "teacher_online: true (the teacher runs on the mixed clips), "
            "or no teacher (teacher null, and teacher_recipe null where "
            "the YAML has one)"
        )
    epochs = hparams.get("weight_ema_epochs")
    problem = epochs_problem(epochs) if epochs else None
    if problem is not None:
        problems.append(problem)
    if problems:
        raise ContradictoryHparamsError(f"{source}: " + "; ".join(problems))


def pooling_problems(kind, pooling):
    """What contradicts between a head's kind (``blocks`` for a
    ``BlockWeightedHead``) and the encoder's pooling."""
    if (kind == "blocks") != (pooling in BLOCK_POOLINGS):
        return [
            "a BlockWeightedHead takes every block's pooled output "
            "(pooling blocks_cls_dist, blocks_cls or blocks_mean), which "
            f"only it takes; here the pooling is {pooling!r} and the head "
            f"{'a BlockWeightedHead' if kind == 'blocks' else 'another'}"
        ]
    if kind == "pair" and pooling not in PAIR_POOLINGS:
        return [
            "two_heads: true (a DistillationHead) takes the cls and "
            f"distillation tokens, but pooling is {pooling!r}; set pooling "
            "to cls_dist_pair or mean_dist_pair (or two_heads: false)"
        ]
    if kind != "pair" and pooling in PAIR_POOLINGS:
        return [
            f"pooling {pooling!r} gives two tokens, which only two heads "
            "take; set two_heads: true (or pooling cls or mean)"
        ]
    if kind == "frames" and pooling != "time_steps":
        return [
            "frame_level (a FrameLevelHead) takes a token per time step, "
            f"but pooling is {pooling!r}; set pooling: time_steps"
        ]
    if kind != "frames" and pooling == "time_steps":
        return [
            "pooling 'time_steps' gives a token per time step, which only "
            "a frame-level head takes; set frame_level (attention or "
            "linear_softmax), or another pooling"
        ]
    return []
