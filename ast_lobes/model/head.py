"""Classification head of the AST (LayerNorm then Linear).

Authors
 * AST-SpeechBrain contributors 2026
"""

import torch
from torch import nn

# What a head outputs, declared by each head class as ``output_kind``:
# ``clip`` logits, a ``pair`` of cls and distillation logits (``pair()``),
# or ``frames``, scores per time step (``frame_scores()``) pooled to clip
# logits.
OUTPUT_KINDS = ("clip", "pair", "frames")


def head_kind(head):
    """The ``output_kind`` of a head, also when a DDP wrapper holds it; a
    head from elsewhere (another toolkit's classifier) gives clip logits.

    Example
    -------
    >>> head_kind(FrameLevelHead(8, 3)), head_kind(nn.Linear(8, 3))
    ('frames', 'clip')
    """
    return getattr(getattr(head, "module", head), "output_kind", "clip")


class AudioClassificationHead(nn.Module):
    """LayerNorm followed by a linear layer, giving logits.

    Arguments
    ---------
    input_size : int
        Embedding dimension of the encoder.
    n_labels : int
        Number of output classes.
    norm_eps : float
        LayerNorm epsilon (1e-5 in the reference head).

    Example
    -------
    >>> import torch
    >>> head = AudioClassificationHead(64, 10)
    >>> head(torch.randn(4, 1, 64)).shape
    torch.Size([4, 1, 10])
    """

    output_kind = "clip"

    def __init__(self, input_size, n_labels, norm_eps=1e-5):
        super().__init__()
        add_norm_and_linear(self, input_size, n_labels, norm_eps)

    def forward(self, x):
        """Logits ``[..., n_labels]`` for embeddings ``[..., input_size]``."""
        return norm_then_linear(self, x)


def add_norm_and_linear(head, input_size, n_labels, norm_eps):
    """Gives ``head`` a clip head's layers: ``norm`` (LayerNorm of
    ``input_size``) then ``linear`` (to ``n_labels``), registered in this
    order (after any the head registered before).

    Example
    -------
    >>> head = nn.Module()
    >>> add_norm_and_linear(head, 8, 3, 1e-6)
    >>> head.norm.eps, head.linear.out_features
    (1e-06, 3)
    """
    head.norm = nn.LayerNorm(input_size, eps=norm_eps)
    head.linear = nn.Linear(input_size, n_labels)


def norm_then_linear(head, x, dropout=None):
    """``head.linear(dropout(head.norm(x)))``: the logits of a head with
    ``add_norm_and_linear``'s layers, with ``dropout`` (a module, or
    None: none) between the norm and the linear layer.

    Example
    -------
    >>> head = AudioClassificationHead(8, 3)
    >>> x = torch.randn(2, 8)
    >>> torch.equal(norm_then_linear(head, x), head.linear(head.norm(x)))
    True
    >>> dropped = norm_then_linear(head, x, nn.Dropout(1.0))
    >>> torch.equal(dropped, head.linear.bias.expand(2, 3))
    True
    """
    normed = head.norm(x)
    if dropout is not None:
        normed = dropout(normed)
    return head.linear(normed)


class DistillationHead(nn.Module):
    """Two heads, DeiT style: one on the cls token (trained on the labels)
    and one on the distillation token (trained on a teacher's outputs).

    It takes the encoder's ``cls_dist_pair`` output ``[batch, 2, dim]``.
    ``pair`` gives both heads' logits (for training); ``forward`` gives
    logits whose softmax (or, multi-label, sigmoid) is ``use``: the
    average of the two heads' outputs (default, as DeiT), or one head's.

    Arguments
    ---------
    input_size : int
        Embedding dimension of the encoder.
    n_labels : int
        Number of output classes.
    multi_label : bool
        Sigmoid outputs (True) or softmax (False), for the average.
    use : str
        ``average``, ``cls`` or ``dist``.
    norm_eps : float
        LayerNorm epsilon of both heads.

    Example
    -------
    >>> head = DistillationHead(8, 3)
    >>> tokens = torch.randn(4, 2, 8)
    >>> cls_logits, dist_logits = head.pair(tokens)
    >>> average = (cls_logits.softmax(-1) + dist_logits.softmax(-1)) / 2
    >>> torch.allclose(head(tokens).softmax(-1), average, atol=1e-6)
    True
    """

    USES = ("average", "cls", "dist")
    output_kind = "pair"

    def __init__(
        self, input_size, n_labels, multi_label=False, use="average",
        norm_eps=1e-5,
    ):  # fmt: skip
        super().__init__()
        if use not in self.USES:
            raise ValueError(f"use must be one of {self.USES}, not {use!r}")
        self.cls_head = AudioClassificationHead(input_size, n_labels, norm_eps)
        self.dist_head = AudioClassificationHead(input_size, n_labels, norm_eps)
        self.multi_label = multi_label
        self.use = use

    def pair(self, tokens):
        """``(cls_logits, dist_logits)``, each ``[batch, 1, n_labels]``."""
        if tokens.shape[1] != 2:
            raise ValueError(
                f"DistillationHead takes [batch, 2, dim] (the encoder's "
                f"cls_dist_pair pooling), not {list(tokens.shape)}"
            )
        return self.cls_head(tokens[:, :1]), self.dist_head(tokens[:, 1:])

    def forward(self, tokens):
        """Logits ``[batch, 1, n_labels]`` of the chosen output."""
        cls_logits, dist_logits = self.pair(tokens)
        if self.use == "cls":
            return cls_logits
        if self.use == "dist":
            return dist_logits
        return average_logits(cls_logits, dist_logits, self.multi_label)


