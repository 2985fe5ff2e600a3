#!/usr/bin/env python3
"""Runs every preset of the AudioFolder recipe on every small set (made
by ``make_sets.py``) and prints one table: test accuracy and wall minutes
of each run, with two reference rows, logistic regression on log-mel
statistics (scikit-learn) and the ECAPA-TDNN convnet teacher.

Each set is split once by its group column (a speaker, recording, kit,
voice pack or instrument is never in two splits; 15 % validation, 20 %
test, seed 1986), and every row uses that split; ``--seeds`` trains each
preset with several seeds on that one split (the split's seed held at
1986), and a cell is the mean over the seeds with its spread (single
runs of sets this small spread by several points). Or, with ``--n_folds
K``, each set is split into K folds by group, each fold once the
held-out one (validation and test, as ESC-50), and a cell is the mean
test accuracy over the folds at the last epoch (unbiased by the choice
of a checkpoint on those clips) with its spread. A run whose folder
already holds its result is not run again (delete the folder to measure
it again). The held-out sets (``voices``, ``instruments``) are printed
apart: they are never used to choose a setting. "Most behind the
teacher" is a row's largest gap to the teacher row, or to its own
teacher where the preset trains one (the same split and seed). A time
marked * was measured while another run shared the two cores
(``"shared_cpu": true`` in its ``result.json``).

To run (from the repository root; LOG.md beside this file records
what was measured and chosen)::

    python benchmarks/audiofolder/make_sets.py small_sets
    python benchmarks/audiofolder/run_presets.py small_sets \
        --output results/small_sets
    python benchmarks/audiofolder/run_presets.py small_sets \
        --presets logreg frames --sets drums
    python benchmarks/audiofolder/run_presets.py small_sets \
        --table_only   # what is measured
    python benchmarks/audiofolder/run_presets.py small_sets --n_folds 4 \
        --sets drums effects --output results/small_sets_folds
    python benchmarks/audiofolder/run_presets.py small_sets --sets notes \
        --seeds 1986 2 3 --presets teacher \
        teacher_then_online_mixup_student_no_noise
    python benchmarks/audiofolder/run_presets.py small_sets --sets effects \
        voices instruments --presets logreg transfer transfer_tune1 \
        --pretrained results/source_words_notes/run/model

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RECIPE = os.path.normpath(
    os.path.join(HERE, "..", "..", "recipes", "AudioFolder")
)
sys.path.insert(0, HERE)
sys.path.insert(0, RECIPE)

from make_sets import HELD_OUT, SETS  # noqa: E402

SPLIT_SEED = 1986
SPLIT = ["--group_column", "group", "--valid_share", "0.15",
         "--test_share", "0.2", "--split_seed", str(SPLIT_SEED)]  # fmt: skip
HPARAMS = os.path.join(RECIPE, "hparams")
# Every preset names its patches, stem and fbank noise (BEFORE, below,
# the rest), so that it keeps its meaning whatever cpu.yaml holds;
# cpu.yaml's own settings are teacher_then_online_mixup_student_no_noise.
# LOG.md (beside this file) says which preset was chosen over which, on
# what, and why.
FRAMES = ["--patch_size", "[128,2]", "--fstride", "128", "--tstride", "2"]
NO_STEM = ["--stem_channels", "0"]
STEM = ["--stem_channels", "16", "--stem_kind", "image"]
TIME_STEM = ["--stem_channels", "128", "--stem_kind", "time"]
PATCHES_16 = ["--patch_size", "[16,16]", "--fstride", "10", "--tstride", "10"]
WIDE = ["--embed_dim", "128", "--depth", "4", "--warmup_steps", "200"]
STUDENT = ["--teacher", "{teacher}", "--teacher_draws", "10",
           "--teacher_loss", "soft", "--teacher_weight", "0.5"]  # fmt: skip
# The teacher trained in the run's own folder with the student's
# augmentation (noise and roll included)
TEACHER_THEN_STUDENT = ["--teacher_recipe", "cnn_teacher.yaml",
                        *STUDENT[2:]]  # fmt: skip
WIDE_TIME_STEM = ["--stem_channels", "256", "--stem_kind", "time"]
TIME_IMAGE_STEM = ["--stem_channels", "256", "--stem_kind", "time_image",
                   "--image_stem_channels", "8",
                   "--image_stem_bands", "8"]  # fmt: skip
CMN = ["--per_clip_mean", "true"]
MASKS = ["--freq_mask", "24", "--time_mask", "20"]
MIXUP = ["--mixup_probability", "0.5"]
SHIFT = ["--noise_scale", "0.1", "--noise_max_shift", "10"]
NO_SHIFT = ["--noise_scale", "0", "--noise_max_shift", "0"]
EPOCHS_100 = ["--number_of_epochs", "100", "--lr_milestone_start", "75"]
ADAMW = ["--weight_decay", "0.05", "--decoupled_weight_decay", "true"]
ONLINE_TEACHER = ["--teacher_online", "true", "--teacher_draws", "0"]
TRANSFER = ["--pretrained", "{pretrained}"]
# name: (YAML, overrides, description); a {teacher} in an override is the
# set's teacher logits (the teacher row runs first).
# fmt: off
PRESETS = {
    "teacher": ("cnn_teacher.yaml", ["--teacher_draws", "10"],
                "ECAPA-TDNN convnet teacher (0.75 M), 10 stored draws"),
    "square_patches": ("cpu.yaml", [*PATCHES_16, *NO_STEM],
                       "64 x 2 AST over 16x16 patches at stride 10, no "
                       "stem (the first CPU preset)"),
    "frames": ("cpu.yaml", [*FRAMES, *NO_STEM],
               "square_patches with frame patches (128 x 2, stride 2)"),
    "frames_student": ("cpu.yaml", [*FRAMES, *NO_STEM, *STUDENT],
                       "frames, one head learning labels and the teacher"),
    "frames_student_100": ("cpu.yaml", [*FRAMES, *NO_STEM, *STUDENT,
                                        *EPOCHS_100],
                           "frames_student for 100 epochs (decay from 75)"),
    "stem_frames": ("cpu.yaml", [*FRAMES, *STEM],
                    "frame patches over a 16-channel convolutional "
                    "stem"),
    "stem_frames_mixup": ("cpu.yaml", [*FRAMES, *STEM, *MIXUP],
                          "stem_frames with mixup (half the clips, "
                          "Beta(10, 10))"),
    "stem_frames_shift": ("cpu.yaml", [*FRAMES, *STEM, *SHIFT],
                          "stem_frames with fbank noise (0.1) and time "
                          "rolls of up to 10 frames: the AST alone"),
    "time_stem_frames_shift": ("cpu.yaml", [*FRAMES, *TIME_STEM, *SHIFT],
                               "stem_frames_shift with a 128-channel time "
                               "stem (1-D convolutions over the frames) "
                               "instead of the image stem"),
    "teacher_then_time_student": ("cpu.yaml", [
        *FRAMES, *WIDE_TIME_STEM, *SHIFT, *TEACHER_THEN_STUDENT,
        *EPOCHS_100,
    ], "the teacher with noise and roll, "
       "then its student over a 256-channel time stem, 100 epochs; "
       "minutes of both"),
    "teacher_then_time_bn_student": ("cpu.yaml", [
        *FRAMES, *WIDE_TIME_STEM, "--stem_norm", "batch", *SHIFT,
        *TEACHER_THEN_STUDENT, *EPOCHS_100,
    ], "teacher_then_time_student with a BatchNorm after each of the "
       "stem's GELUs"),
    "teacher_then_time_image_student": ("cpu.yaml", [
        *FRAMES, *TIME_IMAGE_STEM, "--stem_norm", "batch", *SHIFT,
        *TEACHER_THEN_STUDENT, *EPOCHS_100,
    ], "teacher_then_time_bn_student with an 8-channel image stem beside "
       "the time stem, averaged into 8 bands"),
    "teacher_then_time_image_averaged_student": ("cpu.yaml", [
        *FRAMES, *TIME_IMAGE_STEM, "--stem_norm", "batch", *SHIFT,
        *TEACHER_THEN_STUDENT, *EPOCHS_100, "--weight_ema_epochs", "5",
    ], "teacher_then_time_image_student validated, tested and exported "
       "with its weights averaged over about 5 epochs"),
    "teacher_then_averaged_student_adamw": ("cpu.yaml", [
        *FRAMES, *TIME_IMAGE_STEM, "--stem_norm", "batch", *SHIFT,
        *TEACHER_THEN_STUDENT, *EPOCHS_100, "--weight_ema_epochs", "5",
        *ADAMW,
    ], "teacher_then_time_image_averaged_student with decoupled weight "
       "decay 0.05 (AdamW)"),
    "teacher_then_online_mixup_student": ("cpu.yaml", [
        *FRAMES, *TIME_IMAGE_STEM, "--stem_norm", "batch", *SHIFT,
        *TEACHER_THEN_STUDENT, *EPOCHS_100, "--weight_ema_epochs", "5",
        *ADAMW, *ONLINE_TEACHER, *MIXUP,
    ], "teacher_then_averaged_student_adamw with its teacher run on "
       "every batch (a new draw every epoch) and mixup of half the clips "
       "(function matching)"),
    "teacher_then_online_mixup_student_no_noise": ("cpu.yaml", [
        *FRAMES, *TIME_IMAGE_STEM, "--stem_norm", "batch", *NO_SHIFT,
        *TEACHER_THEN_STUDENT, *EPOCHS_100, "--weight_ema_epochs", "5",
        *ADAMW, *ONLINE_TEACHER, *MIXUP,
    ], "teacher_then_online_mixup_student without fbank noise or time "
       "rolls, for the teacher and the student"),
    "teacher_then_student_50_epochs": ("cpu.yaml", [
        *FRAMES, *TIME_IMAGE_STEM, "--stem_norm", "batch", *NO_SHIFT,
        *TEACHER_THEN_STUDENT, "--number_of_epochs", "50",
        "--lr_milestone_start", "37", "--weight_ema_epochs", "5",
        *ADAMW, *ONLINE_TEACHER, *MIXUP,
    ], "teacher_then_online_mixup_student_no_noise with 50 student "
       "epochs, the decay from epoch 37 (the student's stage in half)"),
    "teacher_then_student_40_epochs": ("cpu.yaml", [
        *FRAMES, *TIME_IMAGE_STEM, "--stem_norm", "batch", *NO_SHIFT,
        *TEACHER_THEN_STUDENT, "--number_of_epochs", "40",
        "--lr_milestone_start", "30", "--lr_gamma", "0.7",
        "--weight_ema_epochs", "5", *ADAMW, *ONLINE_TEACHER, *MIXUP,
    ], "teacher_then_online_mixup_student_no_noise with 40 student "
       "epochs, the decay from epoch 30 by 0.7 an epoch (the whole "
       "command in about half)"),
    "teacher_then_student_image_stride_4": ("cpu.yaml", [
        *FRAMES, *TIME_IMAGE_STEM, "--stem_norm", "batch", *NO_SHIFT,
        *TEACHER_THEN_STUDENT, *EPOCHS_100, "--weight_ema_epochs", "5",
        *ADAMW, *ONLINE_TEACHER, *MIXUP, "--image_stem_stride", "4",
    ], "teacher_then_online_mixup_student_no_noise with its image stem "
       "stepping every fourth mel bin"),
    "teacher_then_light_stems_student": ("cpu.yaml", [
        *FRAMES, *TIME_IMAGE_STEM, "--stem_norm", "batch", *NO_SHIFT,
        *TEACHER_THEN_STUDENT, *EPOCHS_100, "--weight_ema_epochs", "5",
        *ADAMW, *ONLINE_TEACHER, *MIXUP, "--image_stem_stride", "4",
        "--stem_channels", "128",
    ], "teacher_then_student_image_stride_4 with a 128-channel time stem"),
    "small_teacher_then_student_image_stride_4": ("cpu.yaml", [
        *FRAMES, *TIME_IMAGE_STEM, "--stem_norm", "batch", *NO_SHIFT,
        *TEACHER_THEN_STUDENT, *EPOCHS_100, "--weight_ema_epochs", "5",
        *ADAMW, *ONLINE_TEACHER, *MIXUP, "--image_stem_stride", "4",
        "--teacher_ecapa_channels", "[64,64,64,64,192]",
    ], "teacher_then_student_image_stride_4 with a teacher of half the "
       "channels (0.31 M parameters)"),
    "stem_frames_student": ("cpu.yaml", [*FRAMES, *STEM, *STUDENT],
                            "stem_frames learning labels and the teacher"),
    "cmn_stem_frames": ("cpu.yaml", [*FRAMES, *STEM, *CMN],
                        "stem_frames with each clip's band means removed"),
    "cmn_stem_frames_student": ("cpu.yaml", [*FRAMES, *STEM, *CMN, *STUDENT],
                                "cmn_stem_frames learning labels and the "
                                "teacher"),
    "cmn_frames_student_100": ("cpu.yaml", [*FRAMES, *NO_STEM, *CMN,
                                            *STUDENT, *EPOCHS_100],
                               "frames_student_100 with each clip's band "
                               "means removed"),
    "cmn_stem_frames_masks": ("cpu.yaml", [*FRAMES, *STEM, *CMN, *MASKS],
                              "cmn_stem_frames, SpecAugment 24 / 20"),
    "frames_wide": ("cpu.yaml", [*FRAMES, *NO_STEM, *WIDE],
                    "frame patches, 128 x 4 AST, warm-up 200 steps"),
    "frames_wide_student": ("cpu.yaml", [*FRAMES, *NO_STEM, *WIDE, *STUDENT],
                            "frames_wide learning labels and the teacher"),
    # a new head on a pretrained encoder ({pretrained}: --pretrained)
    "transfer": ("cpu_transfer.yaml", TRANSFER,
                 "cpu_transfer.yaml: a head on every block of the frozen "
                 "source, the grid chosen on validation"),
    "transfer_last_block": ("cpu_transfer.yaml",
                            [*TRANSFER, "--block_weights", "false"],
                            "transfer on the last block's output alone"),
    "transfer_tune1": ("cpu_transfer.yaml",
                       [*TRANSFER, "--tune_blocks", "1"],
                       "transfer, then the last block trained with it"),
    "transfer_tune2": ("cpu_transfer.yaml",
                       [*TRANSFER, "--tune_blocks", "2"],
                       "transfer, then the last two blocks trained with it"),
}
# fmt: on
# What a cpu.yaml preset does not name is as when the presets were first
# measured: no teacher stage, 30 epochs decayed from 20, no BatchNorm in
# the stem, no fbank noise or time roll, the trained weights (not their
# average), Adam's coupled weight decay of 5e-7, a teacher's outputs
# stored for 10 draws and no mixup.
BEFORE = [
    *("--teacher_recipe", "null", "--number_of_epochs", "30"),
    *("--lr_milestone_start", "20", "--stem_norm", "none"),
    *NO_SHIFT,
    *("--weight_ema_epochs", "0"),
    *("--weight_decay", "0.0000005", "--decoupled_weight_decay", "false"),
    *("--teacher_online", "false", "--teacher_draws", "10"),
    *("--mixup_probability", "0"),
]  # fmt: skip


def named_options(*option_lists):
    """``--key value`` lists merged, a later value of a key winning."""
    merged = {}
    for options in option_lists:
        merged.update(zip(options[::2], options[1::2], strict=True))
    return [part for pair in merged.items() for part in pair]


PRESETS = {
    name: (yaml, named_options(BEFORE, overrides), text)
    if yaml == "cpu.yaml"
    else (yaml, overrides, text)
    for name, (yaml, overrides, text) in PRESETS.items()
}
REFERENCES = ("logreg", "teacher")
FROM_SCRATCH = [name for name, (_, overrides, _) in PRESETS.items()
                if "{pretrained}" not in " ".join(overrides)]  # fmt: skip


def split_options(n_folds, seed=SPLIT_SEED):
    """The recipe's split options (one split, or ``n_folds`` folds) and
    the seed of the training on it."""
    if n_folds > 1:
        return ["--group_column", "group", "--n_folds", str(n_folds),
                "--seed", str(seed)]  # fmt: skip
    return [*SPLIT, "--seed", str(seed)]


def run_folder(output, name, preset, seed=SPLIT_SEED):
    """A run's folder: ``<set>/<preset>`` for the split's own seed,
    ``<set>/<preset>_seed<N>`` for another training seed."""
    if seed == SPLIT_SEED:
        return os.path.join(output, name, preset)
    return os.path.join(output, name, f"{preset}_seed{seed}")


def over_seeds(results):
    """One cell's result from a preset's runs with several training
    seeds: the mean accuracy and time, the accuracy's spread (population
    standard deviation, as over folds)."""
    if len(results) == 1:
        return results[0]
    accuracies = [found["accuracy"] for found in results]
    cell = {
        "accuracy": statistics.fmean(accuracies),
        "seed_std": statistics.pstdev(accuracies),
        "n_seeds": len(results),
        "seconds": statistics.fmean(found["seconds"] for found in results),
        "shared_cpu": any(found.get("shared_cpu") for found in results),
    }
    teachers = [found.get("own_teacher_accuracy") for found in results]
    if None not in teachers:
        cell["own_teacher_accuracy"] = statistics.fmean(teachers)
    return cell


def fold_accuracy(folder):
    """Mean and spread over the folds of a run at its last epoch."""
    with open(os.path.join(folder, "cross_validation.json")) as handle:
        last = json.load(handle)["last_epoch"]
    return last["mean"], last["std"]


def run_recipe(yaml, overrides, folder, table, n_folds=1, seed=SPLIT_SEED):
    """One ``train.py`` run (of every fold) with training seed ``seed``:
    its test accuracy (the mean over folds at the last epoch), spread and
    wall seconds."""
    result = os.path.join(folder, "result.json")
    if os.path.exists(result):
        with open(result) as handle:
            return json.load(handle)
    command = [
        sys.executable, os.path.join(RECIPE, "train.py"),
        os.path.join(HPARAMS, yaml), "--table", table,
        *split_options(n_folds, seed),
        "--output_folder", folder, *overrides,
    ]  # fmt: skip
    os.makedirs(folder, exist_ok=True)
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.time() - start
    with open(os.path.join(folder, "run_output.txt"), "w") as handle:
        handle.write(" ".join(command) + "\n" + done.stdout + done.stderr)
    found = re.findall(r"^test accuracy: ([0-9.]+);", done.stdout, re.M)
    if n_folds > 1 and done.returncode == 0:
        found = [fold_accuracy(folder)]
    if done.returncode != 0 or not found:
        raise SystemExit(
            f"error: {' '.join(command)} failed (exit {done.returncode}); "
            f"see {folder}/run_output.txt"
        )
    measured = {"seconds": seconds}
    if n_folds > 1:
        measured["accuracy"], measured["fold_std"] = found[-1]
        measured["n_folds"] = n_folds
    else:
        measured["accuracy"] = float(found[-1])
        if len(found) > 1 and os.path.isdir(os.path.join(folder, "teacher")):
            # the one command's teacher stage reports first
            measured["own_teacher_accuracy"] = float(found[0])
    with open(result, "w") as handle:
        json.dump(measured, handle)
    return measured


def run_logreg(folder, table, n_folds=1):
    """Logistic regression on the mean and std of each mel band over time,
    C chosen on the validation split (with folds: on the training folds);
    the split is the recipe's own."""
    result = os.path.join(folder, "result.json")
    if os.path.exists(result):
        with open(result) as handle:
            return json.load(handle)
    from logmel_baseline import (
        logmel_logistic_regression,
        logmel_logistic_regression_folds,
    )

    start = time.time()
    measured = {}
    if n_folds > 1:
        measured["accuracy"], measured["fold_std"] = (
            logmel_logistic_regression_folds(
                table, folder, split_options(n_folds), n_folds
            )
        )
        measured["n_folds"] = n_folds
    else:
        measured["accuracy"] = logmel_logistic_regression(
            table, folder, split_options(1)
        )
    measured["seconds"] = time.time() - start
    with open(result, "w") as handle:
        json.dump(measured, handle)
    return measured


