"""Model folders a stranger made: nothing in one runs, hangs or decides
how much memory loading takes, and each malformed one ends in one line
naming the file and key.

Each folder is made by hand: a ``hyperparams.yaml`` that runs a command
and is no export, an alias bomb, a ``model.json`` whose sizes disagree
with its weights, malformed sizes, weights and labels; a fuzz test feeds
random small mutations of a real export to the one loader."""

import gc
import json
import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import warnings
from contextlib import contextmanager

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lazy_modules import settle_lazy_modules
from speechbrain.dataio.encoder import CategoricalEncoder

from ast_lobes import (
    AudioClassificationHead,
    AudioClassificationPipeline,
    AudioSpectrogramTransformer,
    FbankNormalization,
    KaldiFbank,
    export_classifier,
)
from ast_lobes.weights.files import CheckpointError, UnsafeModelFolderError
from ast_lobes.weights.sources import load_model_source
from pretrained_interfaces import AudioTagger
from pretrained_interfaces.tag_cli import main as ast_tag

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "fixtures",
    "export_v0_1",
)
CLIP = os.path.join(FIXTURE, "audio", "full_2s.wav")


@contextmanager
def within(seconds):
    """Fails the test (instead of hanging it) past ``seconds``."""

    def stop(*_):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# What one load of a fuzzed folder may add to the process's address
# space (its weights are 100 KB; a folder that makes loading take more is
# the bug the fuzz looks for).
LOAD_BOUND_MB = 200


