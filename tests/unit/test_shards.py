"""WebDataset shards: written from a manifest and read back, resumed,
checked, dealt out to processes and workers, resumed inside an epoch, and
drawn label-balanced like the loose-file sampler."""

import csv
import json
import os
import re
import sys
import tarfile
from collections import Counter

import numpy as np
import pytest
import soundfile
import torch
import torchaudio
from speechbrain.dataio.encoder import CategoricalEncoder

import ast_lobes.training.data.shards as shards_module
from ast_lobes.training.data.datasets import UnknownLabelError
from ast_lobes.training.data.sampling import label_balanced_sampler
from ast_lobes.training.data.shards import (
    ShardedClips,
    ShardError,
    ShardLoader,
    check_shards,
    expand_shards,
    file_sha256,
    write_shards,
)
from ast_lobes.training.data.write_shards import main as write_shards_main
from ast_lobes.training.options import run_main

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
sys.path.insert(0, os.path.join(ROOT, "recipes", "AudioSet"))

from audioset_prepare import prepare_audioset  # noqa: E402
from make_audioset_demo import make_demo_audioset  # noqa: E402


def quiet(line):
    del line


@pytest.fixture(scope="module")
def demo_manifest(tmp_path_factory):
    """The AudioSet recipe's demo set (wav and flac, 16 and 32 kHz)."""
    folder = tmp_path_factory.mktemp("audioset")
    make_demo_audioset(str(folder))
    prepare_audioset(
        str(folder / "save"), str(folder / "class_labels_indices.csv"),
        "full", str(folder), str(folder / "audio"),
    )  # fmt: skip
    return folder / "save" / "train.csv"


