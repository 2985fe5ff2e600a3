"""The one path from waveforms to logits: fbank, scaling, encoder, head.

Training (``AudioClassificationBrain``), the tagger, the exported model
and the ONNX export all run ``AudioClassificationPipeline``, so a clip gets
the same features, the same padding and the same masking everywhere.

The length rule: a clip's features are those it gets alone, as in
training (its own frames, padded with zeros or cut to the front end's
``target_length``); frames beyond them, where a batch is padded to its
longest clip, are masked out of attention. With a ``target_length`` every
clip is padded to it, so nothing is masked and batch composition never
changes a clip's score. ``pad=False`` runs clips at their own frames
instead (still cut to ``target_length``): the tagger's windows shorter
than the model's window, which then cost what their frames cost.

Authors
 * AST-SpeechBrain contributors 2026
"""

import torch
from torch import nn

from ast_lobes.model.head import head_kind


class AudioClassificationPipeline(nn.Module):
    """``classifier(encoder(normalize(compute_features(wav))))``.

    Arguments
    ---------
    compute_features : ast_lobes.KaldiFbank
        The front end (waveform to log-mel fbank).
    normalize : torch.nn.Module
        The fbank scaling (``ast_lobes.FbankNormalization``).
    encoder : ast_lobes.AudioSpectrogramTransformer
        The encoder.
    classifier : torch.nn.Module
        The head, ``[batch, 1, dim]`` to ``[batch, 1, n_labels]``.

    Example
    -------
    >>> from ast_lobes import AudioSpectrogramTransformer, KaldiFbank
    >>> from ast_lobes import AudioClassificationHead, FbankNormalization
    >>> pipeline = AudioClassificationPipeline(
    ...     KaldiFbank(target_length=100), FbankNormalization("audioset"),
    ...     AudioSpectrogramTransformer(model_size=None, embed_dim=32,
    ...         depth=1, num_heads=2, target_length=100),
    ...     AudioClassificationHead(32, 3)).eval()
    >>> wavs = torch.randn(2, 16000)
    >>> pipeline(wavs, torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 3])
    >>> alone = pipeline(wavs[1:, :8000])
    >>> together = pipeline(wavs, torch.tensor([1.0, 0.5]))[1:]
    >>> torch.allclose(alone, together, atol=1e-5)
    True
    """

    def __init__(self, compute_features, normalize, encoder, classifier):
        super().__init__()
        self.compute_features = compute_features
        self.normalize = normalize
        self.encoder = encoder
        self.classifier = classifier

    @property
    def bare_encoder(self):
        """The encoder itself, also when a DDP wrapper holds it (its
        attributes are read here; the wrapper is what is called)."""
        return getattr(self.encoder, "module", self.encoder)

    @property
    def head(self):
        """The head itself, also when a DDP wrapper holds it."""
        return getattr(self.classifier, "module", self.classifier)

    @property
    def head_kind(self):
        """What the head outputs: ``clip``, ``pair`` or ``frames`` (see
        ``ast_lobes.model.head.OUTPUT_KINDS``)."""
        return head_kind(self.classifier)

    @property
    def sample_rate(self):
        """Sample rate of the front end."""
        return self.compute_features.sample_rate

    @property
    def target_length(self):
        """Frames of one model window (the model's input frames): the
        front end's ``target_length``, else the encoder's."""
        return (
            self.compute_features.target_length
            or self.bare_encoder.target_length
        )

    @property
    def window_seconds(self):
        """Seconds of audio that fill ``target_length`` (25 ms frames):
        10.255 s for 1024 frames."""
        shift = self.compute_features.frame_shift
        return ((self.target_length - 1) * shift + 25.0) / 1000

    def features(self, wavs, wav_lens=None, before_normalize=None,
                 pad=True):  # fmt: skip
        """Normalised features of waveforms, with their frame lengths.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` at ``sample_rate``.
        wav_lens : torch.Tensor or None
            Relative lengths ``[batch]``.
        before_normalize : callable or None
            Applied to the raw fbank before scaling (SpecAugment in
            training, as in the reference).
        pad : bool
            Pad each clip to the front end's ``target_length`` (the length
            rule), or keep its own frames (False; a batch is padded to its
            longest clip and the rest masked).

        Returns
        -------
        feats : torch.Tensor
            ``[batch, frames, n_mels]``.
        frame_lens : torch.Tensor
            Relative frame lengths ``[batch]``.
        """
        feats, frame_lens = self.raw_features(wavs, wav_lens, pad)
        if before_normalize is not None:
            feats = before_normalize(feats)
        return self.normalize(feats), frame_lens

    def raw_features(self, wavs, wav_lens=None, pad=True):
        """The fbank before scaling ``[batch, frames, n_mels]``, at least
        one patch of frames long, with its relative frame lengths (each
        clip padded to ``target_length``, or with ``pad=False`` at its own
        frames)."""
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        own_frames = {} if pad else {"pad": False}
        feats, frame_lens = self.compute_features(
            wavs, wav_lens, return_lengths=True, **own_frames
        )
        # an AST needs at least one patch of frames; other encoders
        # (a convnet teacher) take any length
        patch_size = getattr(self.bare_encoder, "patch_size", (1, 1))
        one_patch = patch_size[1]
        if feats.shape[1] < one_patch:
            frames = frame_lens * feats.shape[1]
            feats = nn.functional.pad(
                feats, (0, 0, 0, one_patch - feats.shape[1])
            )
            frame_lens = frames / one_patch
        return feats, frame_lens

    def embed(self, feats, frame_lens=None):
        """Encoder output of normalised features (``[batch, 1, dim]``, or
        every token for an encoder built with ``output_all_tokens``)."""
        return self.encoder(feats, frame_lens)

    def classify(self, feats, frame_lens=None):
        """Logits ``[batch, n_labels]`` of normalised features."""
        return self.classifier(self.embed(feats, frame_lens)).squeeze(1)

    def forward(self, wavs, wav_lens=None, pad=True):
        """Logits ``[batch, n_labels]`` of waveforms (``pad``: see
        ``features``)."""
        return self.classify(*self.features(wavs, wav_lens, pad=pad))

    @torch.no_grad()
    def scores(self, wavs, wav_lens=None, multi_label=True, pad=True):
        """Sigmoid (multi-label) or softmax scores ``[batch, n_labels]``
        (``pad``: see ``features``)."""
        logits = self(wavs, wav_lens, pad=pad)
        if multi_label:
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=-1)