def address_space():
    """Bytes of this process's address space (Linux ``/proc``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def memory_bound(megabytes):
    """Fails any allocation that would take the address space more than
    ``megabytes`` beyond what it is now (``RLIMIT_AS``, soft limit,
    restored after; Linux only, elsewhere no bound)."""
    if not sys.platform.startswith("linux"):
        yield
        return
    import resource

    gc.collect()  # garbage freed inside the bound would widen it
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = address_space() + (megabytes << 20)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def out_of_bound(error):
    """Whether ``error`` or what caused it is an allocation that
    ``memory_bound`` refused (a loader may wrap it in its own error)."""
    while error is not None:
        if isinstance(error, MemoryError) or "allocate" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def test_the_memory_bound_stops_a_load_that_takes_more():
    # in a process of its own: in the test process, memory that earlier
    # tests freed may be handed out again without new address space
    code = (
        "import sys, torch\n"
        f"sys.path[:0] = [{HERE!r}, {os.path.join(HERE, '..', 'helpers')!r}]\n"
        "from test_hostile_model_folders import (\n"
        "    LOAD_BOUND_MB, memory_bound, out_of_bound)\n"
        "try:\n"
        "    with memory_bound(LOAD_BOUND_MB):\n"
        "        torch.ones((LOAD_BOUND_MB + 100) << 18)  # MB + 100\n"
        "except (MemoryError, RuntimeError) as error:\n"
        "    assert out_of_bound(error), error\n"
        "else:\n"
        "    sys.exit('the bound let it through')\n"
        "torch.ones(LOAD_BOUND_MB << 18)  # the bound is gone after\n"
    )
    result = subprocess.run([sys.executable, "-c", code],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


def export_tiny(folder):
    """A real export of a tiny model (32 dims, one block, 3 labels)."""
    torch.manual_seed(0)
    pipeline = AudioClassificationPipeline(
        KaldiFbank(target_length=100), FbankNormalization("audioset"),
        AudioSpectrogramTransformer(model_size=None, embed_dim=32, depth=1,
                                    num_heads=2, target_length=100),
        AudioClassificationHead(32, 3),
    ).eval()  # fmt: skip
    labels = CategoricalEncoder()
    labels.update_from_iterable(["a", "b", "c"])
    export_classifier(str(folder), pipeline, labels, multi_label=True)
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("export") / "model")


def copy_of(exported, tmp_path, keep_yaml=False):
    """The export with only ``model.json`` and ``model.safetensors``
    (``keep_yaml``: everything)."""
    folder = tmp_path / "copy"
    shutil.copytree(exported, folder)
    if not keep_yaml:
        for name in ("hyperparams.yaml", "embedding_model.ckpt",
                     "classifier.ckpt", "label_encoder.ckpt"):  # fmt: skip
            os.remove(folder / name)
    return folder


def edit_description(folder, change):
    path = folder / "model.json"
    description = json.loads(path.read_text())
    description = change(description) or description
    path.write_text(json.dumps(description))
    return path


def one_line_naming(error, *words):
    text = str(error.value)
    assert "\n" not in text, text
    for word in words:
        assert str(word) in text, (word, text)


# 1. No code runs from a local folder.


def test_from_hparams_refuses_a_folder_that_is_no_export(tmp_path):
    folder = tmp_path / "stranger"
    folder.mkdir()
    marker = tmp_path / "marker"
    (folder / "hyperparams.yaml").write_text(
        f'x: !apply:os.system ["touch {marker}"]\n'
    )
    with pytest.raises(UnsafeModelFolderError) as error:
        AudioTagger.from_hparams(source=str(folder),
                                 savedir=str(tmp_path / "saved"))  # fmt: skip
    one_line_naming(error, folder, "trust_code")
    assert not marker.exists()


def test_from_hparams_still_reads_an_export_as_data(exported):
    tagger = AudioTagger.from_hparams(source=str(exported))
    assert list(tagger.hparams.label_encoder.lab2ind) == ["a", "b", "c"]


# 2. YAML is parsed with limits.


def alias_bomb(levels=9, width=9):
    lines = ["# ast_lobes.AudioSpectrogramTransformer", "a0: &a0 [x]"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_ends_at_once_naming_the_file(tmp_path, capsys):
    folder = tmp_path / "bomb"
    folder.mkdir()
    path = folder / "hyperparams.yaml"
    path.write_text(alias_bomb())
    assert path.stat().st_size < 2048
    with within(20), pytest.raises(UnsafeModelFolderError) as error:
        load_model_source(str(folder))
    one_line_naming(error, path, "alias")
    with within(20):
        code = ast_tag([CLIP, "--model", str(folder), "--precision", "fp32"])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0]


def test_few_aliases_over_a_wide_list_are_refused_by_their_expansion(
    tmp_path,
):
    # 4 aliases (under the alias limit), each repeating a list of 40,000
    # items: 160,000 nodes to walk once expanded
    folder = tmp_path / "wide"
    folder.mkdir()
    path = folder / "hyperparams.yaml"
    items = ", ".join(["1"] * 40_000)
    path.write_text(
        "# ast_lobes.AudioSpectrogramTransformer\n"
        f"a: &a [{items}]\nb: [*a, *a, *a, *a]\n"
    )
    with within(20), pytest.raises(UnsafeModelFolderError) as error:
        load_model_source(str(folder))
    one_line_naming(error, path, "nodes")


@pytest.mark.parametrize("edit", [
    ("embedding_model: !new:ast_lobes.AudioSpectrogramTransformer",
     "embedding_model: 3\nunused: !new:ast_lobes.AudioSpectrogramTransformer"),
    ("  model_size:\n", "  model_size: huge\n"),
])  # fmt: skip
def test_a_malformed_old_yaml_is_one_line_naming_it(exported, tmp_path, edit):
    folder = copy_of(exported, tmp_path, keep_yaml=True)
    os.remove(folder / "model.json")
    os.remove(folder / "model.safetensors")
    path = folder / "hyperparams.yaml"
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1))
    with within(20), pytest.raises(CheckpointError) as error:
        load_model_source(str(folder))
    one_line_naming(error, path)


def test_a_huge_or_deep_yaml_is_refused_naming_the_file(tmp_path):
    folder = tmp_path / "deep"
    folder.mkdir()
    path = folder / "hyperparams.yaml"
    path.write_text("# ast_lobes.\nx: " + "[" * 500 + "]" * 500 + "\n")
    with within(20), pytest.raises(CheckpointError) as error:
        load_model_source(str(folder))
    one_line_naming(error, path, "deep")
    path.write_text("# ast_lobes.\n" + "x: 1\n" * 400_000)
    with within(20), pytest.raises(CheckpointError) as error:
        load_model_source(str(folder))
    one_line_naming(error, path, "bytes")


# 3. Loading is bounded by the files' own size.


def test_sizes_that_the_weights_do_not_hold_are_refused_first(
    exported, tmp_path
):
    folder = copy_of(exported, tmp_path)
    path = edit_description(
        folder, lambda d: d["encoder"].update(depth=10000, embed_dim=768)
    )
    with within(20), pytest.raises(CheckpointError) as error:
        load_model_source(str(folder))
    one_line_naming(error, path, "encoder.depth", "model.safetensors")


# sizes implying more weights than the file holds are refused from the
# header's count; fewer, but of other shapes, tensor by tensor against the
# model built on the meta device
@pytest.mark.parametrize("sizes, refusal", [
    ({"embed_dim": 4096}, "at least"), ({"mlp_ratio": 100000.0}, "at least"),
    ({"target_length": 1000000}, "at least"),
    ({"stem_channels": 1000000}, "at least"),
    ({"stem_channels": 300, "stem_layers": 8}, "of shape"),
    ({"target_length": 200}, "of shape"),
])  # fmt: skip
def test_sizes_the_weights_do_not_fit_are_refused_before_building(
    exported, tmp_path, sizes, refusal
):
    folder = copy_of(exported, tmp_path)
    path = edit_description(folder, lambda d: d["encoder"].update(sizes))
    with within(20), pytest.raises(CheckpointError) as error:
        load_model_source(str(folder))
    one_line_naming(error, path, "model.safetensors", refusal)


def test_an_old_folder_is_checked_against_its_ckpt_shapes(exported, tmp_path):
    folder = copy_of(exported, tmp_path, keep_yaml=True)
    os.remove(folder / "model.json")
    os.remove(folder / "model.safetensors")
    yaml_path = folder / "hyperparams.yaml"
    text = yaml_path.read_text()
    assert "embed_dim: 32" in text
    yaml_path.write_text(text.replace("embed_dim: 32", "embed_dim: 4096"))
    with within(20), pytest.raises(CheckpointError) as error:
        load_model_source(str(folder))
    one_line_naming(error, yaml_path, "embedding_model.ckpt")


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda d: d["encoder"].update(depth=0), "depth"),
        (lambda d: d["encoder"].update(depth=-3), "depth"),
        (lambda d: d["encoder"].update(depth=1.5), "depth"),
        (
            lambda d: d["encoder"].update(image_stem_stride=0),
            "image_stem_stride",
        ),
        (
            lambda d: d["encoder"].update(image_stem_stride=10**9),
            "image_stem_stride",
        ),
        (lambda d: d["encoder"].update(embed_dim="32"), "embed_dim"),
        (lambda d: d["encoder"].update(num_heads=True), "num_heads"),
        (lambda d: d["encoder"].update(target_length=10**9), "target_length"),
        (lambda d: d["head"].update(n_labels=-1), "n_labels"),
        (lambda d: d["front_end"].update(n_mels=10**8), "n_mels"),
        (lambda d: d["front_end"].update(sample_rate=0), "sample_rate"),
        (lambda d: d.update(encoder=[1, 2]), "encoder"),
        (lambda d: d.update(labels="abc"), "labels"),
        (lambda d: d.update(labels=[1, 2, 3]), "labels"),
        (lambda d: d.update(normalization=[1.0]), "normalization"),
        (lambda d: d.update(thresholds=[0.5]), "thresholds"),
        (lambda d: [d], "model.json"),
    ],
)
def test_a_malformed_description_is_one_line_naming_file_and_key(
    exported, tmp_path, change, key
):
    folder = copy_of(exported, tmp_path)
    path = edit_description(folder, change)
    with within(20), pytest.raises(CheckpointError) as error:
        load_model_source(str(folder))
    one_line_naming(error, path, key)


def truncated(data):
    return data[: len(data) // 2]


def garbage(data):
    return b"\xff" * len(data)


def huge_header(data):
    return struct.pack("<Q", 2**62) + data[8:]


def header_beyond_data(data):
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    name = next(key for key in header if key != "__metadata__")
    header[name]["data_offsets"][1] += 10**9
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + length :]


@pytest.mark.parametrize(
    "damage", [truncated, garbage, huge_header, header_beyond_data]
)
def test_malformed_weights_are_one_line_naming_the_file(
    exported, tmp_path, capsys, damage
):
    folder = copy_of(exported, tmp_path)
    path = folder / "model.safetensors"
    path.write_bytes(damage(path.read_bytes()))
    with within(20), pytest.raises(CheckpointError) as error:
        load_model_source(str(folder))
    one_line_naming(error, path)
    code = ast_tag([CLIP, "--model", str(folder), "--precision", "fp32"])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0]


def test_a_bad_label_file_is_one_line_naming_it(exported, tmp_path):
    folder = copy_of(exported, tmp_path, keep_yaml=True)
    os.remove(folder / "model.json")
    os.remove(folder / "model.safetensors")
    path = folder / "label_encoder.ckpt"
    path.write_bytes(b"\xff\xfe not labels \x00\n'a' => x\n")
    with within(20), pytest.raises(CheckpointError) as error:
        load_model_source(str(folder))
    one_line_naming(error, path)


# 4. Random small mutations of a real export.


def mutate(data, edits):
    """``data`` with each ``(position, byte)`` of ``edits`` written over it,
    or (a negative byte) cut there."""
    data = bytearray(data)
    for position, value in edits:
        if not data:
            break
        position %= len(data)
        if value < 0:
            del data[position:]
        else:
            data[position] = value
    return bytes(data)


YAML_FILES = ("hyperparams.yaml", "label_encoder.ckpt", "classifier.ckpt")


@settings(max_examples=60, deadline=5000, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])  # fmt: skip
@given(
    target=st.sampled_from(
        ["model.json", "model.safetensors", "both", *YAML_FILES]
    ),
    edits=st.lists(
        st.tuples(st.integers(0, 2**16), st.integers(-1, 255)),
        min_size=1,
        max_size=4,
    ),  # fmt: skip
    random_bytes=st.none() | st.binary(max_size=256),
)
def test_random_mutations_load_or_end_in_a_user_error(
    exported, tmp_path_factory, target, edits, random_bytes
):
    """Mutations of ``model.json`` and ``model.safetensors``; of
    ``hyperparams.yaml``, ``label_encoder.ckpt`` and ``classifier.ckpt``
    in the same folder without the two (as a folder exported before
    ``model.json`` is read). Each load has 10 s and ``LOAD_BOUND_MB`` of
    address space beyond what the process has before it."""
    folder = tmp_path_factory.mktemp("fuzz") / "model"
    shutil.copytree(exported, folder)
    if target in YAML_FILES:
        os.remove(folder / "model.json")
        os.remove(folder / "model.safetensors")
    for name in ("model.json", "model.safetensors", *YAML_FILES):
        if target in (name, "both") or (target == "both" and name in (
            "model.json", "model.safetensors"
        )):  # fmt: skip
            path = folder / name
            data = random_bytes
            if data is None:
                data = mutate(path.read_bytes(), edits)
            path.write_bytes(data)
    try:
        with (within(10), memory_bound(LOAD_BOUND_MB),
              warnings.catch_warnings()):  # fmt: skip
            warnings.simplefilter("ignore")  # the old folder's notice
            model = load_model_source(str(folder))
    except CheckpointError as error:
        assert "\n" not in str(error), str(error)
        assert not out_of_bound(error), str(error)
    else:
        assert len(model.label_names) == 3
    finally:
        settle_lazy_modules()  # those this load imported, before the next


# 5. The other JSON files a model folder holds.

RECORD = {"weights_sha256": "0" * 64, "files": 10, "measured_on": "a CPU",
          "agreement": {"bf16": {"0": 1.0}},
          "seconds_per_file": {"bf16": {"0": 0.1}}}  # fmt: skip


def deep_json(levels=100_000):
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("text, key", [
    ('{"agreement": ' + deep_json() + "}", "(file)"),
    (json.dumps(RECORD) + " " * (1 << 20), "(file)"),
    (json.dumps([RECORD]), "(top)"),
    (json.dumps({**RECORD, "agreement": {"bf16": {"0": math.inf}}}),
     "agreement.bf16.0"),
    (json.dumps({**RECORD, "agreement": {"bf16": {"0": 1.5}}}),
     "agreement.bf16.0"),
    (json.dumps({**RECORD, "agreement": {"bf16": {"2": 1.0}}}),
     "agreement.bf16.2"),
    (json.dumps({**RECORD, "agreement": {"rm -rf": {"0": 1.0}}}),
     "agreement.rm -rf"),
    (json.dumps({**RECORD, "seconds_per_file": {"bf16": {"0": -1}}}),
     "seconds_per_file.bf16.0"),
    (json.dumps({**RECORD, "agreement": "all"}), "agreement"),
    (json.dumps({**RECORD, "measured_on": ["a CPU"]}), "measured_on"),
])  # fmt: skip
def test_a_malformed_agreement_record_is_one_line_naming_file_and_key(
    exported, tmp_path, capsys, text, key
):
    folder = copy_of(exported, tmp_path)
    path = folder / "inference_agreement.json"
    path.write_text(text)
    with within(20), pytest.raises(ValueError) as error:
        AudioTagger.from_source(str(folder))
    one_line_naming(error, path, f"({key}: ")
    code = ast_tag([CLIP, "--model", str(folder)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and str(path) in lines[0], lines


@pytest.mark.parametrize("file, change, key", [
    ("config.json", lambda c: [c], "(top)"),
    ("config.json", lambda c: {**c, "hidden_size": "64"}, "hidden_size"),
    ("config.json", lambda c: {**c, "num_hidden_layers": 0},
     "num_hidden_layers"),
    ("config.json", lambda c: {k: v for k, v in c.items()
                               if k != "num_attention_heads"},
     "num_attention_heads"),
    ("config.json", lambda c: {**c, "layer_norm_eps": "tiny"},
     "layer_norm_eps"),
    ("config.json", lambda c: {**c, "id2label": ["a", "b"]}, "id2label"),
    ("config.json", lambda c: json.dumps(c)[:-1] + ', "x": '
     + deep_json() + "}", "(file)"),
    ("config.json", lambda c: {**c, "num_hidden_layers": 1000},
     "num_hidden_layers: 1000, but"),
    ("config.json", lambda c: {**c, "hidden_size": 4096,
                               "intermediate_size": 16384}, "need at least"),
    ("config.json", lambda c: {**c, "max_length": 100_000}, "need at least"),
    ("preprocessor_config.json", lambda c: {**c, "std": 0}, "std"),
    ("preprocessor_config.json", lambda c: {"mean": -4.2}, "std"),
])  # fmt: skip
def test_a_malformed_hugging_face_config_is_one_line_naming_file_and_key(
    hf_speechcommands_dir, tmp_path, file, change, key
):
    folder = tmp_path / "hf"
    shutil.copytree(hf_speechcommands_dir[0], folder)
    path = folder / file
    settings = {"mean": -4.2, "std": 4.5, "max_length": 128}
    if path.exists():
        settings = json.loads(path.read_text())
    changed = change(settings)
    path.write_text(
        changed if isinstance(changed, str) else json.dumps(changed)
    )
    with within(20), pytest.raises(CheckpointError) as error:
        with memory_bound(LOAD_BOUND_MB):
            load_model_source(str(folder))
    assert not out_of_bound(error.value)
    one_line_naming(error, path, key)


@pytest.mark.parametrize("text, key", [
    ("[1, 2]", "(top)"),
    ('{"config": {"embed_dim": 32, "colour": "red"}}', "config"),
    ('{"config": [32]}', "config"),
    ("{" * 5000, "(file)"),
])  # fmt: skip
def test_a_malformed_pretrained_encoder_json_is_one_line_naming_it(
    tmp_path, text, key
):
    from ast_lobes.weights.self_supervised import (
        read_pretrained_encoder,
        save_pretrained_encoder,
    )

    encoder = AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2,
        target_length=96, fstride=16, tstride=16,
    )  # fmt: skip
    folder = save_pretrained_encoder(str(tmp_path / "enc"), encoder)
    path = os.path.join(folder, "encoder.json")
    with open(path, "w") as handle:
        handle.write(text)
    with pytest.raises(CheckpointError) as error:
        read_pretrained_encoder(folder)
    one_line_naming(error, path, key)
