"""A user's classes learned on a pretrained encoder kept frozen, or with
its last blocks tuned, from stored encoder outputs.

The encoder (``ast_lobes.source_encoder``: an exported model folder, a
published AST, an SSAST encoder folder) runs once per clip, in the CPU's
fastest precision (``decide_precision``'s ``auto`` among the modes that
run PyTorch's blocks), and what it computes is stored in the run's folder
(``ast_lobes.training.data.feature_store``): every block's pooled output
(through the final norm) and, with ``tune_blocks`` N, the tokens entering
block ``depth - N``. Every epoch, and every later run, reads them. The
store is keyed by the source's weights, the front end, the pooling, the
precision and each clip's audio file; anything else is computed again.

Training reuses the classifier recipe's steps: a ``TransferBrain`` (the
``AudioClassificationBrain`` over stored rows) fits the head for each
regularisation of a small grid (weight decay x dropout), the validation
split picks one, and with ``tune_blocks`` the last blocks and that head
are then trained together (linear probing, then fine-tuning: Kumar et
al. 2022). The run is tested, calibrated (multi-label) and exported as
an ordinary model folder: the source's front end and encoder (its tuned
blocks) and the new head.

Authors
 * AST-SpeechBrain contributors 2026
"""

import contextlib
import copy
import functools
import itertools
import json
import logging
import os
import time

import speechbrain as sb
import torch
import torch.nn.functional as F
from speechbrain.dataio.batch import PaddedBatch
from torch import nn

from ast_lobes.inference.decision import decide_precision
from ast_lobes.inference.precision import set_inference_precision
from ast_lobes.inference.probe import probe_shape
from ast_lobes.model.encoder import pool_vector
from ast_lobes.model.head import norm_then_linear
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.training.brain import AudioClassificationBrain
from ast_lobes.training.budget import run_started
from ast_lobes.training.checkpoints import AtomicCheckpointer
from ast_lobes.training.data.datasets import clip_targets
from ast_lobes.training.data.feature_store import (
    FeatureStore,
    StackedBatch,
    StoredFeatureDataset,
    fill_store,
)
from ast_lobes.training.data.manifest import clip_digests, value_digest
from ast_lobes.training.data.sampling import label_balanced_sampler
from ast_lobes.training.export import export_model
from ast_lobes.training.hparams_check import optional
from ast_lobes.training.options import RecipeOptionError
from ast_lobes.training.run import (
    TrainedClassifier,
    calibrate_thresholds,
    refuse_other_runs,
    write_test_report,
)
from ast_lobes.training.run_datasets import (
    after_training_share,
    build_datasets,
)
from ast_lobes.training.run_fingerprint import (
    check_run_identity,
    front_end_settings,
    weights_digest,
)
from ast_lobes.training.run_settings import RunSettings
from ast_lobes.training.schedule import ReferenceLRSchedule

logger = logging.getLogger(__name__)

CLASS_BALANCES = ("loss", "sampler", "none")


