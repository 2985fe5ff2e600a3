"""ONNX Runtime's dynamic int8 as an inference backend (``ort-int8``).

The encoder is exported to ONNX once per weights and configuration (about
15 s for AST-Base), quantised by ONNX Runtime's dynamic int8 (int8 weights
per tensor, activations quantised per call, as ``int8-dynamic``) and kept
in the cache folder (``$AST_LOBES_CACHE/onnx``, default
``~/.cache/ast_lobes/onnx``) under the SHA-256 of the weights, the
configuration and the library versions, so a model loads from the cache
the next time and another model never gets its file.

The graph is written in ONNX opset 23, whose ``Attention`` operator holds
PyTorch's ``scaled_dot_product_attention`` as one node (kept fp32), with
the query, key and value as three projections (``SeparateProjections``)
and only the linear layers in int8: ONNX Runtime ran AST-Base's graph so
13-22 % faster than in opset 18 with one split projection, on a 2-core
AMD EPYC Zen 5. After quantisation each ``Attention`` node and the head
reshapes around it become one ONNX Runtime ``MultiHeadAttention`` node
(2-8 % faster again on a 2-core AMD EPYC Zen 4; ``docs/fast_inference.md``).

``OrtInt8Encoder`` runs it behind the encoder's call (``x, lengths,
all_tokens``): the graph returns every token, pooled afterwards by the
encoder's own ``pool_tokens``. The length rule holds without masks in the
graph: a batch whose clips all fill it runs at once, and a padded clip
runs alone at its own frames (its patches are those the mask keeps), so
its scores are the clip's alone. Inputs outside the graph's frames (under
two time patches, over the model's ``target_length``) run in PyTorch at
fp32, with a warning.

Authors
 * AST-SpeechBrain contributors 2026
"""

import contextlib
import copy
import functools
import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import warnings

import torch
from torch import nn

from ast_lobes.model.cache import default_cache_dir

logger = logging.getLogger(__name__)

# ONNX's Attention operator (opset 23): the exporter writes PyTorch's
# scaled_dot_product_attention as one node.
ATTENTION_OPSET = 23

# Token-merging needs the PyTorch blocks; the ONNX graph has none to merge.
NO_MERGING = (
    "precision ort-int8 runs ONNX Runtime's graph, which cannot merge "
    "tokens; use int8-dynamic or bf16 with token merging"
)


# What ort-int8 imports, with setup.py's ranges (in the default install).
ONNX_PACKAGES = {
    "onnx": "onnx>=1.23.2,<2",
    "onnxscript": "onnxscript>=0.7.2,<0.8",
    "onnxruntime": "onnxruntime>=1.32.0,<2",
}


def missing_onnx_packages():
    """The packages of ``ONNX_PACKAGES`` that cannot be imported.

    Example
    -------
    >>> missing_onnx_packages()  # all installed (setup.py requires them)
    []
    """
    return [name for name in ONNX_PACKAGES
            if importlib.util.find_spec(name) is None]  # fmt: skip


def install_command(packages):
    """The ``pip install`` line of ``packages`` at setup.py's ranges.

    Example
    -------
    >>> print(install_command(["onnxscript"]))
    pip install "onnxscript>=0.7.2,<0.8"
    """
    return "pip install " + " ".join(f'"{ONNX_PACKAGES[p]}"' for p in packages)


def onnxruntime_installed():
    """Whether ``onnxruntime`` (and the exporter's ``onnx`` and
    ``onnxscript``) can be imported."""
    return not missing_onnx_packages()


def require_onnxruntime():
    """Raises a clear ``ImportError`` when ONNX Runtime is missing."""
    missing = missing_onnx_packages()
    if missing:
        raise ImportError(
            f"precision ort-int8 needs {', '.join(missing)}, not installed: "
            f"{install_command(missing)}"
        )


