"""Reading weight files and loading state dicts without silent gaps.

A weight file may come from a stranger: what reading one allocates is
bounded by the file's own size. A safetensors header (an 8-byte length
and a JSON table of names, dtypes, shapes and offsets) is checked
against the file before any tensor is read; a PyTorch file is read with
``torch.load(weights_only=True)``, memory-mapped when it is a zip
archive (every ``torch.save`` since PyTorch 1.6) whose members are
stored uncompressed within the file; no tensor may claim more elements
than its storage holds. Every refusal is a ``CheckpointError`` of one
line naming the file.

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import math
import os
import struct
import zipfile

import torch

# The largest safetensors header read (the safetensors library's own).
MAX_HEADER_BYTES = 100 << 20
# The most dimensions a tensor of a weight file may have.
MAX_DIMENSIONS = 16
DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
    "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
}  # fmt: skip
ZIP_START = b"PK\x03\x04"


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
    if path.endswith(".safetensors"):
        read_safetensors_header(path)
        from safetensors.torch import load_file

        try:
            state = load_file(path, device="cpu")
        except Exception as error:  # safetensors' own errors
            raise CheckpointError(
                f"{path}: cannot be read as safetensors ({short(error)})"
            ) from error
    else:
        state = read_torch_file(path)
    for wrapper in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    return checked_state(state, path)


# torch's own advice around what its weights-only unpickler refused
TORCH_ADVICE = ("Weights only load failed", "Please file an issue",
                "Check the documentation")  # fmt: skip


def short(error):
    """``Type: first line`` of an error, at most 200 characters (of torch's
    weights-only unpickler: the line saying what it refused).

    Example
    -------
    >>> short(ValueError("Weights only load failed. Re-running...\\n\\n"
    ...                  "Unsupported global: posix.system\\nCheck ..."))
    'ValueError: Unsupported global: posix.system'
    """
    lines = [line.strip() for line in str(error).splitlines()]
    said = [line for line in lines
            if line and not line.startswith(TORCH_ADVICE)]  # fmt: skip
    return f"{type(error).__name__}: {(said or [''])[0][:200]}"


def check_zip_members(path):
    """Refuses a zip archive whose members are compressed or reach past
    the file (what they would take in memory is then not the file's)."""
    size = os.path.getsize(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise CheckpointError(
            f"{path}: a PyTorch zip archive that is truncated or corrupt "
            f"({short(error)})"
        ) from error
    for member in members:
        if (
            member.compress_type != zipfile.ZIP_STORED
            or member.file_size != member.compress_size
            or member.header_offset + member.file_size > size
        ):
            raise CheckpointError(
                f"{path}: member {member.filename!r} is compressed or "
                f"larger than the file ({member.file_size} bytes in a file "
                f"of {size}); torch.save stores its members as they are"
            )


def read_torch_file(path, device="cpu"):
    """What a ``torch.save`` file holds, read with
    ``torch.load(weights_only=True)`` onto ``device`` (``"meta"``: the
    shapes without the data): memory-mapped from a zip archive once its
    members are checked (``check_zip_members``); a file in the format
    before PyTorch 1.6 is read as it is. Any malformed file is one line
    naming it.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
    >>> torch.save({"a": torch.ones(2)}, path)
    >>> read_torch_file(path, device="meta")["a"].shape
    torch.Size([2])
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        zipped = handle.read(len(ZIP_START)) == ZIP_START
    if zipped:
        check_zip_members(path)
    try:
        return torch.load(
            path, map_location=device, weights_only=True, mmap=zipped
        )
    except Exception as error:  # torch's unpickler: any malformed file
        raise CheckpointError(
            f"{path}: cannot be read as PyTorch weights ({short(error)})"
        ) from error


def checked_state(state, path):
    """``state`` if it is a dict of tensors, none of which claims more
    elements than its storage holds (an expanded view, which an
    operation on it would make real in memory)."""
    if not isinstance(state, dict) or not all(
        isinstance(value, torch.Tensor) for value in state.values()
    ):
        raise CheckpointError(f"{path}: does not hold a state dict of tensors")
    for name, tensor in state.items():
        claimed = tensor.numel() * tensor.element_size()
        if claimed > tensor.untyped_storage().nbytes():
            raise CheckpointError(
                f"{path}: {name}: a tensor of {claimed} bytes "
                f"{tuple(tensor.shape)} over a storage of "
                f"{tensor.untyped_storage().nbytes()} (an expanded view); "
                "save it with .contiguous()"
            )
    return state


def refuse_header(path, key, what):
    """The one-line error of a safetensors header, naming the key."""
    raise CheckpointError(f"{path}: {key}: {what}")


def read_safetensors_header(path):
    """Tensor name -> ``(dtype, shape)`` from a safetensors file's header,
    every entry checked against the file's size (no tensor is read).

    Example
    -------
    >>> import tempfile
    >>> from safetensors.torch import save_file
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> save_file({"a": torch.ones(2, 3)}, path)
    >>> read_safetensors_header(path)
    {'a': ('F32', (2, 3))}
    """
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        start = handle.read(8)
        if len(start) < 8:
            refuse_header(path, "(header)", f"{size} bytes: no safetensors "
                          "header")  # fmt: skip
        (length,) = struct.unpack("<Q", start)
        if length > min(size - 8, MAX_HEADER_BYTES):
            refuse_header(path, "(header)", f"a header of {length} bytes in "
                          f"a file of {size}: truncated or not "
                          "safetensors")  # fmt: skip
        try:
            header = json.loads(handle.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            refuse_header(path, "(header)", "not safetensors "
                          f"({type(error).__name__})")  # fmt: skip
    if not isinstance(header, dict):
        refuse_header(path, "(header)", "not a table of tensors")
    data_bytes = size - 8 - length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = header_entry(entry, data_bytes, path, name)
    return tensors


def is_integer(value):
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def header_entry(entry, data_bytes, path, name):
    """One tensor's ``(dtype, shape)``, its offsets within the data."""
    if not isinstance(entry, dict):
        refuse_header(path, name, "not a tensor entry")
    dtype = entry.get("dtype")
    shape = entry.get("shape")
    offsets = entry.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        refuse_header(path, name, f"dtype {dtype!r} unknown")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMENSIONS
        or not all(is_integer(side) and 0 <= side < 2**63 for side in shape)
    ):
        refuse_header(path, name, f"shape {shape!r} is not a list of at "
                      f"most {MAX_DIMENSIONS} sizes")  # fmt: skip
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(is_integer(offset) for offset in offsets)
    ):
        refuse_header(path, name, f"data_offsets {offsets!r} are not two "
                      "integers")  # fmt: skip
    begin, end = offsets
    if not 0 <= begin <= end <= data_bytes or (
        end - begin != math.prod(shape) * DTYPE_BYTES[dtype]
    ):
        refuse_header(
            path,
            name,
            f"data_offsets {offsets} do not fit its shape "
            f"{shape} and the file's {data_bytes} bytes of data",
        )
    return dtype, tuple(shape)


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
