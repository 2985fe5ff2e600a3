"""Weight files a stranger made (``--pretrained_ast``, ImageNet files,
``--init_from``, ``ast-tag --model x.pth``, an old folder's ``.ckpt``):
nothing in one runs, what reading one takes in memory is bounded by the
file's own size, and each malformed one ends in one line naming it.

Each file is made by hand: a pickle that would run a command, an archive
whose members inflate far beyond the file, a view claiming more memory
than its storage, and truncated or garbage files."""

import os
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from ast_lobes.weights.files import CheckpointError, read_state_dict_file
from pretrained_interfaces.tag_cli import main as ast_tag

FIXTURES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"
)
CLIP = os.path.join(FIXTURES, "export_v0_1", "audio", "full_2s.wav")


def one_line_naming(error, *words):
    text = str(error.value)
    assert "\n" not in text, text
    for word in words:
        assert str(word) in text, (word, text)


def refused_by_ast_tag(path, capsys):
    """``ast-tag --model path`` ends with exit 2 and one line naming it."""
    code = ast_tag([CLIP, "--model", str(path), "--precision", "fp32"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and str(path) in lines[0], lines


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_one_line_naming_the_file(
    tmp_path, capsys
):
    marker = tmp_path / "marker"
    path = tmp_path / "weights.pth"
    torch.save({"a": torch.ones(2), "b": RunsACommand(marker)}, path)
    with pytest.raises(CheckpointError) as error:
        read_state_dict_file(path)
    one_line_naming(error, path, "posix.system")
    refused_by_ast_tag(path, capsys)
    assert not marker.exists()


def deflated(path):
    """``path`` written again with its members compressed (a zip bomb:
    what loading takes is no longer the file's size)."""
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info.filename, data)
    return path


def test_members_that_inflate_beyond_the_file_are_refused_unread(tmp_path):
    path = tmp_path / "bomb.pth"
    torch.save({"a": torch.zeros(4 << 20)}, path)  # 16 MiB of zeros
    deflated(path)
    assert path.stat().st_size < 100_000
    with pytest.raises(CheckpointError) as error:
        read_state_dict_file(path)
    one_line_naming(error, path, "compressed or larger than the file")


def test_a_view_claiming_more_than_its_storage_is_refused(tmp_path):
    # 1 GiB of float32 over one stored number: any operation on it (a
    # position grid resized, a conv summed) would make it real
    path = tmp_path / "expanded.pth"
    torch.save({"pos_embed": torch.ones(1).expand(1 << 28)}, path)
    assert path.stat().st_size < 10_000
    with pytest.raises(CheckpointError) as error:
        read_state_dict_file(path)
    one_line_naming(error, path, "pos_embed", "expanded view")


def saved_pth(path):
    torch.save({"model": {"a": torch.arange(6.0).reshape(2, 3)}}, path)
    return path.read_bytes()


def saved_safetensors(path):
    save_file({"a": torch.arange(6.0).reshape(2, 3)}, str(path))
    return path.read_bytes()


@pytest.mark.parametrize("suffix, save", [(".pth", saved_pth),
                                          (".safetensors", saved_safetensors),
                                          (".ckpt", saved_pth)])  # fmt: skip
@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: data[:-4],
        lambda data: b"\xff" * len(data),
        lambda data: b"",
        lambda data: b"not weights\n",
    ],
    ids=["truncated", "last-bytes-cut", "garbage", "empty", "text"],
)
def test_truncated_or_garbage_weights_are_one_line_naming_the_file(
    tmp_path, capsys, suffix, save, damage
):
    path = tmp_path / f"weights{suffix}"
    path.write_bytes(damage(save(path)))
    with pytest.raises(CheckpointError) as error:
        read_state_dict_file(path)
    one_line_naming(error, path)
    if suffix == ".pth":
        refused_by_ast_tag(path, capsys)


@pytest.mark.parametrize("suffix, save", [(".pth", saved_pth),
                                          (".safetensors", saved_safetensors)
                                          ])  # fmt: skip
def test_a_sound_weight_file_is_read_whole(tmp_path, suffix, save):
    path = tmp_path / f"weights{suffix}"
    save(path)
    state = read_state_dict_file(path)
    assert list(state) == ["a"]
    assert state["a"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_a_file_in_the_format_before_pytorch_1_6_is_still_read(tmp_path):
    path = tmp_path / "legacy.pth"
    torch.save({"a": torch.ones(3)}, path, _use_new_zipfile_serialization=False)
    assert read_state_dict_file(path)["a"].tolist() == [1.0, 1.0, 1.0]