class TransferModel(nn.Module):
    """The trained part of a transfer: the tuned blocks (the encoder's
    own modules, trained in place), dropout and the head, over stored
    rows.

    Arguments
    ---------
    encoder : ast_lobes.AudioSpectrogramTransformer
        The source's encoder; its last ``tune_blocks`` blocks are held
        (and trained), its final norm read.
    head : torch.nn.Module
        An ``AudioClassificationHead`` (the last block's pooled output)
        or a ``BlockWeightedHead`` (every block's).
    tune_blocks : int
        Blocks trained with the head (0: the head alone).
    dropout : float
        Dropout of the normalised vector the head's linear layer reads,
        in training.

    Example
    -------
    >>> from ast_lobes import AudioSpectrogramTransformer, BlockWeightedHead
    >>> encoder = AudioSpectrogramTransformer(model_size=None, embed_dim=8,
    ...     depth=3, num_heads=2, target_length=32, fstride=16, tstride=16,
    ...     pooling="blocks_mean").eval()
    >>> model = TransferModel(encoder, BlockWeightedHead(8, 2, 3), 1).eval()
    >>> fbank = torch.randn(2, 32, 128)
    >>> rows, tokens = encoder_rows(encoder, fbank, first=2)
    >>> live = model.head(encoder(fbank)).squeeze(1)
    >>> torch.allclose(model(rows[:, :2], tokens), live, atol=1e-6)
    True
    """

    def __init__(self, encoder, head, tune_blocks=0, dropout=0.0):
        super().__init__()
        depth = len(encoder.blocks)
        self.first = depth - int(tune_blocks)
        self.blocks = nn.ModuleList(encoder.blocks[self.first :])
        self.pooling = encoder.block_pooling
        self.norm = encoder.norm  # frozen: the stored rows went through it
        self.dropout = nn.Dropout(dropout)
        self.head = head
        self.every_block = hasattr(head, "combine")

    def rows(self, pooled, tokens=None):
        """Every block's pooled output ``[batch, depth, dim]``: the stored
        rows of the frozen blocks, then the tuned blocks' run on
        ``tokens`` (those entering the first tuned block)."""
        if tokens is None:
            return pooled
        rows = [pooled]
        for block in self.blocks:
            tokens = block(tokens)
            rows.append(pool_vector(self.norm(tokens), self.pooling)[:, None])
        return torch.cat(rows, dim=1)

    def forward(self, pooled, tokens=None):
        """Logits ``[batch, n_labels]``: the head's, with dropout between
        its norm and its linear layer in training."""
        rows = self.rows(pooled, tokens)
        vector = self.head.combine(rows) if self.every_block else rows[:, -1:]
        return norm_then_linear(self.head, vector, self.dropout).squeeze(1)


def encoder_rows(encoder, feats, first=None):
    """What a transfer stores of normalised features ``[batch, frames,
    mel]`` (every clip filling them): each block's tokens through the
    final norm and pooled (``encoder.block_pooling``), ``[batch, depth,
    dim]``, and the tokens entering block ``first`` (None: not kept).

    Example
    -------
    >>> from ast_lobes import AudioSpectrogramTransformer
    >>> encoder = AudioSpectrogramTransformer(model_size=None, embed_dim=8,
    ...     depth=2, num_heads=2, target_length=32, fstride=16,
    ...     tstride=16).eval()
    >>> fbank = torch.randn(2, 32, 128)
    >>> rows, tokens = encoder_rows(encoder, fbank, first=1)
    >>> rows.shape, tokens.shape
    (torch.Size([2, 2, 8]), torch.Size([2, 18, 8]))
    >>> torch.allclose(rows[:, -1:], encoder(fbank), atol=1e-6)
    True
    """
    tokens, _ = encoder.embed(feats)
    rows, entering = [], None
    for index, block in enumerate(encoder.blocks):
        if index == first:
            entering = tokens
        tokens = block(tokens)
        rows.append(pool_vector(encoder.norm(tokens), encoder.block_pooling))
    return torch.stack(rows, dim=1), entering


def encoder_precision(encoder, precision="auto", force=False):
    """The precision the stored outputs are computed in: ``auto`` (the
    fastest mode of this CPU among those that run PyTorch's blocks, whose
    outputs are read), or a mode as given (a slow one refused unless
    ``force``)."""
    device = str(next(encoder.parameters()).device)
    return decide_precision(precision, device, force=force, merging=True,
                            shape=probe_shape(encoder))  # fmt: skip


