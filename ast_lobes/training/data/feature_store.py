"""What an encoder computed from a split's clips, stored once and reused
by every epoch and every later run: a transfer's stored features.

A store is a folder holding, per split, one ``.npy`` array per kind of
output (``<split>.<name>.npy``, one row per clip in the manifest's order)
and ``<split>.json``: the settings the rows were computed with (a digest
of the source's weights, the front end, the pooling, the precision...),
each clip's id and the digest of its audio file, and which rows are
done. A row is reused only when the settings are the same and its clip's
file is unchanged; anything else is computed again, never read. The
rows done are recorded as they are written (the arrays flushed first),
so a run that is stopped (killed, or out of its time budget) goes on
from them.

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import logging
import os
import time

import numpy as np

logger = logging.getLogger(__name__)

STORE_FORMAT = 1
# Seconds between two records of the rows done (and progress lines).
RECORD_EVERY = 20.0


class FeatureTimeError(RuntimeError):
    """The time budget ended while features were being computed."""


class FeatureStore:
    """The stored rows of one split.

    Arguments
    ---------
    folder : str
        The store's folder (created).
    split : str
        The split's name (``train``, ``valid``, ``test``).
    row_shapes : dict
        ``{name: row shape}`` of each array (float32), e.g.
        ``{"pooled": (12, 768)}``.
    clock : callable
        Seconds (``time.monotonic``; replaceable in tests).

    Example
    -------
    >>> import tempfile
    >>> store = FeatureStore(tempfile.mkdtemp(), "train", {"x": (2,)})
    >>> store.open(["a", "b"], ["d1", "d2"], {"source": "s1"})
    [0, 1]
    >>> store.write([0, 1], {"x": np.ones((2, 2))})
    >>> store.finish()["x"].shape
    (2, 2)
    >>> store.open(["a", "b"], ["d1", "d9"], {"source": "s1"})  # b changed
    [1]
    >>> store.open(["a", "b"], ["d1", "d2"], {"source": "s2"})  # new source
    [0, 1]
    """

    def __init__(self, folder, split, row_shapes, clock=time.monotonic):
        self.folder = folder
        self.split = split
        self.row_shapes = {name: tuple(shape)
                           for name, shape in row_shapes.items()}  # fmt: skip
        self.clock = clock
        self.arrays = {}
        self.meta = None

    @property
    def meta_path(self):
        """``<folder>/<split>.json``."""
        return os.path.join(self.folder, f"{self.split}.json")

    def array_path(self, name, suffix=""):
        """``<folder>/<split>.<name>.npy`` (with a suffix while built)."""
        return os.path.join(self.folder, f"{self.split}.{name}.npy{suffix}")

    def read_meta(self):
        """The stored description, or None (no store, or one this version
        does not read)."""
        try:
            with open(self.meta_path, encoding="utf-8") as handle:
                meta = json.load(handle)
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
            return None
        return meta

    def open(self, ids, digests, settings):
        """Makes the store hold ``ids`` (with their files' ``digests``) for
        ``settings``, keeping every row still valid; returns the indices
        of the rows to compute.

        Arguments
        ---------
        ids : list of str
            The clips, in the order of the rows.
        digests : list of str
            Each clip's audio digest.
        settings : dict
            Everything the rows depend on besides the clips (JSON-able).

        Returns
        -------
        list of int
        """
        os.makedirs(self.folder, exist_ok=True)
        ids, digests = list(ids), list(digests)
        settings = json.loads(json.dumps(settings, sort_keys=True))
        shapes = {name: list(shape) for name, shape in self.row_shapes.items()}
        old = self.read_meta()
        same = (
            old is not None
            and old.get("settings") == settings
            and old.get("row_shapes") == shapes
            and all(os.path.isfile(self.array_path(n)) for n in shapes)
        )
        if same and old["ids"] == ids and old["digests"] == digests:
            self.meta = old
            self.arrays = {
                name: np.load(self.array_path(name), mmap_mode="r+")
                for name in shapes
            }  # fmt: skip
            return [i for i, done in enumerate(old["done"]) if not done]
        reusable = {}
        if same:
            position = {clip: row for row, clip in enumerate(ids)}
            reusable = {
                clip: row
                for row, (clip, digest, done) in enumerate(
                    zip(old["ids"], old["digests"], old["done"], strict=True)
                )
                if done and clip in position
                and digests[position[clip]] == digest
            }  # fmt: skip
        if old is not None and not same:
            logger.info(
                "stored features of the %s split are for other settings "
                "(%s): computed again", self.split,
                ", ".join(sorted(differing(old.get("settings"), settings)))
                or "the store's layout",
            )  # fmt: skip
        self.build(ids, digests, settings, shapes, reusable)
        return [i for i, done in enumerate(self.meta["done"]) if not done]

    def build(self, ids, digests, settings, shapes, reusable):
        """New arrays for ``ids``, the ``reusable`` rows (old row by clip)
        copied from the old arrays; written beside them, then renamed over
        them (the description last)."""
        old_arrays = {}
        if reusable:
            old_arrays = {name: np.load(self.array_path(name), mmap_mode="r")
                          for name in shapes}  # fmt: skip
        done = [clip in reusable for clip in ids]
        for name, shape in shapes.items():
            array = np.lib.format.open_memmap(
                self.array_path(name, ".partial"), mode="w+",
                dtype=np.float32, shape=(len(ids), *shape),
            )  # fmt: skip
            for row, clip in enumerate(ids):
                if clip in reusable:
                    array[row] = old_arrays[name][reusable[clip]]
            array.flush()
            del array
        old_arrays.clear()
        if reusable:
            logger.info(
                "stored features of the %s split: %d of %d clips reused, "
                "%d computed again (new or changed files)", self.split,
                len(reusable), len(ids), len(ids) - len(reusable),
            )  # fmt: skip
        if os.path.isfile(self.meta_path):
            os.remove(self.meta_path)  # no description of half-moved arrays
        for name in shapes:
            os.replace(self.array_path(name, ".partial"), self.array_path(name))
        self.meta = {
            "format": STORE_FORMAT, "settings": settings,
            "row_shapes": shapes, "ids": ids, "digests": digests,
            "done": done,
        }  # fmt: skip
        self.record()
        self.arrays = {
            name: np.load(self.array_path(name), mmap_mode="r+")
            for name in shapes
        }  # fmt: skip

    def record(self):
        """Writes the description (which rows are done) atomically."""
        partial = self.meta_path + ".partial"
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(self.meta, handle)
        os.replace(partial, self.meta_path)

    def write(self, indices, rows):
        """Stores computed ``rows`` (``{name: array [len(indices), ...]}``)
        at ``indices``."""
        for name, array in self.arrays.items():
            array[list(indices)] = np.asarray(rows[name], dtype=np.float32)
        for index in indices:
            self.meta["done"][index] = True

    def flush(self):
        """Flushes the arrays, then records the rows done."""
        for array in self.arrays.values():
            array.flush()
        self.record()

    def finish(self):
        """Records the store and returns its arrays, read-only memory
        maps (``{name: array}``); every row must be done."""
        self.flush()
        missing = self.meta["done"].count(False)
        if missing:
            raise RuntimeError(f"{self.meta_path}: {missing} rows not computed")
        self.arrays = {
            name: np.load(self.array_path(name), mmap_mode="r")
            for name in self.row_shapes
        }  # fmt: skip
        return self.arrays


def differing(before, after):
    """The keys whose values differ between two settings dicts.

    Example
    -------
    >>> sorted(differing({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 0}))
    ['b', 'c']
    """
    before, after = before or {}, after or {}
    return {key for key in set(before) | set(after)
            if before.get(key) != after.get(key)}  # fmt: skip


def fill_store(store, batches, total, deadline=None, clock=time.monotonic):
    """Stores computed rows as they come, logging the clips per second
    and the minutes left and recording the rows done every
    ``RECORD_EVERY`` seconds.

    Arguments
    ---------
    store : FeatureStore
        Opened (``FeatureStore.open``).
    batches : iterable
        ``(indices, {name: array})`` of the rows to store.
    total : int
        How many rows ``batches`` gives (for the progress).
    deadline : float or None
        ``clock()`` time at which to stop (a time budget): the rows done
        are recorded, then ``FeatureTimeError`` raised.
    clock : callable
        Seconds (``time.monotonic``).

    Example
    -------
    >>> import tempfile
    >>> store = FeatureStore(tempfile.mkdtemp(), "valid", {"x": (1,)})
    >>> todo = store.open(["a", "b", "c"], ["1", "2", "3"], {})
    >>> batches = ((todo[i : i + 2], {"x": np.ones((len(todo[i : i + 2]), 1))})
    ...            for i in range(0, len(todo), 2))
    >>> fill_store(store, batches, len(todo))
    >>> float(store.finish()["x"].sum())
    3.0
    """
    started = last = clock()
    done = 0
    for indices, rows in batches:
        store.write(indices, rows)
        now = clock()
        done += len(indices)
        if now - last >= RECORD_EVERY or done == total:
            store.flush()
            last = now
            rate = done / max(now - started, 1e-9)
            logger.info(
                "encoder outputs of the %s split: %d of %d clips, %.1f "
                "clips/s, about %.1f min left", store.split, done, total,
                rate, (total - done) / rate / 60,
            )  # fmt: skip
        if deadline is not None and now >= deadline and done < total:
            store.flush()
            rate = done / max(now - started, 1e-9)
            raise FeatureTimeError(
                f"time_budget: spent while computing the encoder outputs of "
                f"the {store.split} split ({done} of {total} clips, {rate:.1f}"
                f" clips/s; about {(total - done) / rate / 60:.1f} min more); "
                f"those stored in {store.folder} are kept: run again (with "
                "more minutes) to go on from them"
            )


class StoredFeatureDataset:
    """The stored rows of a split with each clip's targets, for a Brain
    (items are dicts: collate them with SpeechBrain's ``PaddedBatch``).

    Arguments
    ---------
    ids : list of str
        The clips, in the rows' order.
    targets : torch.Tensor
        ``[clips, n_classes]``.
    arrays : dict
        ``{name: array [clips, ...]}`` (memory maps are read a row at a
        time).
    in_memory : tuple of str
        Arrays read into memory once (small ones).

    Example
    -------
    >>> import torch
    >>> data = StoredFeatureDataset(["a", "b"], torch.eye(2),
    ...                             {"pooled": np.zeros((2, 3, 4))})
    >>> item = data[1]
    >>> item["id"], item["pooled"].shape, item["targets"].tolist()
    ('b', torch.Size([3, 4]), [0.0, 1.0])
    """

    def __init__(self, ids, targets, arrays, in_memory=()):
        import torch

        self.torch = torch
        self.ids = list(ids)
        self.targets = targets
        self.arrays = {
            name: np.array(array) if name in in_memory else array
            for name, array in arrays.items()
        }  # fmt: skip
        for name, array in self.arrays.items():
            if len(array) != len(self.ids):
                raise ValueError(
                    f"{len(array)} stored {name} rows for {len(self.ids)} clips"
                )

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, index):
        item = {"id": self.ids[index], "targets": self.targets[index]}
        for name, array in self.arrays.items():
            item[name] = self.torch.from_numpy(np.array(array[index]))
        return item


class StackedBatch:
    """A batch of ``StoredFeatureDataset`` items (all of one shape) as a
    Brain reads one: ``id`` (a list) and, for every tensor, ``(stacked,
    relative lengths)`` as SpeechBrain's ``PaddedBatch`` gives them
    (every length 1); it stacks instead of padding item by item.

    Example
    -------
    >>> import torch
    >>> batch = StackedBatch([{"id": "a", "x": torch.zeros(2)},
    ...                       {"id": "b", "x": torch.ones(2)}])
    >>> batch.id, batch.x[0].tolist(), batch.x[1].tolist()
    (['a', 'b'], [[0.0, 0.0], [1.0, 1.0]], [1.0, 1.0])
    """

    def __init__(self, items):
        import torch

        self.keys = [key for key in items[0] if key != "id"]
        self.id = [item["id"] for item in items]
        ones = torch.ones(len(items))
        for key in self.keys:
            stacked = torch.stack([item[key] for item in items])
            setattr(self, key, (stacked, ones))

    def __len__(self):
        return len(self.id)

    def to(self, device):
        """The batch with its tensors on ``device``."""
        for key in self.keys:
            data, lengths = getattr(self, key)
            setattr(self, key, (data.to(device), lengths.to(device)))
        return self
