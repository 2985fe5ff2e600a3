"""Reading weight files and loading state dicts without silent gaps.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os

import torch


class CheckpointError(ValueError):
    """A weight file that cannot be read or does not fit the model."""


class UnsafeModelFolderError(CheckpointError):
    """A model folder whose YAML would run code when built."""


def read_state_dict_file(path):
    """Reads a ``.pth``/``.pt``/``.bin``/``.ckpt`` or ``.safetensors`` file.

    A dict holding the weights under ``model`` or ``state_dict`` (as DeiT
    and many training scripts save them) is unwrapped.

    Arguments
    ---------
    path : str
        The weight file.

    Returns
    -------
    dict
        Parameter name to tensor.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pth")
    >>> torch.save({"model": {"a": torch.ones(2)}}, path)
    >>> list(read_state_dict_file(path))
    ['a']
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such weight file")
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path, device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{path}: cannot be read as a PyTorch or safetensors weight "
            f"file ({error})"
        ) from error
    for wrapper in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(
        isinstance(value, torch.Tensor) for value in state.values()
    ):
        raise CheckpointError(f"{path}: does not hold a state dict of tensors")
    return state


def load_state_dict_exactly(module, state, source):
    """Loads ``state`` into ``module``, refusing any key or shape misfit.

    Arguments
    ---------
    module : torch.nn.Module
        The module to fill.
    state : dict
        Parameter name to tensor, already in the module's naming.
    source : str
        Where the weights come from, named in errors.

    Example
    -------
    >>> layer = torch.nn.Linear(2, 3)
    >>> load_state_dict_exactly(layer, torch.nn.Linear(2, 3).state_dict(), "x")
    >>> load_state_dict_exactly(layer, {"weight": torch.ones(3, 2)}, "x")
    Traceback (most recent call last):
    ...
    ast_lobes.weights.files.CheckpointError: x: ... missing bias
    """
    expected = module.state_dict()
    problems = []
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        problems.append("missing " + ", ".join(missing[:8]))
    if unexpected:
        problems.append("unexpected " + ", ".join(unexpected[:8]))
    for name in sorted(set(expected) & set(state)):
        if expected[name].shape != state[name].shape:
            problems.append(
                f"{name} has shape {tuple(state[name].shape)} in the "
                f"checkpoint but {tuple(expected[name].shape)} in the model"
            )
    if problems:
        raise CheckpointError(
            f"{source}: weights do not fit the model: " + "; ".join(problems)
        )
    module.load_state_dict(state, strict=True)