class StoredOutputs:
    """Computes what a transfer stores with an encoder converted to a
    precision (a copy: the encoder itself stays fp32)."""

    def __init__(self, pipeline, precision, first):
        encoder = copy.deepcopy(pipeline.bare_encoder).cpu()
        converted = set_inference_precision(encoder, precision, force=True)
        self.encoder = converted.module
        self.precision = precision
        self.first = first
        self.features = pipeline.features

    @torch.inference_mode()
    def __call__(self, wavs, lens):
        """``{"pooled": [batch, depth, dim], "tokens": ...}`` (float32
        numpy arrays; tokens only with tuned blocks)."""
        feats, frame_lens = self.features(wavs, lens)
        if bool((frame_lens < 1).any()):
            raise ValueError(
                "stored outputs need clips padded to "
                "target_length (frame lengths below 1)"
            )
        dtype = self.encoder.patch_embed.proj.weight.dtype
        autocast = (
            torch.autocast("cpu", dtype=torch.bfloat16)
            if self.precision == "bf16-autocast" else contextlib.nullcontext()
        )  # fmt: skip
        with autocast:
            rows, tokens = encoder_rows(
                self.encoder, feats.to(dtype), self.first
            )
        out = {"pooled": rows.float().numpy()}
        if tokens is not None:
            out["tokens"] = tokens.float().numpy()
        return out


def store_settings(hparams, precision, first):
    """What the stored rows depend on besides the clips (the store's
    key): the source's weights, the architecture, the front end, the
    pooling, the precision and the first tuned block."""
    encoder = hparams["encoder"]
    config = encoder.config.as_dict()
    config.pop("pooling")
    return {
        "source_weights": weights_digest(encoder),
        "architecture": value_digest(config),
        "front_end": front_end_settings(
            hparams["compute_features"], hparams["normalize"]
        ),
        "pooling": encoder.block_pooling,
        "precision": precision,
        "first_tuned_block": first,
    }


def stored_features(hparams, datasets, manifests, precision, first):
    """Each split's stored rows (``{split: {name: array}}``), computed
    where missing or stale (the encoder is converted only then), a batch
    of ``feature_batch_size`` clips at a time, with progress lines and
    the time budget's deadline."""
    folder = hparams["features_folder"]
    settings = store_settings(hparams, precision, first)
    encoder = hparams["encoder"]
    depth, dim = len(encoder.blocks), encoder.embed_dim
    shapes = {"pooled": (depth, dim)}
    if first < depth:
        frames = hparams["compute_features"].target_length
        grid = encoder.patch_grid(frames, encoder.input_fdim)
        shapes["tokens"] = (grid[0] * grid[1] + 2, dim)
    deadline = None
    budget = optional(hparams, "time_budget")
    if budget:
        deadline = (run_started() or time.monotonic()) + 60 * float(budget)
    compute = None
    arrays = {}
    for split in sorted(manifests, key=("train", "valid", "test").index):
        clips = clip_digests(manifests[split])
        store = FeatureStore(folder, split, shapes)
        todo = store.open(list(clips), list(clips.values()), settings)
        if todo:
            if compute is None:
                front = AudioClassificationPipeline(
                    hparams["compute_features"], hparams["normalize"],
                    encoder, nn.Identity(),
                )  # fmt: skip
                compute = StoredOutputs(front, precision, first)
                logger.info(
                    "storing the encoder's outputs (%s) in %s", precision,
                    folder,
                )  # fmt: skip
            batches = computed_batches(
                datasets[split], todo, compute,
                hparams["feature_batch_size"], hparams["num_workers"],
            )  # fmt: skip
            fill_store(store, batches, len(todo), deadline)
        arrays[split] = store.finish()
    return arrays


def computed_batches(dataset, indices, compute, batch_size, num_workers):
    """``(indices, rows)`` of the clips ``indices`` of an audio dataset,
    read a batch at a time."""
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, indices),
        batch_size=batch_size, num_workers=num_workers,
        collate_fn=PaddedBatch,
    )  # fmt: skip
    start = 0
    for batch in loader:
        wavs, lens = batch.sig
        yield indices[start : start + len(wavs)], compute(wavs, lens)
        start += len(wavs)