def manifest(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def tar_members(path):
    with tarfile.open(path) as archive:
        return {
            member.name: archive.extractfile(member).read()
            for member in archive.getmembers()
        }


def test_shards_hold_the_manifest_clips_labels_and_ids(demo_manifest, tmp_path):
    rows = manifest(demo_manifest)
    index = write_shards(str(demo_manifest), str(tmp_path), 5, log=quiet)
    assert index["clips"] == len(rows)
    assert [s["clips"] for s in index["shards"]] == [5] * (len(rows) // 5) + (
        [len(rows) % 5] if len(rows) % 5 else []
    )
    stored = {}
    for shard in index["shards"]:
        members = tar_members(tmp_path / shard["name"])
        for name, data in members.items():
            key, extension = name.split(".", 1)
            stored.setdefault(key, {})[extension] = data
    assert len(stored) == len(rows)
    for position, row in enumerate(rows):
        sample = stored[f"{position:09d}"]
        record = json.loads(sample["json"])
        assert record["id"] == row["ID"]
        assert record["labels"] == row["label"].split(";")
        # the reference: torchaudio's resampling of soundfile's samples,
        # stored as 16-bit FLAC
        original, rate = soundfile.read(row["wav"], dtype="float32")
        expected = torch.from_numpy(original)
        if rate != 16000:
            expected = torchaudio.functional.resample(expected, rate, 16000)
        got, got_rate = soundfile.read(
            __import__("io").BytesIO(sample["flac"]), dtype="float32"
        )
        assert got_rate == 16000 and got.shape == expected.shape
        assert np.abs(got - expected.numpy()).max() <= 1.0 / 32768 + 1e-6
        assert record["duration"] == pytest.approx(len(got) / 16000)


def test_an_interrupted_writer_resumes_at_the_missing_shard(
    demo_manifest, tmp_path, capsys
):
    index = write_shards_main(
        [str(demo_manifest), str(tmp_path), "--clips_per_shard", "5"]
    )
    assert f"{index['clips']} clips in {len(index['shards'])} shards" in (
        capsys.readouterr().out
    )
    last = index["shards"][-1]
    (tmp_path / last["name"]).unlink()  # killed while writing the last one
    (tmp_path / (last["name"] + ".partial")).write_bytes(b"half a tar")
    lines = []
    again = write_shards(str(demo_manifest), str(tmp_path), 5, log=lines.append)
    assert len(lines) == 1 and last["name"] in lines[0]
    assert again == index  # the same bytes: tar times are fixed
    assert check_shards(str(tmp_path)) == index


def test_check_names_a_changed_shard_and_other_settings_are_refused(
    demo_manifest, tmp_path
):
    index = write_shards(str(demo_manifest), str(tmp_path), 5, log=quiet)
    first = tmp_path / index["shards"][0]["name"]
    data = bytearray(first.read_bytes())
    data[700] ^= 1
    first.write_bytes(bytes(data))
    with pytest.raises(ShardError, match="shard-000000.tar: its SHA-256"):
        check_shards(str(tmp_path))
    with pytest.raises(SystemExit, match="write_shards: .*000000.tar: its"):
        write_shards_main(["-", str(tmp_path), "--check"])
    with pytest.raises(ShardError, match="another manifest or with other"):
        write_shards(str(demo_manifest), str(tmp_path), 7, log=quiet)
    with pytest.raises(ShardError, match="shards.json: missing"):
        ShardedClips(str(tmp_path / "x" / "shard-0.tar"), None, 2)


def tiny_set(folder, labels, seconds=0.02):
    """A manifest of tiny clips with the given label lists."""
    path = folder / "m.csv"
    with open(path, "w") as handle:
        handle.write("ID,duration,wav,label\n")
        for number, names in enumerate(labels):
            wav = folder / f"{number}.wav"
            soundfile.write(wav, np.full(int(16000 * seconds), 0.01), 16000)
            handle.write(f"clip{number},{seconds},{wav},{';'.join(names)}\n")
    return path


def encoder_of(names):
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(sorted(names))
    return encoder


def test_processes_read_disjoint_parts_covering_the_set(tmp_path):
    labels = [["a"] if n % 3 else ["b"] for n in range(40)]
    write_shards(str(tiny_set(tmp_path, labels)), str(tmp_path), 4, log=quiet)
    pattern = str(tmp_path / "shard-{000000..000009}.tar")
    seen = []
    for rank in (0, 1):
        clips = ShardedClips(pattern, encoder_of("ab"), 5, seed=3,
                             world_size=2, rank=rank)  # fmt: skip
        clips.set_epoch(2)
        batches = list(clips)
        assert len(batches) == len(clips) == 4  # 20 clips each, 5 a batch
        seen.append([i for batch in batches for i in batch.id])
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == sorted(f"clip{n}" for n in range(40))
    again = ShardedClips(pattern, encoder_of("ab"), 5, seed=3, world_size=2,
                         rank=0)  # fmt: skip
    again.set_epoch(3)
    assert [i for b in again for i in b.id] != seen[0]  # a new epoch order


@pytest.mark.parametrize("workers", [0, 2])
def test_a_resumed_epoch_yields_exactly_the_batches_left(tmp_path, workers):
    labels = [["a"] if n % 2 else ["b"] for n in range(30)]
    write_shards(str(tiny_set(tmp_path, labels)), str(tmp_path), 3, log=quiet)
    pattern = str(tmp_path / "shard-{000000..000009}.tar")

    def loader():
        clips = ShardedClips(pattern, encoder_of("ab"), 2, seed=5,
                             balanced=True, world_size=1, rank=0)  # fmt: skip
        return ShardLoader(clips, num_workers=workers)

    whole = loader()
    whole.set_epoch(4)
    full = [list(batch.id) for batch in whole]
    assert len(full) == 15
    first = loader()
    first.set_epoch(4)
    stream = iter(first)
    for _ in range(6):
        next(stream)
    first.save(str(tmp_path / "position.json"))  # killed after 6 batches
    resumed = loader()
    resumed.load(str(tmp_path / "position.json"), end_of_epoch=False)
    resumed.set_epoch(4)
    assert [list(batch.id) for batch in resumed] == full[6:]
    assert [list(batch.id) for batch in resumed] == full  # next pass: whole


def test_balanced_draws_from_shards_match_the_loose_file_sampler(tmp_path):
    # a skewed set of 39 clips: "a" on 36, "b" on 3, "c" on 1 (with "a")
    labels = [["a"]] * 35 + [["b"]] * 3 + [["a", "c"]]
    manifest_path = tiny_set(tmp_path, labels, seconds=0.005)
    write_shards(str(manifest_path), str(tmp_path), 4, log=quiet)
    pattern = str(tmp_path / "shard-{000000..000009}.tar")
    clips = ShardedClips(pattern, encoder_of("abc"), 13, seed=1,
                         balanced=True, world_size=1, rank=0)  # fmt: skip
    from_shards, shard_draws = Counter(), 0
    for epoch in range(60):
        clips.set_epoch(epoch)
        for batch in clips:
            for row in batch.targets.data:
                from_shards.update(np.flatnonzero(row.numpy()).tolist())
                shard_draws += 1
    sampler = label_balanced_sampler(str(manifest_path), seed=1)
    from_files = Counter()
    for epoch in range(60):
        sampler.set_epoch(epoch)
        for index in sampler:
            from_files.update(labels[index])
    # expected share of draws carrying each label: the weights' shares,
    # 1000 / (count + 0.01) per label, summed over a clip's labels
    weight = {"a": 1000 / 36.01, "b": 1000 / 3.01, "c": 1000 / 1.01}
    clip_weights = [sum(weight[x] for x in names) for names in labels]
    total = sum(clip_weights)
    draws = 60 * 39
    assert shard_draws == draws  # 3 batches of 13 an epoch
    for position, name in enumerate("abc"):
        expected = sum(
            w for w, names in zip(clip_weights, labels, strict=True)
            if name in names
        ) / total  # fmt: skip
        shards_share = from_shards[position] / shard_draws
        files_share = from_files[name] / draws
        spread = 4 * np.sqrt(expected * (1 - expected) / draws)
        assert abs(shards_share - expected) < spread, (name, shards_share)
        assert abs(files_share - expected) < spread, (name, files_share)


def rebuilt_shard(folder, change):
    """A one-shard folder of two clips whose tar is rewritten by
    ``change(members)`` (a list of ``(TarInfo, bytes)``), its index given
    the new bytes' SHA-256: a shard a stranger made, consistently indexed."""
    write_shards(str(tiny_set(folder, [["a"], ["b"]])), str(folder), 2,
                 log=quiet)  # fmt: skip
    path = folder / "shard-000000.tar"
    with tarfile.open(path) as archive:
        members = [
            (member, archive.extractfile(member).read())
            for member in archive.getmembers()
        ]
    members = change(members)
    with tarfile.open(path, "w") as archive:
        for member, data in members:
            member.size = len(data) if member.isreg() else 0
            archive.addfile(member, __import__("io").BytesIO(data))
    index = json.loads((folder / "shards.json").read_text())
    index["shards"][0]["sha256"] = file_sha256(str(path))
    (folder / "shards.json").write_text(json.dumps(index))
    return str(folder / "shard-{000000..000000}.tar")


def read_all(pattern, workers=0):
    clips = ShardedClips(pattern, encoder_of("ab"), 1, seed=0, world_size=1,
                         rank=0, shuffle_buffer=10)  # fmt: skip
    return sorted(list(batch.id) for batch in ShardLoader(clips, workers))


def test_the_loader_refuses_a_shard_whose_digest_is_not_the_index(tmp_path):
    pattern = rebuilt_shard(tmp_path, lambda members: members)
    assert read_all(pattern) == [["clip0"], ["clip1"]]
    shard = tmp_path / "shard-000000.tar"
    data = shard.read_bytes()
    assert data.count(b'"clip0"') == 1  # a label changed, the tar still valid
    shard.write_bytes(data.replace(b'"clip0"', b'"clip1"'))
    for workers in (0, 2):
        with pytest.raises(ShardError) as error:
            read_all(pattern, workers)
        assert str(error.value) == (
            f"{shard}: its SHA-256 is not the index's (changed or corrupt); "
            "write it again or run write_shards --check"
        )


def test_a_shard_is_hashed_once_per_process(tmp_path, monkeypatch):
    pattern = rebuilt_shard(tmp_path, lambda members: members)
    hashed = []
    sha256 = shards_module.hashlib.sha256

    def counting_sha256(*args):
        hashed.append(1)
        return sha256(*args)

    monkeypatch.setattr(shards_module, "_VERIFIED", {})
    monkeypatch.setattr(shards_module.hashlib, "sha256", counting_sha256)
    for _ in range(3):
        assert read_all(pattern) == [["clip0"], ["clip1"]]
    assert len(hashed) == 1


def with_member_type(kind, **fields):
    def change(members):
        member, _ = members[1]
        member.type = kind
        for name, value in fields.items():
            setattr(member, name, value)
        return [members[0], (member, b"")] + members[2:]

    return change


@pytest.mark.parametrize(
    "change",
    [
        with_member_type(tarfile.SYMTYPE, linkname="/etc/passwd"),
        with_member_type(tarfile.LNKTYPE, linkname="000000000.flac"),
        with_member_type(tarfile.DIRTYPE),
        with_member_type(tarfile.CHRTYPE, devmajor=1, devminor=3),
        with_member_type(tarfile.FIFOTYPE),
    ],
    ids=["symlink", "hard link", "directory", "device", "fifo"],
)
def test_a_member_that_is_not_a_regular_file_is_refused(tmp_path, change):
    pattern = rebuilt_shard(tmp_path, change)
    with pytest.raises(ShardError) as error:
        read_all(pattern)
    assert str(error.value) == (
        f"{tmp_path / 'shard-000000.tar'}: member '000000000.json': not a "
        "regular file"
    )
    with pytest.raises(ShardError, match="'000000000.json': not a regular"):
        check_shards(str(tmp_path))


def test_a_member_over_the_size_bound_is_refused_before_it_is_read(
    tmp_path, monkeypatch
):
    pattern = rebuilt_shard(tmp_path, lambda members: members)
    monkeypatch.setattr(shards_module, "MAX_MEMBER_BYTES", 20)
    with pytest.raises(ShardError) as error:
        read_all(pattern)
    assert str(error.value).startswith(
        f"{tmp_path / 'shard-000000.tar'}: member '000000000.flac': "
    )
    assert "more than a shard member may hold (20)" in str(error.value)


def test_a_flac_declaring_more_samples_than_the_bound_is_not_decoded(
    tmp_path, monkeypatch
):
    pattern = rebuilt_shard(tmp_path, lambda members: members)
    monkeypatch.setattr(shards_module, "MAX_CLIP_SAMPLES", 100)  # clips: 320
    with pytest.raises(ShardError, match=r"member '000000000.flac': not a "):
        read_all(pattern)


def replaced(name, data):
    def change(members):
        return [
            (member, data if member.name == name else old)
            for member, old in members
        ]

    return change


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("000000001.flac", b"fLaC garbage", "member '000000001.flac': not a "
         "clip's FLAC"),
        ("000000000.json", b"{not json", "member '000000000.json': not JSON"),
        ("000000000.json", b'{"id": "x", "labels": "a", "weight": 1}',
         "member '000000000.json': not a clip record"),
        ("000000000.json", b'{"id": "x", "labels": ["a"], "weight": NaN}',
         "member '000000000.json': not a clip record"),
        ("000000000.json", b"[" * 100000, "member '000000000.json': not JSON"),
    ],
    ids=["flac", "json", "labels", "weight", "deep json"],
)  # fmt: skip
def test_a_member_that_does_not_decode_is_refused(tmp_path, name, data,
                                                  message):  # fmt: skip
    pattern = rebuilt_shard(tmp_path, replaced(name, data))
    with pytest.raises(ShardError) as error:
        read_all(pattern)
    assert str(error.value).startswith(
        f"{tmp_path / 'shard-000000.tar'}: {message}"
    )
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ms: [(m, d) for m, d in ms if m.name != "000000000.flac"],
         "member '000000000': a clip needs a .flac and a .json member"),
        (lambda ms: ms + [(tarfile.TarInfo("run.sh"), b"rm -rf ~")],
         "member 'run.sh': not a clip's .flac or .json member"),
        (lambda ms: ms[:2], "1 clips, the index says 2"),
    ],
    ids=["no flac", "stray file", "short"],
)  # fmt: skip
def test_a_shard_of_other_members_is_refused(tmp_path, change, message):
    pattern = rebuilt_shard(tmp_path, change)
    with pytest.raises(ShardError, match=re.escape(message)):
        read_all(pattern)