def average_logits(first, second, multi_label):
    """Logits whose softmax (sigmoid when ``multi_label``) is the mean of
    the two logits' softmax (sigmoid) outputs.

    Example
    -------
    >>> a, b = torch.tensor([[2.0, -1.0]]), torch.tensor([[-3.0, 0.5]])
    >>> mean = (torch.sigmoid(a) + torch.sigmoid(b)) / 2
    >>> torch.allclose(torch.sigmoid(average_logits(a, b, True)), mean)
    True
    """
    if not multi_label:
        both = torch.stack((first.log_softmax(-1), second.log_softmax(-1)))
        return torch.logsumexp(both, dim=0) - torch.log(torch.tensor(2.0))
    probability = (torch.sigmoid(first) + torch.sigmoid(second)) / 2
    probability = probability.clamp(1e-7, 1 - 1e-7)
    return torch.log(probability) - torch.log1p(-probability)


class FrameLevelHead(nn.Module):
    """Scores per time step, pooled to a clip score, so that clip labels
    train a sound event detector (weak supervision).

    It takes the encoder's ``time_steps`` output ``[batch, steps, dim]``.
    Each step gets sigmoid scores ``p_t`` (LayerNorm, Linear); the clip
    score is ``sum_t p_t^2 / sum_t p_t`` (``linear_softmax``, Wang et
    al. 2019) or ``sum_t w_t p_t`` with ``w`` a softmax over steps of a
    second linear layer per class (``attention``, Kong et al. 2020).
    ``forward`` gives the clip's logits ``[batch, 1, n_labels]`` (the
    logit of the clip score), so training, export and tagging treat it as
    any head; ``frame_scores`` gives ``[batch, steps, n_labels]``.

    Arguments
    ---------
    input_size : int
        Embedding dimension of the encoder.
    n_labels : int
        Number of output classes.
    pooling : str
        ``attention`` or ``linear_softmax``.
    norm_eps : float
        LayerNorm epsilon.

    Example
    -------
    >>> head = FrameLevelHead(8, 3)
    >>> steps = torch.randn(2, 5, 8)
    >>> head(steps).shape, head.frame_scores(steps).shape
    (torch.Size([2, 1, 3]), torch.Size([2, 5, 3]))
    """

    POOLINGS = ("attention", "linear_softmax")
    output_kind = "frames"

    def __init__(self, input_size, n_labels, pooling="attention",
                 norm_eps=1e-5):  # fmt: skip
        super().__init__()
        if pooling not in self.POOLINGS:
            raise ValueError(
                f"pooling must be one of {self.POOLINGS}, not {pooling!r}"
            )
        self.pooling = pooling
        add_norm_and_linear(self, input_size, n_labels, norm_eps)
        if pooling == "attention":
            self.attention = nn.Linear(input_size, n_labels)

    def check(self, steps):
        """Refuses an input that is not ``[batch, steps, dim]``."""
        if steps.dim() != 3 or steps.shape[1] < 1:
            raise ValueError(
                "FrameLevelHead takes [batch, steps, dim] (the encoder's "
                f"time_steps pooling), not {list(steps.shape)}"
            )

    def frame_scores(self, steps):
        """Sigmoid scores ``[batch, steps, n_labels]``."""
        self.check(steps)
        return torch.sigmoid(norm_then_linear(self, steps))

    def clip_scores(self, steps):
        """Pooled scores ``[batch, n_labels]``."""
        self.check(steps)
        normed = self.norm(steps)
        scores = torch.sigmoid(self.linear(normed))
        if self.pooling == "linear_softmax":
            return (scores**2).sum(1) / scores.sum(1).clamp_min(1e-7)
        weights = torch.softmax(self.attention(normed), dim=1)
        return (weights * scores).sum(1)

    def forward(self, steps):
        """Clip logits ``[batch, 1, n_labels]``."""
        scores = self.clip_scores(steps).clamp(1e-7, 1 - 1e-7)
        return torch.logit(scores).unsqueeze(1)