def targets_of(manifest, label_encoder):
    """``[clips, n_classes]`` targets of a manifest's rows, in order."""
    data = sb.dataio.dataio.load_data_csv(manifest)
    return torch.stack([
        clip_targets(row["label"], label_encoder, f"{row['wav']}: ", manifest)
        for row in data.values()
    ])  # fmt: skip


def class_weights(manifest, label_encoder, multi_label):
    """Weights of the classes in the loss for balance: ``n / (classes x
    count)`` per class (scikit-learn's ``balanced``), or, multi-label,
    each class's negatives per positive (``pos_weight``), within [0.1,
    100].

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> _ = open(path, "w").write("ID,wav,label\\na,a.wav,x\\nb,b.wav,x\\n"
    ...                           "c,c.wav,x\\nd,d.wav,y\\n")
    >>> labels = CategoricalEncoder()
    >>> labels.update_from_iterable(["x", "y"])
    >>> [round(w, 4) for w in class_weights(path, labels, False).tolist()]
    [0.6667, 2.0]
    """
    targets = targets_of(manifest, label_encoder)
    positives = targets.sum(0).clamp(min=1)
    if multi_label:
        return ((len(targets) - positives) / positives).clamp(0.1, 100.0)
    return len(targets) / (targets.shape[1] * positives)


class TransferBrain(AudioClassificationBrain):
    """The ``AudioClassificationBrain`` over stored encoder outputs: its
    one module is a ``TransferModel``; mixup mixes the stored rows (and
    tokens) and the targets; the training loss weighs the classes by
    ``class_weights`` where given (``RunSettings`` and the rest as the
    classifier's Brain)."""

    weights = None  # class weights of the training loss

    @property
    def averaged_modules(self):
        """The module trained (its averages: ``weight_ema_epochs``)."""
        return {"model": self.modules.model}

    def compute_forward(self, batch, stage):
        """Logits ``[batch, n_labels]`` and the (possibly mixed) targets."""
        batch = batch.to(self.device)
        pooled, _ = batch.pooled
        targets, _ = batch.targets
        tokens = batch.tokens[0] if hasattr(batch, "tokens") else None
        model = self.modules.model
        if stage == sb.Stage.VALID and self.weight_average is not None:
            model = self.weight_average.averaged_modules["model"]
        mixup = self.settings["mixup"]
        if stage == sb.Stage.TRAIN and mixup is not None:
            inputs = (pooled,) if tokens is None else (pooled, tokens)
            inputs, targets = mixup.mix_features(inputs, targets)
            pooled, tokens = inputs[0], inputs[1] if len(inputs) > 1 else None
        return model(pooled, tokens), targets

    def compute_objectives(self, predictions, batch, stage):
        """The classifier's loss; in training, class-weighted."""
        if stage != sb.Stage.TRAIN or self.weights is None:
            return super().compute_objectives(predictions, batch, stage)
        logits, targets = predictions
        weights = self.weights.to(logits.device)
        if self.hparams.loss == "bce":
            return F.binary_cross_entropy_with_logits(
                logits, targets, pos_weight=weights
            )
        return F.cross_entropy(logits, targets, weight=weights)