def stored_results(output, sets, presets, seeds=(SPLIT_SEED,)):
    """The results already measured in ``output`` (``--table_only``), a
    cell over those of ``seeds`` that are there (logistic regression's
    once: it draws nothing)."""
    rows = {}
    for name in sets:
        for preset in presets:
            found = []
            for seed in seeds if preset != "logreg" else (SPLIT_SEED,):
                path = os.path.join(run_folder(output, name, preset, seed),
                                    "result.json")  # fmt: skip
                if os.path.exists(path):
                    with open(path) as handle:
                        found.append(json.load(handle))
            if found:
                rows[name, preset] = over_seeds(found)
    return rows


def measure(sets_dir, output, sets, presets, n_folds=1, seeds=(SPLIT_SEED,),
            pretrained=None):  # fmt: skip
    rows = {}
    for name in sets:
        table = os.path.join(sets_dir, name, "clips.csv")
        if not os.path.exists(table):
            raise SystemExit(
                f"error: {table} does not exist; build it with "
                f"make_sets.py {sets_dir} --sets {name}"
            )
        # the teacher row's logits of the same seed (and fold)
        logits = ("fold{fold}", "teacher_logits.npz") if n_folds > 1 else (
            "teacher_logits.npz",)  # fmt: skip
        for preset in presets:
            print(f"{name}: {preset} ...", flush=True)
            if preset == "logreg":
                folder = run_folder(output, name, preset)
                rows[name, preset] = run_logreg(folder, table, n_folds)
            else:
                yaml, overrides, _ = PRESETS[preset]
                runs = []
                for seed in seeds:
                    folder = run_folder(output, name, preset, seed)
                    teacher = os.path.join(
                        run_folder(output, name, "teacher", seed), *logits
                    )
                    runs.append(run_recipe(
                        yaml, [o.format(teacher=teacher, pretrained=pretrained)
                               for o in overrides],
                        folder, table, n_folds, seed,
                    ))  # fmt: skip
                rows[name, preset] = over_seeds(runs)
            found = rows[name, preset]
            print(f"{name}: {preset}: {100 * found['accuracy']:.1f} % in "
                  f"{found['seconds'] / 60:.1f} min", flush=True)  # fmt: skip
    return rows