@functools.cache
def report_missing_onnx():
    """Says once per process, as a warning, that ``auto`` leaves
    ``ort-int8`` out for want of its packages, with the command that
    installs them (``auto`` is then no faster than the other modes)."""
    missing = missing_onnx_packages()
    if missing:
        logger.warning(
            "precision auto: ort-int8 (ONNX Runtime's int8, often the "
            "fastest mode on this kind of CPU) is not a candidate: %s not "
            "installed; %s", ", ".join(missing), install_command(missing),
        )  # fmt: skip
    return missing


def replace_atomically(write, path):
    """Calls ``write(tmp)`` on a file beside ``path``, then renames it to
    ``path``: a killed run never leaves half a file under that name."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.partial.onnx"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# The loggers of the exporter and quantiser, which report every pass.
EXPORT_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx", "root")


@contextlib.contextmanager
def quiet(names):
    """Only errors from the loggers ``names`` while inside, and no handler
    left behind on them (``logging.warning`` gives the root logger one
    when it has none, which then prints every library's log records)."""
    loggers = [logging.getLogger(None if n == "root" else n) for n in names]
    before = [(each.level, list(each.handlers)) for each in loggers]
    for each in loggers:
        each.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for each, (level, handlers) in zip(loggers, before, strict=True):
            each.setLevel(level)
            for handler in each.handlers[:]:
                if handler not in handlers:
                    each.removeHandler(handler)


class SeparateProjections(nn.Module):
    """A timm ``Attention`` as an ONNX graph holds it: the query, key and
    value projections as three linear layers (the fused ``qkv`` weights cut
    in three) instead of one followed by a split, so that ONNX Runtime's
    int8 quantises their input once for the three and no Split node
    copies them. The same function as the attention it is made from.

    Example
    -------
    >>> from timm.layers import Attention
    >>> attention = Attention(32, num_heads=4, qkv_bias=True).eval()
    >>> x = torch.randn(2, 10, 32)
    >>> torch.allclose(SeparateProjections(attention)(x), attention(x),
    ...                atol=1e-6)
    True
    """

    def __init__(self, attention):
        super().__init__()
        dim = attention.qkv.in_features
        bias = attention.qkv.bias is not None
        self.num_heads = attention.num_heads
        self.projections = nn.ModuleList(
            nn.Linear(dim, dim, bias=bias) for _ in range(3)
        )
        weights = attention.qkv.weight.detach().chunk(3)
        biases = attention.qkv.bias.detach().chunk(3) if bias else [None] * 3
        for index, projection in enumerate(self.projections):
            projection.weight.data = weights[index].clone()
            if bias:
                projection.bias.data = biases[index].clone()
        self.proj = attention.proj

    def forward(self, x, attn_mask=None, is_causal=False):
        """Self-attention of ``x [batch, tokens, dim]``."""
        query, key, value = (
            projection(x).unflatten(-1, (self.num_heads, -1)).transpose(1, 2)
            for projection in self.projections
        )
        out = torch.nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=attn_mask, is_causal=is_causal
        )
        return self.proj(out.transpose(1, 2).flatten(2))


def with_separate_projections(module):
    """A copy of ``module`` whose timm attention layers (plain ones: no
    query/key norms, gates or output norm) are ``SeparateProjections``;
    ``module`` itself if it has none."""
    from timm.layers import Attention

    def plain(layer):
        return (
            type(layer) is Attention
            and getattr(layer, "gate", None) is None
            and all(
                isinstance(getattr(layer, name, nn.Identity()), nn.Identity)
                for name in ("q_norm", "k_norm", "norm")
            )
        )

    if not any(plain(layer) for layer in module.modules()):
        return module
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if plain(child):
                setattr(parent, name, SeparateProjections(child))
    return module


def export_onnx(module, example, path, dynamic_shapes, input_names,
                output_names, opset_version=ATTENTION_OPSET):  # fmt: skip
    """``torch.onnx.export`` (the dynamo exporter) of ``module`` called on
    ``example`` (a tuple), written to ``path``, its attention layers with
    separate projections (``SeparateProjections``); the exporter's own
    progress messages are kept out of the user's log."""
    module = with_separate_projections(module)
    with torch.no_grad(), warnings.catch_warnings(), quiet(EXPORT_LOGGERS):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            example,
            path,
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            input_names=input_names,
            output_names=output_names,
            opset_version=opset_version,
            verbose=False,
        )
    return path