def train_transfer(hparams, run_opts, manifests):
    """Trains a head (and the last ``tune_blocks`` blocks) on a
    pretrained encoder's stored outputs, tests and exports it.

    Arguments
    ---------
    hparams : dict
        A transfer YAML's hparams (``recipes/AudioFolder/hparams/
        cpu_transfer.yaml``): ``encoder`` (``source_encoder``),
        ``classifier``, ``compute_features``, ``normalize``,
        ``tune_blocks``, ``features_folder``, ``encoder_precision``,
        ``feature_batch_size``, the head's grid (``head_weight_decays``,
        ``head_dropouts``, ``head_epochs``, ``head_lr``,
        ``head_batch_size``), ``class_balance`` and the tuned stage's
        ``epoch_counter``, ``lr_schedule``, ``opt_class``,
        ``checkpointer`` and loader options.
    run_opts : dict
        SpeechBrain run options.
    manifests : dict
        ``train``, ``valid`` and optionally ``test`` manifests.

    Returns
    -------
    TrainedClassifier
        With ``notes``: the regularisation chosen and what was stored.
    """
    label_encoder, audio_sets = build_datasets(hparams, manifests)
    label_names = [label_encoder.ind2lab[i] for i in range(len(label_encoder))]
    encoder = hparams["encoder"]
    depth = len(encoder.blocks)
    tune = hparams["tune_blocks"]
    if isinstance(tune, bool) or not isinstance(tune, int) \
            or not 0 <= tune <= depth:  # fmt: skip
        raise RecipeOptionError(
            f"--tune_blocks {tune!r}: give a number of blocks from 0 (the "
            f"head alone) to {depth} (every block of this encoder)"
        )
    balance = hparams["class_balance"]
    if balance not in CLASS_BALANCES:
        raise RecipeOptionError(
            f"--class_balance {balance!r}: one of {', '.join(CLASS_BALANCES)}"
        )
    if optional(hparams, "test_precisions"):
        raise RecipeOptionError(
            "test_precisions: a transfer's test reads stored outputs of "
            "one precision (encoder_precision); tag the exported model "
            "with ast-tag --precision instead"
        )
    first = depth - tune
    contents = {
        "source_weights": weights_digest(encoder),
        "audio": {split: value_digest(clip_digests(path))
                  for split, path in manifests.items()},
    }  # fmt: skip
    identity = refuse_other_runs(hparams, manifests, label_names,
                                 contents=contents)  # fmt: skip
    encoder.requires_grad_(False)
    for block in encoder.blocks[first:]:
        block.requires_grad_(True)
    precision = encoder_precision(
        encoder, hparams["encoder_precision"],
        optional(hparams, "force_precision"),
    )  # fmt: skip
    arrays = stored_features(hparams, audio_sets, manifests, precision,
                             first)  # fmt: skip
    head_sets, datasets = (
        {split: feature_dataset(arrays[split], manifests[split],
                                label_encoder, last)
         for split in manifests}
        for last in (depth, first)
    )  # fmt: skip
    grid = HeadGrid(hparams, run_opts, head_sets, manifests, label_encoder,
                    identity)  # fmt: skip
    chosen = grid.choose()
    brain = grid.final_brain(chosen, datasets)
    best_key = optional(hparams, "best_key")
    test_set = datasets.get("test", datasets["valid"])
    loader = {**hparams["valid_dataloader_opts"], "collate_fn": StackedBatch}
    test_stats = test_per_class = None
    if "test" in datasets or brain.test_only:
        if tune:
            brain.evaluate(test_set, max_key=best_key,
                           test_loader_kwargs=loader)  # fmt: skip
        else:
            brain.evaluate_current_weights(test_set, loader, "test")
        test_stats = brain.last_stats
        if sb.utils.distributed.if_main_process():
            test_per_class = write_test_report(brain, hparams["output_folder"])
    thresholds = None
    if optional(hparams, "multi_label") and not brain.test_only:
        # the weights tested (or, untested, the best) are in the modules
        thresholds = calibrate_thresholds(
            brain, datasets["valid"], loader, best_key,
            tested="test" in datasets or not tune,
        )  # fmt: skip
    if sb.utils.distributed.if_main_process() and not brain.test_only:
        export_model(hparams, hparams["export_folder"], label_encoder,
                     thresholds)  # fmt: skip
    notes = {
        "head_weight_decay": chosen["weight_decay"],
        "head_dropout": chosen["dropout"],
        "encoder_precision": precision,
    }
    return TrainedClassifier(brain, label_encoder, datasets, test_stats,
                             test_per_class, notes)  # fmt: skip


