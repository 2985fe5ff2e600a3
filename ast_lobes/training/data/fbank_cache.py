"""Each clip's fbank computed once and kept in memory for the epochs that
follow: the fbank of a clip's file does not change from epoch to epoch
(SpecAugment, the scaling and the fbank noise act on it afterwards), so
only mixed clips, whose waveform is new every time, are computed again.

Authors
 * AST-SpeechBrain contributors 2026
"""

import hashlib
import logging
import os

import torch

from ast_lobes.audio.fbank import KaldiFbank

logger = logging.getLogger(__name__)

MIB = 1024 * 1024


def samples_signatures(wavs, sizes):
    """``(samples, BLAKE2b digest of their bytes)`` of each row's first
    ``sizes[i]`` samples: equal only for the same samples in the same
    order.

    Example
    -------
    >>> wave = torch.arange(4.0)
    >>> a, b = samples_signatures(torch.stack([wave, wave.flip(0)]),
    ...                           torch.tensor([4, 4]))
    >>> a[0] == b[0], a == b
    (True, False)
    """
    rows = wavs.detach().to("cpu", torch.float32)
    return [
        (int(size), hashlib.blake2b(
            row[: int(size)].contiguous().numpy().tobytes(), digest_size=16
        ).hexdigest())
        for row, size in zip(rows, sizes, strict=True)
    ]  # fmt: skip


def physical_memory_mib():
    """The machine's memory in MiB, or None where the system does not
    say (``os.sysconf``).

    Example
    -------
    >>> physical_memory_mib() is None or physical_memory_mib() > 0
    True
    """
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages / MIB if pages > 0 else None


class FbankCacheSettingError(ValueError):
    """``fbank_cache_mb`` is not a number of MiB."""