@pytest.mark.parametrize(
    "index, message",
    [
        ("{not json", "shards.json: not JSON"),
        ("[1, 2]", "shards.json: not a shard index of this version"),
        ({"name": "../../etc/passwd.tar"}, "shards[0]: name '../../etc/pa"),
        ({"clips": -1}, "shards[0]: clips -1 is not a count"),
        ({"weight": float("inf")}, "shards[0]: weight inf is not a finite"),
        ({"sha256": None}, "shards[0]: sha256 None is not a SHA-256"),
    ],
    ids=["not json", "list", "name", "clips", "weight", "sha256"],
)
def test_a_malformed_index_is_refused_naming_the_key(tmp_path, index, message):
    pattern = rebuilt_shard(tmp_path, lambda members: members)
    path = tmp_path / "shards.json"
    if isinstance(index, dict):
        whole = json.loads(path.read_text())
        whole["shards"][0].update(index)
        index = json.dumps(whole)
    path.write_text(index)
    with pytest.raises(ShardError, match=re.escape(message)):
        read_all(pattern)
    with pytest.raises(ShardError, match=re.escape(message)):
        check_shards(str(tmp_path))


def test_the_recipe_ends_a_bad_shard_with_one_line_and_exit_2(tmp_path, capsys):
    pattern = rebuilt_shard(
        tmp_path, with_member_type(tarfile.SYMTYPE, linkname="/etc/x")
    )
    with pytest.raises(SystemExit) as stop:
        run_main(lambda: read_all(pattern, workers=2))
    assert stop.value.code == 2
    first, where = capsys.readouterr().err.splitlines()
    assert first == (
        f"error: {tmp_path / 'shard-000000.tar'}: member '000000000.json': "
        "not a regular file"
    )