class BlockWeightedHead(nn.Module):
    """A learned weighting of every block's pooled output (SUPERB, Yang
    et al. 2021; BAT, 2026), then LayerNorm and Linear.

    It takes an encoder's ``blocks_*`` pooling ``[batch, n_blocks, dim]``
    and sums the rows with softmax weights of ``n_blocks`` learned
    scores (all 0 at first: the mean of the blocks), so a frozen
    encoder's every block can serve a task, not only its last.

    Arguments
    ---------
    input_size : int
        Embedding dimension of the encoder.
    n_labels : int
        Number of output classes.
    n_blocks : int
        The encoder's blocks (its depth).
    norm_eps : float
        LayerNorm epsilon.

    Example
    -------
    >>> head = BlockWeightedHead(8, 3, n_blocks=4)
    >>> rows = torch.randn(2, 4, 8)
    >>> head(rows).shape, head.combine(rows).shape
    (torch.Size([2, 1, 3]), torch.Size([2, 1, 8]))
    >>> torch.allclose(head.combine(rows), rows.mean(1, keepdim=True))
    True
    """

    output_kind = "clip"

    def __init__(self, input_size, n_labels, n_blocks, norm_eps=1e-5):
        super().__init__()
        self.block_scores = nn.Parameter(torch.zeros(n_blocks))
        add_norm_and_linear(self, input_size, n_labels, norm_eps)

    @property
    def n_blocks(self):
        """The blocks weighted."""
        return self.block_scores.numel()

    def block_weights(self):
        """The weight of each block ``[n_blocks]`` (a softmax)."""
        return torch.softmax(self.block_scores, dim=0)

    def combine(self, rows):
        """The weighted sum ``[batch, 1, dim]`` of ``[batch, n_blocks,
        dim]``: the vector the norm and the linear layer read."""
        if rows.dim() != 3 or rows.shape[1] != self.n_blocks:
            raise ValueError(
                f"BlockWeightedHead takes [batch, {self.n_blocks}, dim] (an "
                "encoder's blocks_* pooling of as many blocks), not "
                f"{list(rows.shape)}"
            )
        weights = self.block_weights().to(rows.dtype)
        return torch.einsum("bld,l->bd", rows, weights).unsqueeze(1)

    def forward(self, rows):
        """Logits ``[batch, 1, n_labels]``."""
        return norm_then_linear(self, self.combine(rows))


def classification_head(input_size, n_labels, two_heads=False,
                        multi_label=False, frame_level=None,
                        block_weights=False, n_blocks=None):  # fmt: skip
    """An ``AudioClassificationHead``; with ``two_heads`` a
    ``DistillationHead`` (for an encoder with ``cls_dist_pair`` pooling);
    with ``frame_level`` (``attention`` or ``linear_softmax``) a
    ``FrameLevelHead`` (for ``time_steps`` pooling); with
    ``block_weights`` a ``BlockWeightedHead`` of ``n_blocks`` blocks (for
    a ``blocks_*`` pooling).

    Example
    -------
    >>> type(classification_head(8, 3, two_heads=True)).__name__
    'DistillationHead'
    >>> type(classification_head(8, 3, frame_level="attention")).__name__
    'FrameLevelHead'
    >>> classification_head(8, 3, block_weights=True, n_blocks=12).n_blocks
    12
    """
    if sum(bool(kind) for kind in (two_heads, frame_level, block_weights)) > 1:
        raise ValueError(
            "one of two_heads, frame_level and block_weights, not several"
        )
    if block_weights:
        return BlockWeightedHead(input_size, n_labels, n_blocks)
    if two_heads:
        return DistillationHead(input_size, n_labels, multi_label)
    if frame_level:
        return FrameLevelHead(input_size, n_labels, frame_level)
    return AudioClassificationHead(input_size, n_labels)