def table_text(rows, sets, presets):
    """A Markdown table: a row per preset, a column per set."""
    tuned = [name for name in sets if name not in HELD_OUT]
    held = [name for name in sets if name in HELD_OUT]
    header = ["preset", *tuned, "worst tuned set", "most behind the teacher"]
    if held:
        header += [f"{name} (held out)" for name in held]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]  # fmt: skip

    def cell(name, preset):
        found = rows.get((name, preset))
        if found is None:
            return "-"
        shared = " *" if found.get("shared_cpu") else ""
        spread = ""
        if "fold_std" in found:
            spread = f" +- {100 * found['fold_std']:.1f}"
        if "seed_std" in found:
            spread = (f" +- {100 * found['seed_std']:.1f} "
                      f"({found['n_seeds']} seeds)")  # fmt: skip
        own = ""
        if "own_teacher_accuracy" in found:
            own = f"; its teacher {100 * found['own_teacher_accuracy']:.1f} %"
        return (f"{100 * found['accuracy']:.1f} %{spread} "
                f"({found['seconds'] / 60:.1f} min{shared}{own})")  # fmt: skip

    def teacher_accuracy(name, preset):
        """The preset's own teacher, or else the teacher row's."""
        own = rows[name, preset].get("own_teacher_accuracy")
        if own is not None:
            return own
        found = rows.get((name, "teacher"))
        return None if found is None else found["accuracy"]

    for preset in presets:
        if not any(key[1] == preset for key in rows):
            continue
        scores = [rows[n, preset]["accuracy"] for n in tuned
                  if (n, preset) in rows]  # fmt: skip
        whole = bool(tuned) and len(scores) == len(tuned)
        worst = f"{100 * min(scores):.1f} %" if whole else "-"
        gaps = [teacher_accuracy(n, preset) - rows[n, preset]["accuracy"]
                for n in tuned if (n, preset) in rows
                and teacher_accuracy(n, preset) is not None]  # fmt: skip
        behind = "-"
        if whole and len(gaps) == len(tuned) and preset not in REFERENCES:
            behind = f"{100 * max(gaps):.1f} points"
            if max(gaps) < 0:
                behind = f"none (ahead by {-100 * max(gaps):.1f})"
        label = preset if preset not in REFERENCES else f"{preset} (reference)"
        cells = [label, *(cell(n, preset) for n in tuned), worst, behind]
        cells += [cell(n, preset) for n in held]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets_dir")
    parser.add_argument("--output", default="results/small_sets")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=SETS)
    parser.add_argument(
        "--presets", nargs="+", choices=["logreg", *PRESETS],
        default=["logreg", *FROM_SCRATCH],
        help="default: every preset but the transfer ones (those need "
        "--pretrained)",
    )  # fmt: skip
    parser.add_argument(
        "--n_folds",
        type=int,
        default=1,
        help="K folds by group instead of one split; a "
        "cell is the mean over folds at the last epoch",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[SPLIT_SEED],
        help="training seeds on the one split (its seed held at "
        f"{SPLIT_SEED}); a cell is the mean over them and their spread",
    )
    parser.add_argument("--table_only", action="store_true",
                        help="print the results already measured")  # fmt: skip
    parser.add_argument(
        "--pretrained",
        default=None,
        help="the source of the transfer presets (a model "
        "folder, a published AST...; make_source.py)",
    )
    args = parser.parse_args(argv)
    if not args.pretrained and not args.table_only and any(
        "{pretrained}" in " ".join(PRESETS[p][1]) for p in args.presets
        if p in PRESETS
    ):  # fmt: skip
        parser.error("the transfer presets need --pretrained SOURCE")
    if args.n_folds > 1 and args.seeds != [SPLIT_SEED]:
        parser.error("--seeds and --n_folds: choose one (a spread over "
                     "training seeds, or over folds)")  # fmt: skip
    presets = list(args.presets)
    if any("{teacher}" in " ".join(PRESETS[p][1]) for p in presets
           if p in PRESETS) and "teacher" in presets:  # fmt: skip
        presets.remove("teacher")
        presets.insert(0, "teacher")
    if args.table_only:
        if not os.path.isdir(args.output):
            parser.error(f"{args.output}: no results there (--output names "
                         "the folder a measuring run wrote)")  # fmt: skip
        rows = stored_results(args.output, args.sets, presets, args.seeds)
    else:
        rows = measure(args.sets_dir, args.output, args.sets, presets,
                       args.n_folds, args.seeds, args.pretrained)  # fmt: skip
    text = table_text(rows, args.sets, presets)
    print("\n" + text)
    with open(os.path.join(args.output, "table.md"), "w") as handle:
        handle.write(text + "\n")


if __name__ == "__main__":
    main()
