"""Resizing of the AST position-embedding grid to another patch grid.

The reference AST lays patch tokens out frequency-major on an
``[f_dim, t_dim]`` grid. When the grid of a pretrained model differs from the
one that is needed, each axis is either cut around its centre (when the new
axis is not longer) or interpolated (when it is longer), time axis first.

Authors
 * AST-SpeechBrain contributors 2026
"""

import torch.nn.functional as F

RESIZE_MODES = ("bilinear", "nearest")


def centre_cut(grid, new_size, axis):
    """Keeps ``new_size`` entries around the centre of one grid axis.

    Arguments
    ---------
    grid : torch.Tensor
        Embedding grid ``[1, dim, f_dim, t_dim]``.
    new_size : int
        Number of entries to keep.
    axis : int
        2 for frequency, 3 for time.

    Returns
    -------
    torch.Tensor
        The cut grid.

    Example
    -------
    >>> import torch
    >>> grid = torch.arange(10.0).view(1, 1, 1, 10)
    >>> centre_cut(grid, 4, axis=3).flatten().tolist()
    [3.0, 4.0, 5.0, 6.0]
    """
    old_size = grid.shape[axis]
    start = old_size // 2 - new_size // 2
    return grid.narrow(axis, start, new_size)


def resize_position_grid(grid, f_dim, t_dim, mode="bilinear"):
    """Adapts a position-embedding grid the way the reference AST does.

    The time axis is handled first, then the frequency axis. An axis that is
    not longer than before is cut around its centre; a longer one is
    interpolated (bilinear, or nearest for the paper's ablation).

    Arguments
    ---------
    grid : torch.Tensor
        Embedding grid ``[1, dim, old_f, old_t]``.
    f_dim : int
        Number of patches on the frequency axis after resizing.
    t_dim : int
        Number of patches on the time axis after resizing.
    mode : str
        ``"bilinear"`` (the paper) or ``"nearest"``.

    Returns
    -------
    torch.Tensor
        Grid ``[1, dim, f_dim, t_dim]``.

    Example
    -------
    >>> import torch
    >>> grid = torch.randn(1, 8, 24, 24)
    >>> resize_position_grid(grid, 12, 101).shape
    torch.Size([1, 8, 12, 101])
    """
    if mode not in RESIZE_MODES:
        raise ValueError(
            f"Unknown position-embedding resize mode {mode!r}; "
            f"expected one of {RESIZE_MODES}"
        )
    old_f, old_t = grid.shape[2], grid.shape[3]
    if t_dim <= old_t:
        grid = centre_cut(grid, t_dim, axis=3)
    else:
        grid = F.interpolate(grid, size=(old_f, t_dim), mode=mode)
    if f_dim <= old_f:
        grid = centre_cut(grid, f_dim, axis=2)
    else:
        grid = F.interpolate(grid, size=(f_dim, t_dim), mode=mode)
    return grid


def tokens_to_grid(patch_pos, f_dim, t_dim):
    """Turns frequency-major position tokens ``[1, f*t, dim]`` into a grid.

    Arguments
    ---------
    patch_pos : torch.Tensor
        Position embeddings of the patch tokens, ``[1, f_dim * t_dim, dim]``.
    f_dim : int
        Frequency patches.
    t_dim : int
        Time patches.

    Returns
    -------
    torch.Tensor
        ``[1, dim, f_dim, t_dim]``.

    Example
    -------
    >>> import torch
    >>> tokens_to_grid(torch.zeros(1, 6, 4), 2, 3).shape
    torch.Size([1, 4, 2, 3])
    """
    if patch_pos.shape[1] != f_dim * t_dim:
        raise ValueError(
            f"Position embedding has {patch_pos.shape[1]} patch tokens, "
            f"which does not fit a {f_dim} x {t_dim} grid"
        )
    dim = patch_pos.shape[2]
    return patch_pos.transpose(1, 2).reshape(1, dim, f_dim, t_dim)


def grid_to_tokens(grid):
    """Flattens a grid ``[1, dim, f, t]`` into frequency-major tokens.

    Arguments
    ---------
    grid : torch.Tensor
        ``[1, dim, f_dim, t_dim]``.

    Returns
    -------
    torch.Tensor
        ``[1, f_dim * t_dim, dim]``.

    Example
    -------
    >>> import torch
    >>> grid_to_tokens(torch.zeros(1, 4, 2, 3)).shape
    torch.Size([1, 6, 4])
    """
    return grid.flatten(2).transpose(1, 2)


def resize_patch_positions(patch_pos, old_grid, new_grid, mode="bilinear"):
    """Resizes frequency-major patch position tokens to another grid.

    Arguments
    ---------
    patch_pos : torch.Tensor
        ``[1, old_f * old_t, dim]``.
    old_grid : tuple
        ``(old_f, old_t)``.
    new_grid : tuple
        ``(f_dim, t_dim)``.
    mode : str
        See ``resize_position_grid``.

    Returns
    -------
    torch.Tensor
        ``[1, f_dim * t_dim, dim]``.

    Example
    -------
    >>> import torch
    >>> tokens = torch.zeros(1, 576, 8)
    >>> resize_patch_positions(tokens, (24, 24), (12, 101)).shape
    torch.Size([1, 1212, 8])
    """
    grid = tokens_to_grid(patch_pos, *old_grid)
    return grid_to_tokens(resize_position_grid(grid, *new_grid, mode=mode))