class FbankCache:
    """Clips' fbank rows before SpecAugment and scaling (float32,
    ``target_length x n_mels`` each: 1-s clips of 98 frames and 128 bands
    50 KB, 5-s clips of 500 frames 256 KB), up to ``limit_mb`` MiB; a
    clip past the limit is computed every time it is read, as without a
    cache, and the log says so once.

    A row is the front end's own output for the clip alone (a batch's
    fbank is computed clip by clip), so a batch of kept rows equals the
    batch computed from the waveforms, value for value. A row is read
    back only for the same key (the split and the clip's ID), the same
    number of samples and the same digest of samples (a clip whose audio
    differs is computed again and its row replaced). The digest is of the
    samples' bytes in order (BLAKE2b), not their sum: a 16-bit file
    reversed, or with its samples moved, has the same exact sum and
    another fbank.

    Arguments
    ---------
    limit_mb : float
        MiB the rows may take (0: no cache; at most the machine's
        memory).

    Example
    -------
    >>> from ast_lobes import AudioClassificationPipeline, FbankNormalization
    >>> pipeline = AudioClassificationPipeline(
    ...     KaldiFbank(target_length=100), FbankNormalization((0.0, 1.0)),
    ...     torch.nn.Identity(), torch.nn.Identity())
    >>> cache = FbankCache(limit_mb=1)
    >>> wavs = torch.randn(2, 16000)
    >>> first, _ = cache.raw_features(pipeline, ["a", "b"], wavs)
    >>> again, _ = cache.raw_features(pipeline, ["a", "b"], wavs)
    >>> bool(torch.equal(first, again)), cache.computed, cache.reused
    (True, 2, 2)
    """

    def __init__(self, limit_mb):
        number = isinstance(limit_mb, (int, float)) and not isinstance(
            limit_mb, bool
        )
        if not number or not 0 <= limit_mb < float("inf"):
            raise FbankCacheSettingError(
                f"fbank_cache_mb is {limit_mb!r}; give MiB >= 0 (0: none)"
            )
        memory = physical_memory_mib()
        if memory is not None and limit_mb > memory:
            raise FbankCacheSettingError(
                f"fbank_cache_mb is {limit_mb:g}, more than this machine's "
                f"memory ({memory:.0f} MiB); give at most that (0: none)"
            )
        self.limit_bytes = float(limit_mb) * MIB
        self.rows = {}
        self.bytes = 0
        self.computed = 0  # clips whose fbank was computed
        self.reused = 0  # clips whose kept row was read
        self.full_logged = False

    @staticmethod
    def applies_to(front_end):
        """True for a ``KaldiFbank`` that pads every clip to its
        ``target_length`` (rows of one shape; another front end is not
        known to be deterministic)."""
        return isinstance(front_end, KaldiFbank) and bool(
            front_end.target_length
        )

    def describe(self, front_end):
        """One line: what a clip costs and how many the limit holds."""
        row = front_end.target_length * front_end.n_mels * 4
        clips = int(self.limit_bytes // row)
        return (
            f"fbank kept in memory: {front_end.target_length} frames x "
            f"{front_end.n_mels} bands = {row / 1024:.0f} KB a clip, up to "
            f"{clips} clips in {self.limit_bytes / MIB:g} MiB "
            "(fbank_cache_mb)"
        )

    def raw_features(self, pipeline, keys, wavs, wav_lens=None, fresh=None):
        """``pipeline.raw_features(wavs, wav_lens)`` (the fbank before
        scaling and its relative frame lengths), with every clip's row
        read from the cache where it is kept, the others computed (and
        kept, within the limit, unless ``fresh``).

        Arguments
        ---------
        pipeline : ast_lobes.AudioClassificationPipeline
            Its front end computes what is not kept.
        keys : list
            One hashable key a clip (the split and the clip's ID).
        wavs, wav_lens : torch.Tensor
            ``[batch, samples]`` and relative lengths (None: whole rows).
        fresh : torch.Tensor or None
            ``[batch]`` bool: clips whose waveform is new (mixed), computed
            and not kept.

        Returns
        -------
        tuple
            ``(feats [batch, frames, n_mels], frame_lens [batch])``.
        """
        if not self.limit_bytes or not self.applies_to(
            pipeline.compute_features
        ):
            return pipeline.raw_features(wavs, wav_lens)
        n_samples = wavs.shape[-1]
        if wav_lens is None:
            sizes = torch.full((wavs.shape[0],), n_samples)
        else:
            sizes = torch.round(wav_lens.cpu() * n_samples).long()
        fresh = [False] * len(keys) if fresh is None else fresh.tolist()
        signatures = samples_signatures(wavs, sizes)
        found, missing = {}, []
        for index, key in enumerate(keys):
            kept = None if fresh[index] else self.rows.get(key)
            signature = signatures[index]
            if kept is not None and kept[0] == signature:
                found[index] = kept[1:]
            else:
                missing.append(index)
        self.reused += len(found)
        if missing:
            self.computed += len(missing)
            rows = torch.tensor(missing, device=wavs.device)
            lens = None if wav_lens is None else wav_lens[rows]
            feats, frame_lens = pipeline.raw_features(wavs[rows], lens)
            for at, index in enumerate(missing):
                found[index] = (feats[at], frame_lens[at])
                if not fresh[index]:
                    self.keep(keys[index], signatures[index], feats[at],
                              frame_lens[at])  # fmt: skip
        order = range(len(keys))
        device = wavs.device
        feats = torch.stack([found[i][0].to(device) for i in order])
        frame_lens = torch.stack([found[i][1].to(device) for i in order])
        return feats, frame_lens

    def keep(self, key, signature, row, frame_len):
        """Keeps a clip's row (a copy on the CPU) within the limit."""
        old = self.rows.pop(key, None)
        if old is not None:
            self.bytes -= old[1].numel() * old[1].element_size()
        size = row.numel() * row.element_size()
        if self.bytes + size > self.limit_bytes:
            if not self.full_logged:
                logger.info(
                    "fbank cache full (%d clips, fbank_cache_mb %g): the "
                    "fbank of the other clips is computed every epoch",
                    len(self.rows), self.limit_bytes / MIB,
                )  # fmt: skip
                self.full_logged = True
            return
        self.rows[key] = (
            signature, row.detach().to("cpu", copy=True),
            frame_len.detach().to("cpu", copy=True),
        )  # fmt: skip
        self.bytes += size