def feature_dataset(arrays, manifest, label_encoder, first):
    """A split's ``StoredFeatureDataset``: the frozen blocks' rows (all
    of them without tuned blocks) and the tokens entering the first tuned
    block."""
    data = sb.dataio.dataio.load_data_csv(manifest)
    stored = {"pooled": arrays["pooled"][:, :first]}
    if "tokens" in arrays:
        stored["tokens"] = arrays["tokens"]
    return StoredFeatureDataset(
        list(data),
        targets_of(manifest, label_encoder),
        stored,
        in_memory=("pooled",),
    )


class HeadGrid:
    """The head trained for each regularisation of the grid
    (``head_weight_decays`` x ``head_dropouts``) on the frozen encoder's
    stored rows, each in ``<save_folder>/heads/<name>`` with its own
    checkpoints and metrics; the best on the validation split
    (``best_key``, then the lower loss) is the run's head, or the start
    of its tuned stage (``final_brain``)."""

    def __init__(self, hparams, run_opts, datasets, manifests,
                 label_encoder, identity):  # fmt: skip
        self.hparams = hparams
        self.run_opts = run_opts
        self.datasets = datasets
        self.manifests = manifests
        self.label_names = tuple(
            label_encoder.ind2lab[i] for i in range(len(label_encoder))
        )
        self.identity = identity
        self.best_key = optional(hparams, "best_key")
        self.initial_head = copy.deepcopy(hparams["classifier"])
        self.weights = None
        if hparams["class_balance"] == "loss":
            self.weights = class_weights(
                manifests["train"], label_encoder,
                optional(hparams, "multi_label"),
            )  # fmt: skip
        self.results = []

    def candidates(self):
        """``[{"name", "weight_decay", "dropout"}]`` of the grid."""
        return [
            {"name": f"wd{decay:g}_dropout{dropout:g}",
             "weight_decay": float(decay), "dropout": float(dropout)}
            for decay, dropout in itertools.product(
                self.hparams["head_weight_decays"],
                self.hparams["head_dropouts"],
            )
        ]  # fmt: skip

    def brain(self, model, checkpointer, overrides, opt_class):
        """A ``TransferBrain`` of ``model`` with the run's hparams and
        ``overrides`` (its counter, schedule, logs, budget)."""
        hparams = {**self.hparams, "checkpointer": checkpointer, **overrides}
        sampler = None
        if self.hparams["class_balance"] == "sampler":
            sampler = label_balanced_sampler(
                self.manifests["train"], seed=self.hparams.get("seed", 0)
            )
        brain = TransferBrain(
            modules={"model": model}, opt_class=opt_class, hparams=hparams,
            run_opts=self.run_opts, checkpointer=checkpointer,
            run_settings=RunSettings(
                label_names=self.label_names,
                after_training_share=after_training_share(
                    hparams, self.datasets
                ),
                train_sampler=sampler, keep_random_state=True,
            ),
        )  # fmt: skip
        brain.weights = self.weights
        return brain

    def fit(self, brain, batch_size, datasets=None):
        """Fits ``brain`` on the stored rows (batches of ``batch_size``;
        ``datasets``: those of the tuned blocks, else the head's)."""
        datasets = datasets or self.datasets
        train_loader = {
            **self.hparams["train_dataloader_opts"], "batch_size": batch_size,
            "collate_fn": StackedBatch,
        }  # fmt: skip
        if getattr(brain, "train_sampler", None) is not None:
            train_loader.pop("shuffle", None)
            train_loader["sampler"] = brain.train_sampler
        valid_loader = {**self.hparams["valid_dataloader_opts"],
                        "collate_fn": StackedBatch}  # fmt: skip
        brain.fit(
            brain.hparams.epoch_counter, datasets["train"], datasets["valid"],
            train_loader_kwargs=train_loader, valid_loader_kwargs=valid_loader,
        )  # fmt: skip

    def train_candidate(self, candidate):
        """Trains the head of one candidate (or finds it trained); its
        best validation ``(best_key, -loss)`` and checkpointer."""
        hparams = self.hparams
        folder = os.path.join(hparams["save_folder"], "heads",
                              candidate["name"])  # fmt: skip
        head = copy.deepcopy(self.initial_head)
        counter = sb.utils.epoch_loop.EpochCounter(hparams["head_epochs"])
        checkpointer = AtomicCheckpointer(
            folder, {"classifier": head, "counter": counter}
        )
        check_run_identity(
            checkpointer, self.identity,
            resume_anyway=optional(hparams, "resume_anyway"),
            start_over=optional(hparams, "start_over"),
        )  # fmt: skip
        model = TransferModel(hparams["encoder"], head, 0,
                              candidate["dropout"])  # fmt: skip
        metrics = os.path.join(folder, "valid_metrics.jsonl")
        overrides = {
            "epoch_counter": counter,
            "lr_schedule": ReferenceLRSchedule(
                hparams["head_lr"], hparams["head_epochs"], 1, 1.0
            ),
            "train_logger": sb.utils.train_logger.FileTrainLogger(
                os.path.join(folder, "train_log.txt")
            ),
            "metrics_file": metrics, "time_budget": None,
            "weight_ema_epochs": None,
        }  # fmt: skip
        opt_class = functools.partial(
            hparams["opt_class"], lr=hparams["head_lr"],
            weight_decay=candidate["weight_decay"],
        )  # fmt: skip
        brain = self.brain(model, checkpointer, overrides, opt_class)
        self.fit(brain, hparams["head_batch_size"])
        return best_validation(metrics, self.best_key), checkpointer

    def choose(self):
        """Trains the grid in one thread (``torch_threads``; as the time
        budget allows: at least one candidate) and returns the chosen
        candidate, with its ``checkpointer``; the grid's results go to
        ``heads.json``."""
        budget = optional(self.hparams, "time_budget")
        with torch_threads(1):
            self.train_grid(budget)
        best = max(
            self.results, key=lambda r: (r[self.best_key], -r["valid_loss"])
        )
        self.report(best)
        return best

    def train_grid(self, budget):
        """Trains the grid's heads in turn, until the time budget (at
        least one)."""
        for candidate in self.candidates():
            spent = time.monotonic() - (run_started() or time.monotonic())
            if budget and self.results and spent >= 60 * float(budget):
                logger.info(
                    "time budget spent: the head's grid stops after %d of "
                    "%d candidates", len(self.results),
                    len(self.candidates()),
                )  # fmt: skip
                break
            started = time.monotonic()
            score, checkpointer = self.train_candidate(candidate)
            self.results.append({
                **candidate, self.best_key: score[0], "valid_loss": -score[1],
                "seconds": round(time.monotonic() - started, 2),
                "checkpointer": checkpointer,
            })  # fmt: skip

    def report(self, best):
        """Logs each head's validation and writes ``heads.json``."""
        shown = [{k: v for k, v in r.items() if k != "checkpointer"}
                 for r in self.results]  # fmt: skip
        for row in shown:
            logger.info(
                "head %s: validation %s %.4f, loss %.4f (%.1f s)%s",
                row["name"], self.best_key, row[self.best_key],
                row["valid_loss"], row["seconds"],
                " <- chosen" if row["name"] == best["name"] else "",
            )  # fmt: skip
        if sb.utils.distributed.if_main_process():
            path = os.path.join(self.hparams["output_folder"], "heads.json")
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"chosen": best["name"], "candidates": shown},
                          handle, indent=1)  # fmt: skip

    def final_brain(self, chosen, datasets):
        """The run's Brain over ``hparams["classifier"]``, which takes the
        chosen head's best weights: as it is without tuned blocks (its
        weights are tested and exported), else after training the last
        ``tune_blocks`` blocks with it (``number_of_epochs``, ``lr``,
        ``batch_size``, the chosen regularisation, the time budget) on
        ``datasets``, the frozen blocks' rows and the tokens entering the
        tuned ones."""
        hparams = self.hparams
        head = hparams["classifier"]
        checkpoint = chosen["checkpointer"].find_checkpoint(
            max_key=self.best_key
        )
        chosen["checkpointer"].load_checkpoint(checkpoint)
        trained = chosen["checkpointer"].recoverables["classifier"]
        head.load_state_dict(trained.state_dict())
        tune = hparams["tune_blocks"]
        model = TransferModel(hparams["encoder"], head, tune, chosen["dropout"])
        checkpointer = hparams["checkpointer"]
        if tune:
            checkpointer.add_recoverable("tuned_blocks", model.blocks)
        opt_class = functools.partial(
            hparams["opt_class"], weight_decay=chosen["weight_decay"]
        )
        brain = self.brain(model, checkpointer, {}, opt_class)
        if tune:
            self.fit(brain, hparams["batch_size"], datasets)
        return brain


