"""Train/valid/test splits and cross-validation folds of labelled clips:
stratified by label, seeded, and grouped (the clips of one source never
in two splits).

Multi-label clips are stratified by their first label.

Authors
 * AST-SpeechBrain contributors 2026
"""

from collections import Counter

from sklearn.model_selection import StratifiedGroupKFold

from ast_lobes.audio.names import same_file
from ast_lobes.training.data.labelled_audio import DataError, listing


def group_of(clip):
    """The clip's group, or the clip alone (its real path, however the
    table spelled it)."""
    return clip.group or same_file(clip.path)


def one_fold_out(clips, share, seed):
    """``(kept, held_out)``: about ``share`` of the clips held out,
    stratified by first label and grouped (one fold of ``1 / share``
    folds; a larger share when no class has that many clips)."""
    labels = [clip.labels[0] for clip in clips]
    largest = max(Counter(labels).values())
    n_splits = max(2, min(round(1 / share), largest))
    splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
    groups = [group_of(clip) for clip in clips]
    kept, held = next(splitter.split(clips, labels, groups))
    return [clips[i] for i in kept], [clips[i] for i in held]


def check_enough_clips(clips, needed, what):
    """Every class has at least ``needed`` clips, or ``DataError``."""
    counts = Counter(label for clip in clips for label in clip.labels)
    few = sorted(label for label, count in counts.items() if count < needed)
    if few:
        raise DataError(
            f"classes with fewer than {needed} clips, too few for {what}: "
            + listing(f"{label} ({counts[label]})" for label in few)
        )


def assign_splits(clips, valid_share=0.1, test_share=0.1, seed=0):
    """Sets ``split`` of every clip (train, valid, test) unless the data
    gave them all.

    Example
    -------
    >>> from ast_lobes.training.data.labelled_audio import Clip
    >>> clips = [Clip(f"{i}.wav", ("ab"[i % 2],)) for i in range(20)]
    >>> splits = [c.split for c in assign_splits(clips, 0.2, 0.2)]
    >>> sorted(Counter(splits).items())
    [('test', 4), ('train', 12), ('valid', 4)]
    """
    if all(clip.split for clip in clips):
        check_classes_in_train(clips)
        return clips
    check_enough_clips(clips, 3, "a train/valid/test split")
    rest, test = one_fold_out(clips, test_share, seed)
    train, valid = one_fold_out(rest, valid_share / (1 - test_share), seed)
    for split, part in (("train", train), ("valid", valid), ("test", test)):
        for clip in part:
            clip.split = split
    check_classes_in_train(clips)
    return clips


def assign_folds(clips, n_folds=5, seed=0):
    """Sets ``fold`` (``1`` to ``n_folds``) of every clip unless the data
    gave them all; stratified and grouped.

    Example
    -------
    >>> from ast_lobes.training.data.labelled_audio import Clip
    >>> clips = [Clip(f"{i}.wav", ("ab"[i % 2],)) for i in range(10)]
    >>> sorted(Counter(c.fold for c in assign_folds(clips, 5)).items())
    [('1', 2), ('2', 2), ('3', 2), ('4', 2), ('5', 2)]
    """
    if not all(clip.fold for clip in clips):
        check_enough_clips(clips, 2, f"{n_folds}-fold cross-validation")
        splitter = StratifiedGroupKFold(
            n_folds, shuffle=True, random_state=seed
        )
        labels = [clip.labels[0] for clip in clips]
        groups = [group_of(clip) for clip in clips]
        for fold, (_, held) in enumerate(
            splitter.split(clips, labels, groups), start=1
        ):
            for index in held:
                clips[index].fold = str(fold)
    for fold in sorted({clip.fold for clip in clips}):
        for clip in clips:
            clip.split = "test" if clip.fold == fold else "train"
        check_classes_in_train(clips, f"fold {fold}: ")
    return clips


def check_classes_in_train(clips, where=""):
    """Every label of valid and test clips occurs in training, and no
    group is in two splits; else ``DataError``."""
    train = {label for clip in clips if clip.split == "train"
             for label in clip.labels}  # fmt: skip
    unseen = sorted(
        {label for clip in clips if clip.split != "train"
         for label in clip.labels} - train
    )  # fmt: skip
    if unseen:
        raise DataError(
            f"{where}classes only in valid or test, never trained on: "
            f"{listing(unseen)}"
        )
    splits = {}
    for clip in clips:
        if clip.group:
            splits.setdefault(clip.group, set()).add(clip.split)
    shared = sorted(group for group, seen in splits.items() if len(seen) > 1)
    if shared:
        raise DataError(
            f"{where}groups in more than one split: {listing(shared)}"
        )
