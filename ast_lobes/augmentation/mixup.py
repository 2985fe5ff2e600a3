"""Waveform mixup with label mixing, as the reference AST trains with it.

Authors
 * AST-SpeechBrain contributors 2026
"""

import torch


def valid_sample_mask(wavs, lens):
    """``[batch, samples]`` True inside each clip's relative length."""
    n_samples = wavs.shape[1]
    sizes = torch.round(lens * n_samples).long()
    positions = torch.arange(n_samples, device=wavs.device)
    return positions.unsqueeze(0) < sizes.unsqueeze(1)


def remove_mean(wavs, mask):
    """Subtracts each clip's mean over its valid samples; zeros the rest."""
    counts = mask.sum(dim=1, keepdim=True).clamp(min=1)
    means = (wavs * mask).sum(dim=1, keepdim=True) / counts
    return (wavs - means) * mask


def mix_batch(wavs, lens, targets, partners, lambdas):
    """Mixes every clip with the clip ``partners[i]`` of the same batch.

    Both clips have their mean removed; the partner is cut or zero-padded
    to the first clip's length; the mix ``l * first + (1 - l) * partner``
    has its mean removed again and keeps the first clip's length. Targets
    are mixed with the same ``l``. A clip of weight 1 is returned as it
    was given (the fbank removes a clip's mean itself), so its fbank is
    the one of its file, which can be kept from epoch to epoch.

    Arguments
    ---------
    wavs : torch.Tensor
        ``[batch, samples]``, zero-padded.
    lens : torch.Tensor
        Relative lengths ``[batch]``.
    targets : torch.Tensor
        ``[batch, n_classes]`` one- or multi-hot.
    partners : torch.Tensor
        ``[batch]`` index of each clip's partner.
    lambdas : torch.Tensor
        ``[batch]`` weight of the first clip (1 leaves it unmixed).

    Returns
    -------
    tuple
        ``(wavs, lens, targets)``.

    Example
    -------
    >>> wavs = torch.tensor([[1.0, -1.0], [2.0, 0.0]])
    >>> targets = torch.eye(2)
    >>> partners, lambdas = torch.tensor([1, 0]), torch.tensor([0.5, 1.0])
    >>> mixed, _, soft = mix_batch(
    ...     wavs, torch.ones(2), targets, partners, lambdas)
    >>> mixed  # the second clip, of weight 1, as it was
    tensor([[ 1., -1.],
            [ 2.,  0.]])
    >>> soft
    tensor([[0.5000, 0.5000],
            [0.0000, 1.0000]])
    """
    mask = valid_sample_mask(wavs, lens)
    centred = remove_mean(wavs.float(), mask)
    weights = lambdas.to(centred).unsqueeze(1)
    mixed = weights * centred + (1 - weights) * centred[partners] * mask
    mixed = remove_mean(mixed, mask)
    mixed = torch.where(weights == 1, wavs.float(), mixed)
    weights = weights.to(targets.dtype)
    targets = weights * targets + (1 - weights) * targets[partners]
    return mixed.to(wavs.dtype), lens, targets


class Mixup:
    """Mixup of waveforms and targets within a training batch.

    With probability ``probability`` each clip is mixed with another clip
    of the batch chosen at random (never itself) with a weight drawn from
    ``Beta(alpha, alpha)``, and its targets with the same weight (see
    ``mix_batch``). The reference draws the partner from the whole
    dataset; drawing it from the shuffled batch is equivalent in
    distribution up to the batch's own sampling. The Brain calls it in the
    training stage only.

    Arguments
    ---------
    probability : float
        Chance that a clip is mixed (0.5 AudioSet, 0.6 Speech Commands).
    alpha : float
        Beta distribution parameter (10 in the reference).

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> mixup = Mixup(probability=1.0)
    >>> wavs, lens, targets = mixup(
    ...     torch.randn(4, 1600), torch.ones(4), torch.eye(4))
    >>> targets.sum(dim=1)
    tensor([1., 1., 1., 1.])
    >>> bool((targets.diagonal() < 1).all())
    True
    """

    def __init__(self, probability=0.5, alpha=10.0):
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"mixup probability {probability} not in [0, 1]")
        self.probability = probability
        self.beta = torch.distributions.Beta(
            torch.tensor(float(alpha)), torch.tensor(float(alpha))
        )

    def draw(self, batch):
        """``(partners, lambdas)`` of a batch of ``batch`` clips: each
        clip's partner (never itself) and its own weight (1: unmixed)."""
        offsets = torch.randint(1, batch, (batch,))
        partners = (torch.arange(batch) + offsets) % batch
        lambdas = self.beta.sample((batch,))
        unmixed = torch.rand(batch) >= self.probability
        lambdas[unmixed] = 1.0
        return partners, lambdas

    def __call__(self, wavs, lens, targets):
        """Mixes a batch; returns ``(wavs, lens, targets)``."""
        return self.mix(wavs, lens, targets)[:3]

    def mix(self, wavs, lens, targets):
        """Mixes a batch; returns ``(wavs, lens, targets, mixed)``, where
        ``mixed`` (``[batch]``, bool) marks the clips that were mixed (the
        others are as they were given).

        Example
        -------
        >>> _ = torch.manual_seed(0)
        >>> wavs = torch.randn(6, 800)
        >>> out, _, _, mixed = Mixup(0.5).mix(wavs, torch.ones(6), torch.eye(6))
        >>> bool(torch.equal(out[~mixed], wavs[~mixed])), bool(mixed.any())
        (True, True)
        """
        batch = wavs.shape[0]
        if batch < 2 or self.probability == 0:
            return wavs, lens, targets, torch.zeros(batch, dtype=torch.bool)
        partners, lambdas = self.draw(batch)
        wavs, lens, targets = mix_batch(
            wavs, lens, targets, partners.to(wavs.device), lambdas
        )
        return wavs, lens, targets, lambdas < 1

    def mix_features(self, inputs, targets):
        """Mixes stored features of a batch (a tuple of tensors ``[batch,
        ...]``, e.g. an encoder's pooled outputs and tokens, each mixed
        with the same partners and weights) and their targets:
        ``l * x + (1 - l) * x[partner]``. Returns ``(inputs, targets)``.

        Example
        -------
        >>> _ = torch.manual_seed(0)
        >>> feats = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
        >>> (mixed,), targets = Mixup(1.0).mix_features((feats,), torch.eye(2))
        >>> torch.allclose(mixed[0], targets[0, 1].repeat(2))
        True
        """
        batch = targets.shape[0]
        if batch < 2 or self.probability == 0:
            return inputs, targets
        partners, lambdas = self.draw(batch)
        partners = partners.to(targets.device)
        mixed = []
        for tensor in inputs:
            weights = lambdas.to(tensor).view(-1, *[1] * (tensor.dim() - 1))
            mixed.append(weights * tensor + (1 - weights) * tensor[partners])
        weights = lambdas.to(targets).unsqueeze(1)
        targets = weights * targets + (1 - weights) * targets[partners]
        return tuple(mixed), targets
