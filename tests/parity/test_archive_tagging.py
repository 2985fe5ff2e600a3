"""``ast-tag`` over folders and lists: batched across files, streamed to
JSONL/CSV, resumed after an interruption, bad files reported."""

import csv
import json
import os

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from pretrained_interfaces import AudioTagger
from pretrained_interfaces.tag_cli import main as ast_tag

WINDOW = 10.255  # seconds filling the 1024 frames of the HF model


def wave(seconds, rate=16000, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    shape = (round(seconds * rate), channels)
    return rng.normal(0, 0.1, shape).astype(np.float32).squeeze()


def read_jsonl(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle]


def hf_window_scores(model, path):
    """Sigmoid scores of each window of a file by Hugging Face's feature
    extractor and model (torchaudio resampling, channel mean)."""
    from transformers import ASTFeatureExtractor

    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    audio = torch.from_numpy(audio.mean(axis=1))
    if rate != 16000:
        audio = torchaudio.functional.resample(audio, rate, 16000)
    size = round(WINDOW * 16000)
    starts = [0]
    if audio.numel() > size:  # hop = window, plus one ending at the end
        starts = list(range(0, audio.numel() - size + 1, size))
        if starts[-1] + size < audio.numel():
            starts.append(audio.numel() - size)
    extractor = ASTFeatureExtractor()
    scores = []
    for start in starts:
        inputs = extractor(
            audio[start : start + size].numpy(),
            sampling_rate=16000,
            return_tensors="pt",
        )
        with torch.no_grad():
            scores.append(torch.sigmoid(model(**inputs).logits)[0].numpy())
    return np.stack(scores)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A folder tree of clips of several lengths, rates and channels."""
    root = tmp_path_factory.mktemp("archive")
    (root / "street" / "night").mkdir(parents=True)
    soundfile.write(root / "a_short.wav", wave(0.7, seed=1), 16000)
    soundfile.write(root / "b_ten.flac", wave(10, seed=2), 16000)
    soundfile.write(root / "street" / "c_stereo.wav",
                    wave(3, 44100, 2, seed=3), 44100)  # fmt: skip
    soundfile.write(root / "street" / "night" / "d_long.wav",
                    wave(23, 8000, seed=4), 8000)  # fmt: skip
    (root / "street" / "readme.txt").write_text("not audio\n")
    return root


def test_archive_run_matches_hf_file_by_file(
    archive, hf_audioset_dir, tmp_path
):
    path, model = hf_audioset_dir
    out = tmp_path / "tags.jsonl"
    code = ast_tag([
        str(archive), "--model", str(path), "--output", str(out),
        "--batch-size", "3", "--workers", "2", "--precision", "fp32",
        "--top-k", "4",
    ])  # fmt: skip
    assert code == 0
    records = {os.path.relpath(r["file"], archive): r for r in read_jsonl(out)}
    assert sorted(records) == [
        "a_short.wav", "b_ten.flac", "street/c_stereo.wav",
        "street/night/d_long.wav",
    ]  # fmt: skip
    labels = model.config.id2label
    for name, record in records.items():
        expected = hf_window_scores(model, archive / name)
        assert len(record["windows"]) == len(expected), name
        for window, scores in zip(record["windows"], expected, strict=True):
            best = np.argsort(-scores, kind="stable")[:4]
            assert [t["label"] for t in window["tags"]] == [
                labels[int(i)] for i in best
            ], name
            got = [t["score"] for t in window["tags"]]
            assert np.allclose(got, scores[best], atol=2e-4), name
        clip = expected.max(axis=0)
        assert record["tags"][0]["label"] == labels[int(clip.argmax())]
    assert records["street/night/d_long.wav"]["duration"] == 23.0
    assert records["street/night/d_long.wav"]["windows"][-1]["start"] == (
        pytest.approx(23 - WINDOW, abs=1e-3)
    )


def test_interrupted_run_resumes_without_tagging_a_file_twice(
    tmp_path, hf_audioset_dir, monkeypatch, capsys
):
    path, _ = hf_audioset_dir
    names = [f"clip{i:02d}.wav" for i in range(9)]
    for seed, name in enumerate(names):
        soundfile.write(tmp_path / name, wave(1 + seed % 3, seed=seed), 16000)
    listed = tmp_path / "list.txt"
    listed.write_text("# clips to tag\n" + "\n".join(names) + "\n")
    out = tmp_path / "tags.jsonl"
    scored = []
    score_windows = AudioTagger.score_windows

    def interrupt_third_batch(self, windows, pad=True):
        if len(scored) == 2:
            raise KeyboardInterrupt
        scored.append(len(windows))
        return score_windows(self, windows, pad)

    monkeypatch.setattr(AudioTagger, "score_windows", interrupt_third_batch)
    command = [
        "--files-from", str(listed), "--model", str(path),
        "--output", str(out), "--batch-size", "2", "--workers", "0",
    ]  # fmt: skip
    assert ast_tag(command) == 130
    assert "run again with --output" in capsys.readouterr().err
    first = [os.path.basename(r["file"]) for r in read_jsonl(out)]
    assert first == names[:4]
    with open(out, "a") as handle:  # a line cut short by a killed run
        handle.write('{"file": "' + str(tmp_path / names[4]))

    tagged = []
    monkeypatch.setattr(
        AudioTagger, "score_windows",
        lambda self, w, pad=True: tagged.extend(w) or score_windows(self, w,
                                                                    pad),
    )  # fmt: skip
    assert ast_tag(command[:-1] + ["1"]) == 0
    assert "4 of 9 files are already in" in capsys.readouterr().err
    assert len(tagged) == 5  # one window each, none of the first four
    second = [os.path.basename(r["file"]) for r in read_jsonl(out)]
    assert second == names
    assert ast_tag(command) == 0  # nothing left: nothing tagged again
    assert len(tagged) == 5 and len(read_jsonl(out)) == 9


def test_bad_files_among_many_are_reported_and_the_rest_tagged(
    archive, hf_audioset_dir, tmp_path, capsys
):
    path, _ = hf_audioset_dir
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corrupt.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    soundfile.write(bad / "empty.wav", np.zeros(0, np.float32), 16000)
    soundfile.write(bad / "tiny.wav", np.zeros(100, np.float32), 16000)
    soundfile.write(bad / "cut.wav", wave(5, seed=9), 16000)
    (bad / "cut.wav").write_bytes((bad / "cut.wav").read_bytes()[:3000])
    out = tmp_path / "tags.csv"
    code = ast_tag([
        str(archive), str(bad), str(tmp_path / "missing.wav"),
        "--model", str(path), "--output", str(out), "--top-k", "2",
        "--batch-size", "4",
    ])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    with open(out, newline="") as handle:
        rows = {os.path.basename(r["file"]): r for r in csv.DictReader(handle)}
    errors = {
        "corrupt.wav": "corrupt.wav: unreadable or corrupt",
        "empty.wav": "empty.wav: the audio file holds no samples",
        "tiny.wav": "tiny.wav: 100 samples is shorter than one 25 ms frame",
        "missing.wav": "missing.wav: no such audio file",
        "cut.wav": "cut.wav: truncated: the header promises 5.00 s",
    }
    for name, message in errors.items():
        assert message in rows[name]["error"] and message in err
        assert rows[name]["label_1"] == ""
    for name in ("a_short.wav", "b_ten.flac", "c_stereo.wav", "d_long.wav"):
        assert rows[name]["error"] == "" and rows[name]["label_2"] != ""
        assert 0 <= float(rows[name]["score_1"]) <= 1
    assert len(rows) == 9
    assert "4 files tagged, 5 failed" in err
    assert "ast-tag: precision auto: " in err  # the choice and why


def test_tagger_batches_files_of_different_lengths_as_one_by_one(
    archive, hf_audioset_dir
):
    path, _ = hf_audioset_dir
    tagger = AudioTagger.from_source(str(path), precision="fp32")
    paths = sorted(str(p) for p in archive.rglob("*.wav"))
    together, failures = tagger.tag_files(paths, batch_size=5, top_k=None)
    assert not failures
    for path, result in zip(paths, together, strict=True):
        alone = tagger.tag_file(path, batch_size=1, top_k=None)
        assert result.file == path
        assert np.abs(result.scores - alone.scores).max() < 1e-5


def test_usage_errors_name_the_problem(tmp_path, capsys):
    assert ast_tag([str(tmp_path), "--output", "x.jsonl"]) == 2
    assert "no audio files" in capsys.readouterr().err
    soundfile.write(tmp_path / "a.wav", wave(1), 16000)
    assert ast_tag([str(tmp_path), "--output", str(tmp_path / "x.txt")]) == 2
    assert "must end in .jsonl, .ndjson or .csv" in capsys.readouterr().err
    (tmp_path / "old.jsonl").write_text("not json\n")
    assert (
        ast_tag([str(tmp_path), "--output", str(tmp_path / "old.jsonl")]) == 2
    )
    assert "old.jsonl: line 1 is not a result" in capsys.readouterr().err