def test_random_mutations_of_a_real_shard_end_in_one_line_or_success(
    tmp_path,
):
    """Seeded random byte flips, cuts and splices of a shard the writer
    made, indexed with the mutated bytes' digest (a stranger's consistent
    folder): each read ends with its clips or a one-line ``ShardError``."""
    pattern = rebuilt_shard(tmp_path, lambda members: members)
    shard = tmp_path / "shard-000000.tar"
    index_path = tmp_path / "shards.json"
    original, index = shard.read_bytes(), json.loads(index_path.read_text())
    rng = np.random.default_rng(48)
    outcomes = Counter()
    for _ in range(150):
        data = bytearray(original)
        kind = rng.integers(3)
        if kind == 0:  # flip bytes (headers, records, FLAC frames)
            for place in rng.integers(len(data), size=rng.integers(1, 8)):
                data[place] = rng.integers(256)
        elif kind == 1:  # cut short
            data = data[: rng.integers(len(data))]
        else:  # a random block pasted over a header or record
            place = rng.integers(len(data))
            data[place : place + 64] = rng.bytes(64)
        shard.write_bytes(bytes(data))
        index["shards"][0]["sha256"] = file_sha256(str(shard))
        index_path.write_text(json.dumps(index))
        try:
            ids = read_all(pattern)
            outcomes["read"] += 1
            assert len(ids) == 2
        except (ShardError, UnknownLabelError) as error:  # a label changed
            outcomes["refused"] += 1
            assert "\n" not in str(error)
            assert str(error).startswith(str(shard))
    assert outcomes["refused"] > 50, outcomes