def quantize_onnx_int8(path, quantized_path):
    """ONNX Runtime's dynamic int8 quantisation of an exported model
    (int8 weights per tensor, activations quantised per call, as the
    ``int8-dynamic`` precision): ``quantized_path``. Only the MatMuls
    (the linear layers): an opset-23 ``Attention`` node stays fp32 (the
    quantiser would take it for ONNX Runtime's own Attention, whose
    weights are inputs, and rewrite it), and so does the patch
    projection, whose ``ConvInteger`` ran slower than the fp32 Conv."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet(["root"]):  # its advice on pre-processing, to the root logger
        quantize_dynamic(
            path, quantized_path, weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
        )  # fmt: skip
    return quantized_path


class OnnxCacheError(ValueError):
    """The cache folder cannot hold an ONNX file."""


def fuse_multi_head_attention(path, fused_path, heads):
    """Writes ``path``'s graph to ``fused_path`` with each ONNX
    ``Attention`` node, and the reshapes and transposes that split its
    query, key and value into ``heads`` heads and join them after it,
    replaced by one ONNX Runtime ``MultiHeadAttention`` node (contrib
    domain ``com.microsoft``, CPU kernel) over the three projections:
    the same products and softmax, without the copies of the head
    layout. An ``Attention`` node not in that pattern is left as it is.
    The file runs in ONNX Runtime only (for the cache, never exported
    for users)."""
    import onnx
    from onnx import helper

    model = onnx.load(path)
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def made_by(name, op_type):
        node = producer.get(name)
        return node if node is not None and node.op_type == op_type else None

    def only_user(name, op_type):
        users = consumers.get(name, [])
        if len(users) == 1 and users[0].op_type == op_type:
            return users[0]
        return None

    dropped, fused = set(), {}
    for node in graph.node:
        if node.op_type != "Attention" or node.domain not in ("", "ai.onnx"):
            continue
        if len(node.input) != 3 or len(node.output) != 1:
            continue  # a mask or a past state: not this pattern
        split = [made_by(name, "Transpose") for name in node.input]
        split = [(t, t and made_by(t.input[0], "Reshape")) for t in split]
        join = only_user(node.output[0], "Transpose")
        join = (join, join and only_user(join.output[0], "Reshape"))
        if not all(t and r for t, r in [*split, join]):
            continue
        dropped |= {id(node), *(id(n) for pair in split for n in pair)}
        dropped |= {id(join[0]), id(join[1])}
        fused[id(node)] = helper.make_node(
            "MultiHeadAttention", [r.input[0] for _, r in split],
            [join[1].output[0]], domain="com.microsoft", num_heads=heads,
        )  # fmt: skip
    nodes = [fused.get(id(node), node) for node in graph.node
             if id(node) in fused or id(node) not in dropped]  # fmt: skip
    del graph.node[:]
    graph.node.extend(nodes)
    if fused:
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, fused_path)
    return fused_path


def cached_int8_onnx(key, export, heads):
    """The int8 ONNX file of ``key`` in the cache folder, made by
    ``export(fp32_path)``, quantised and its attention fused
    (``fuse_multi_head_attention`` with ``heads`` heads) the first time
    (``OnnxCacheError`` when the folder cannot be written)."""
    folder = os.path.join(default_cache_dir(), "onnx")
    path = os.path.join(folder, f"{key}.int8.onnx")
    if os.path.isfile(path):
        return path

    def write(tmp):
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            fp32 = export(os.path.join(scratch, "model.onnx"))
            int8 = quantize_onnx_int8(fp32, os.path.join(scratch, "int8"))
            fuse_multi_head_attention(int8, tmp, heads)

    try:
        os.makedirs(folder, exist_ok=True)
        return replace_atomically(write, path)
    except OSError as error:
        raise OnnxCacheError(
            f"precision ort-int8 keeps its ONNX files in {folder} (set by "
            f"AST_LOBES_CACHE), which cannot be written: "
            f"{error.strerror or error}"
        ) from None


def versions_key():
    """The libraries whose versions change an exported file."""
    import onnxruntime

    return (
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"opset {ATTENTION_OPSET}, int8 MatMul only, q/k/v apart, "
        "MultiHeadAttention"
    )


def encoder_digest(encoder):
    """SHA-256 of an encoder's configuration, weights and the library
    versions: the key of its cached ONNX file."""
    digest = hashlib.sha256()
    config = json.dumps(encoder.config.as_dict(), sort_keys=True, default=str)
    digest.update(config.encode())
    digest.update(versions_key().encode())
    for name, tensor in encoder.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def new_session(path, threads=None):
    """An ONNX Runtime CPU session of ``path`` with ``threads`` (default:
    torch's) threads that do not spin while idle (they would take the
    cores from audio decoding and from other models)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(
        path, options, providers=["CPUExecutionProvider"]
    )