@contextlib.contextmanager
def torch_threads(count):
    """PyTorch's intra-op threads set to ``count`` inside the block. A
    head's matrices are too small to share between threads: on a 2-core
    AMD EPYC Zen 4 shared with other processes, a head epoch of 1,400
    clips took about 1 s in one thread and 10 s in two, each small
    operation waiting for the second thread's turn."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def best_validation(metrics_file, key):
    """``(best value of key, -its loss)`` over a metrics file's epochs
    (the higher the better).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.jsonl")
    >>> _ = open(path, "w").write('{"epoch": 1, "accuracy": 0.5, "loss": 1}\\n'
    ...     '{"epoch": 2, "accuracy": 0.5, "loss": 0.8}\\n')
    >>> best_validation(path, "accuracy")
    (0.5, -0.8)
    """
    with open(metrics_file, encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle if line.strip()]
    epochs = [line for line in lines if "epoch" in line and key in line]
    best = max(epochs, key=lambda line: (line[key], -line["loss"]))
    return float(best[key]), -float(best["loss"])


# The keys a transfer takes from its source, not from the data or the
# command line: the encoder's size and its front end.
SOURCE_KEYS = ("embed_dim", "depth", "sample_rate", "n_mels", "frame_shift",
               "norm_mean", "norm_std", "per_clip_mean")  # fmt: skip


def source_overrides(plain, overrides):
    """What the source of a transfer YAML (``pretrained``) decides: the
    encoder's ``embed_dim`` and ``depth`` and its front end (sample rate,
    mel bins, frame shift, normalisation), as overrides of the YAML.

    Arguments
    ---------
    plain : dict
        The YAML's plain settings (``read_plain_hparams``).
    overrides : dict
        The command line's overrides: none of ``SOURCE_KEYS`` may be
        among them (the encoder keeps its front end).

    Returns
    -------
    dict

    Raises
    ------
    RecipeOptionError
        Without a source, or with one of ``SOURCE_KEYS`` given.
    CheckpointError
        For a source that does not load.
    """
    from ast_lobes.weights.sources import load_encoder_source

    source = plain.get("pretrained")
    if not source:
        raise RecipeOptionError(
            "--pretrained: give the model to start from: a published AST "
            "name, an original .pth, a Hugging Face folder or hub id, a "
            "model folder exported by a recipe of this project, or an "
            "SSAST encoder folder (recipes/SSAST)"
        )
    given = [key for key in SOURCE_KEYS if key in overrides]
    if given:
        raise RecipeOptionError(
            f"--{given[0]}: a transfer keeps the encoder's size and front "
            f"end as {source} has them ({', '.join(SOURCE_KEYS)}); leave "
            "them out"
        )
    loaded = load_encoder_source(str(source))
    logger.info("pretrained: %s (%s)", source, loaded.kind)
    encoder = loaded.encoder
    return {"embed_dim": int(encoder.embed_dim),
            "depth": len(encoder.blocks), **loaded.front_end()}  # fmt: skip