def test_no_shuffle_buffer_reads_in_shard_order(tmp_path):
    pattern = rebuilt_shard(tmp_path, lambda members: members)
    clips = ShardedClips(pattern, encoder_of("ab"), 1, seed=0, world_size=1,
                         rank=0, shuffle_buffer=0)  # fmt: skip
    assert [list(batch.id) for batch in clips] == [["clip0"], ["clip1"]]


def test_shard_lists_name_a_missing_shard_and_a_malformed_pattern(tmp_path):
    write_shards(str(tiny_set(tmp_path, [["a"], ["b"], ["a"]])),
                 str(tmp_path), 1, log=quiet)  # fmt: skip
    first, third = (str(tmp_path / f"shard-00000{n}.tar") for n in (0, 2))
    # commas inside braces choose shards; outside, they separate patterns
    listed = expand_shards(f"{tmp_path}/shard-00000{{0,2}}.tar,{first}")
    assert [path for path, _, _ in listed] == [first, third, first]
    os.remove(third)
    with pytest.raises(ShardError) as error:
        expand_shards(f"{tmp_path}/shard-{{000000..000002}}.tar")
    assert str(error.value) == (
        f"{third}: missing (listed in {tmp_path}/shards.json; check the "
        f"folder: write_shards - {tmp_path} --check)"
    )
    with pytest.raises(ShardError) as error:
        expand_shards(f"{tmp_path}/shard-{{000000..000001.tar")
    assert str(error.value) == (
        f"train_shards {tmp_path}/shard-{{000000..000001.tar: unbalanced "
        "braces (a pattern is shard-{000000..000009}.tar)"
    )