class AllTokens(nn.Module):
    """An encoder returning every token (what the ONNX graph holds)."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, fbank):
        """``[batch, 2 + patches, dim]`` of ``fbank [batch, frames, mel]``."""
        return self.encoder(fbank, all_tokens=True)


def graph_frames(encoder):
    """``(min, max)`` input frames of an encoder's ONNX graph: two time
    patches (with one, torch 2.9's exporter fixes the patch count) up to
    the position grid's ``target_length``."""
    return encoder.patch_size[1] + encoder.tstride, encoder.target_length


def export_encoder_onnx(module, encoder, path, input_name="fbank",
                        output_name="tokens",
                        opset_version=ATTENTION_OPSET):  # fmt: skip
    """Writes ``module`` (a function of ``encoder``'s fbank input) to
    ``path`` with dynamic batch and frame counts (``graph_frames``) in
    ONNX opset ``opset_version``."""
    frames_min, frames_max = graph_frames(encoder)
    example = torch.randn(2, frames_max, encoder.input_fdim)
    dynamic = {
        input_name: {
            0: torch.export.Dim("batch", min=1, max=4096),
            1: torch.export.Dim("frames", min=frames_min, max=frames_max),
        }
    }
    return export_onnx(
        module, (example,), path, dynamic, [input_name], [output_name],
        opset_version,
    )  # fmt: skip


class OrtInt8Encoder(nn.Module):
    """An encoder run by ONNX Runtime in dynamic int8, called as the
    encoder is (see the module's docstring); ``module`` is the fp32
    encoder itself (its attributes, pooling and the inputs the graph does
    not take). Built by ``set_inference_precision(encoder, "ort-int8")``.

    Example
    -------
    >>> from ast_lobes import AudioSpectrogramTransformer
    >>> encoder = AudioSpectrogramTransformer(
    ...     model_size=None, embed_dim=32, depth=1, num_heads=2,
    ...     target_length=100, fstride=16, tstride=16).eval()
    >>> fbank = torch.randn(2, 100, 128)
    >>> expected = encoder(fbank)
    >>> converted = OrtInt8Encoder(encoder)
    >>> bool((converted(fbank) - expected).abs().max() < 0.2)
    True
    """

    precision = "ort-int8"
    merge_rate = 0.0

    def __init__(self, encoder):
        super().__init__()
        require_onnxruntime()
        if next(encoder.parameters()).device.type != "cpu":
            raise ValueError("precision ort-int8 runs on the CPU only")
        self.module = encoder.eval()
        key = encoder_digest(encoder)
        heads = encoder.blocks[0].attn.num_heads
        self.path = cached_int8_onnx(key, self.export, heads)
        self.session = new_session(self.path)
        self.frames = graph_frames(encoder)
        self.warned = False

    def export(self, path):
        """Writes the fp32 encoder's every-token graph to ``path``."""
        logger.info(
            "precision ort-int8: exporting the encoder to ONNX once "
            "(cached in %s)", os.path.join(default_cache_dir(), "onnx"),
        )  # fmt: skip
        return export_encoder_onnx(AllTokens(self.module), self.module, path)

    def set_merge_rate(self, merge_rate):
        """Only 0: the graph cannot merge tokens."""
        if merge_rate:
            raise ValueError(NO_MERGING)
        return self

    def tokens(self, x):
        """Every token of ``x [batch, frames, mel]``: ONNX Runtime where
        the graph takes the input, else PyTorch in fp32."""
        frames_min, frames_max = self.frames
        mels = x.shape[2] == self.module.input_fdim
        if mels and frames_min <= x.shape[1] <= frames_max:
            fbank = x.detach().float().cpu().contiguous().numpy()
            out = self.session.run(None, {"fbank": fbank})[0]
            return torch.from_numpy(out).to(x.device)
        if not self.warned:
            logger.warning(
                "precision ort-int8: inputs of %d frames and %d mel bins "
                "run in PyTorch at fp32 (the ONNX graph takes %d to %d "
                "frames of %d)", x.shape[1], x.shape[2], frames_min,
                frames_max, self.module.input_fdim,
            )  # fmt: skip
            self.warned = True
        return self.module(x.float(), all_tokens=True)

    def forward(self, x, lengths=None, all_tokens=False):
        """The encoder's output (see ``AudioSpectrogramTransformer.
        forward``); padded clips are run one by one at their own frames,
        their padded tokens zero."""
        encoder = self.module
        grid = encoder.patch_grid(x.shape[1], x.shape[2])
        keep = None
        if lengths is None or not bool((lengths < 1).any()):
            tokens = self.tokens(x)
        else:
            keep = encoder.padding_mask(lengths.to(x.device), x.shape[1], grid)
            tokens = self.padded_tokens(x, lengths, grid)
        tokens = tokens.to(x.dtype)
        if encoder.output_all_tokens or all_tokens:
            return tokens
        return encoder.pool_tokens(tokens, grid, keep)

    def padded_tokens(self, x, lengths, grid):
        """Every token of a padded batch: full clips together, each padded
        clip alone at its own frames (at least one patch), zeros where
        the batch's padding is."""
        f_dim, t_dim = grid
        frames = self.module.valid_frames(lengths, x.shape[1])
        frames = frames.long().tolist()
        full = [i for i, n in enumerate(frames) if n >= x.shape[1]]
        tokens = torch.zeros(len(x), f_dim, t_dim, self.module.embed_dim)
        special = torch.zeros(len(x), 2, self.module.embed_dim)
        parts = [(full, x[full])] if full else []
        one_patch = self.module.patch_size[1]
        for i, n in enumerate(frames):
            if i not in full:
                parts.append(([i], x[i : i + 1, : max(n, one_patch)]))
        for rows, fbank in parts:
            out = self.tokens(fbank).float().cpu()
            steps = self.module.patch_grid(fbank.shape[1], fbank.shape[2])[1]
            special[rows] = out[:, :2]
            tokens[rows, :, :steps] = out[:, 2:].reshape(
                len(rows), f_dim, steps, -1
            )
        return torch.cat((special, tokens.flatten(1, 2)), dim=1).to(x.device)


@functools.cache
def block_session(dim, heads, threads):
    """An ONNX Runtime int8 session of one seeded transformer block
    ``dim`` wide with ``heads`` heads (the probe's; cached on disk)."""
    from timm.models.vision_transformer import Block

    require_onnxruntime()
    key = hashlib.sha256(
        f"probe block {dim} {heads}; {versions_key()}".encode()
    ).hexdigest()

    def export(path):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            block = Block(dim, heads, qkv_bias=True)
        tokens = {1: torch.export.Dim("tokens", min=2, max=8192)}
        return export_onnx(
            block, (torch.randn(1, 64, dim),), path, (tokens,), ["x"], ["y"]
        )

    return new_session(cached_int8_onnx(key, export, heads), threads)


def block_runner(dim, heads, tokens):
    """``run()``: one call of the probe's int8 block on ``tokens``
    random tokens in ONNX Runtime."""
    session = block_session(dim, heads, torch.get_num_threads())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        x = torch.randn(1, tokens, dim).numpy()
    return lambda: session.run(None, {"x": x})
