"""The multi-label tagger, the command line and inference on any audio."""

import json
import os

import numpy as np
import pytest
import soundfile
import torch
from checkpoint_formats import to_original_format
from safetensors.torch import load_file
from tagger_models import (
    deep_tagger,
    export_tagger,
    noise_clips,
    small_tagger,
    write_record,
)

from ast_lobes import (
    AudioFileError,
    read_audio,
)
from ast_lobes.weights.labels import audioset_label_names
from pretrained_interfaces import AudioTagger
from pretrained_interfaces.tag_cli import main as ast_tag

FULL_WINDOW = (1024 - 1) * 160 + 400  # samples filling 1024 frames exactly


def zero_mean_wave(n_samples, seed=0):
    wave = np.random.default_rng(seed).normal(0, 0.1, n_samples)
    return (wave - wave.mean()).astype(np.float32)


def test_tagger_on_hf_checkpoint_matches_hf_sigmoid(hf_audioset_dir, tmp_path):
    from transformers import ASTFeatureExtractor

    path, model = hf_audioset_dir
    wave = zero_mean_wave(FULL_WINDOW)
    soundfile.write(tmp_path / "clip.wav", wave, 16000, subtype="FLOAT")
    tagger = AudioTagger.from_source(str(path), precision="fp32")
    result = tagger.tag_file(tmp_path / "clip.wav", top_k=None)
    inputs = ASTFeatureExtractor()(
        wave, sampling_rate=16000, return_tensors="pt"
    )
    with torch.no_grad():
        expected = torch.sigmoid(model(**inputs).logits)[0].numpy()
    assert np.abs(result.scores - expected).max() < 1e-4
    best = int(np.argmax(expected))
    assert result.tags[0] == (model.config.id2label[best], pytest.approx(
        float(expected[best]), abs=1e-4))  # fmt: skip
    assert len(result.windows) == 1


def test_original_pth_gets_audioset_names(hf_audioset_dir, tmp_path):
    path, _ = hf_audioset_dir
    original = tmp_path / "audioset_10_10_0.0000.pth"
    torch.save(
        to_original_format(load_file(path / "model.safetensors")), original
    )
    with pytest.warns(DeprecationWarning, match="goes away in 0.5.0"):
        tagger = AudioTagger.from_ast_checkpoint(str(original))
    assert tagger.label_names == audioset_label_names()
    assert tagger.target_length == 1024 and tagger.window_seconds == 10.255


def test_short_clip_is_padded_to_the_window_as_hf_does(
    hf_audioset_dir, tmp_path
):
    from transformers import ASTFeatureExtractor

    path, model = hf_audioset_dir
    wave = zero_mean_wave(3 * 16000)
    soundfile.write(tmp_path / "short.wav", wave, 16000, subtype="FLOAT")
    tagger = AudioTagger.from_source(str(path), precision="fp32")
    result = tagger.tag_file(tmp_path / "short.wav", top_k=None)
    inputs = ASTFeatureExtractor()(
        wave, sampling_rate=16000, return_tensors="pt"
    )  # pads to 1024 frames, as the reference and our training do
    with torch.no_grad():
        expected = torch.sigmoid(model(**inputs).logits)[0].numpy()
    assert np.abs(result.scores - expected).max() < 1e-4
    assert len(result.windows) == 1
    assert result.duration == pytest.approx(3.0)


def test_ten_minute_file_gives_per_window_scores(tmp_path):
    tagger = small_tagger()
    path = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as out:
        for _ in range(10):  # written a minute at a time
            out.write(0.1 * rng.standard_normal(60 * 16000))
    done = []
    result = tagger.tag_file(
        path, window=10.0, hop=5.0, batch_size=16, progress=done.append
    )
    starts = [w["start"] for w in result.windows]
    assert starts == [5.0 * i for i in range(119)]
    assert all(w["end"] - w["start"] == 10.0 for w in result.windows)
    assert done[-1] == 119 and len(done) == 8
    window_scores = np.stack([w["scores"] for w in result.windows])
    assert np.allclose(result.scores, window_scores.max(axis=0))
    # a window shorter than the model's (10.255 s) runs at its own frames
    clip = read_audio(path)[5 * 16000 : 15 * 16000]
    single = tagger.scores_batch(clip, pad=False)
    assert np.allclose(window_scores[1], single[0].numpy(), atol=1e-5)
    assert not np.allclose(window_scores[1], tagger.scores_batch(clip)[0])
    mean = tagger.tag_file(path, window=60.0, aggregate="mean").scores
    assert mean.shape == (4,)


def test_any_rate_and_channels_are_resampled_and_mixed(tmp_path):
    tagger = small_tagger()
    stereo = np.random.default_rng(1).normal(0, 0.1, (44100 * 4, 2))
    soundfile.write(tmp_path / "s.flac", stereo.astype(np.float32), 44100)
    result = tagger.tag_file(tmp_path / "s.flac", top_k=2)
    wav = read_audio(tmp_path / "s.flac", 16000)
    expected = tagger.scores_batch(wav)[0].numpy()
    assert np.allclose(result.scores, expected, atol=1e-5)
    assert len(result.tags) == 2


@pytest.fixture
def bad_files(tmp_path):
    soundfile.write(tmp_path / "good.wav", zero_mean_wave(16000), 16000)
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    (tmp_path / "notes.txt").write_text("not audio at all\n")
    return tmp_path


def test_bad_files_give_errors_naming_them(bad_files):
    tagger = small_tagger()
    cases = {
        "missing.wav": "missing.wav: no such audio file",
        "empty.wav": "empty.wav: the audio file holds no samples",
        "corrupt.wav": "corrupt.wav: unreadable or corrupt",
        "notes.txt": "notes.txt: unreadable or corrupt",
    }
    for name, message in cases.items():
        with pytest.raises(AudioFileError, match=message):
            tagger.tag_file(bad_files / name)
    paths = [bad_files / n for n in ("good.wav", "corrupt.wav", "missing.wav")]
    results, failures = tagger.tag_files(paths)
    assert [os.path.basename(r.file) for r in results] == ["good.wav"]
    assert [os.path.basename(f) for f, _ in failures] == [
        "corrupt.wav", "missing.wav"
    ]  # fmt: skip


def test_command_line_tags_good_files_and_reports_bad(
    bad_files, tmp_path, capsys, monkeypatch
):
    tagger = small_tagger(target_length=100)
    model = export_tagger(tagger, tmp_path / "model")
    monkeypatch.setenv("AST_LOBES_CACHE", str(tmp_path / "cache"))
    files = [str(bad_files / "good.wav"), str(bad_files / "corrupt.wav")]
    code = ast_tag([*files, "--model", str(model), "--top-k", "2", "--json"])
    captured = capsys.readouterr()
    assert code == 1
    assert "corrupt.wav: unreadable or corrupt" in captured.err
    output = json.loads(captured.out)
    assert [os.path.basename(r["file"]) for r in output["results"]] == [
        "good.wav"
    ]
    assert len(output["results"][0]["tags"]) == 2
    assert output["errors"][0]["file"].endswith("corrupt.wav")
    code = ast_tag([files[0], "--model", str(model), "--window", "0.5",
                    "--hop", "0.25", "--batch-size", "1"])  # fmt: skip
    text = capsys.readouterr().out.splitlines()
    assert code == 0 and text[0].startswith(files[0])
    assert len(text) == 1 + 3  # clip line, then windows at 0, 0.25, 0.5 s
    # token merging: a rate outside [0, 1) is refused with its name
    code = ast_tag([files[0], "--model", str(model), "--merge-tokens", "1"])
    assert code == 2
    assert "merge_rate must be in [0, 1)" in capsys.readouterr().err
    code = ast_tag([files[0], "--model", str(model), "--merge-tokens", "0.3",
                    "--json"])  # fmt: skip
    merged = json.loads(capsys.readouterr().out)["results"][0]["tags"]
    assert code == 0 and len(merged) == len(tagger.label_names)


def test_export_loads_with_from_hparams_and_foreign_class(tmp_path):
    from speechbrain.inference.interfaces import foreign_class

    tagger = small_tagger(target_length=100)
    model = export_tagger(tagger, tmp_path / "model")
    wave = torch.from_numpy(zero_mean_wave(16000))
    expected = tagger.scores_batch(wave)
    loaded = AudioTagger.from_hparams(
        source=str(model), savedir=str(tmp_path / "a"), precision="fp32"
    )
    foreign = foreign_class(
        source=str(model), pymodule_file="custom_interface.py",
        classname="AudioTagger", savedir=str(tmp_path / "b"),
        precision="fp32",
    )  # fmt: skip
    for other in (loaded, foreign):
        assert torch.allclose(other.scores_batch(wave), expected, atol=1e-6)
        assert other.label_names == tagger.label_names


def test_encoder_classifier_resamples_and_mixes_down(tmp_path):
    from speechbrain.inference.classifiers import EncoderClassifier

    tagger = small_tagger(target_length=100)
    model = export_tagger(tagger, tmp_path / "model", multi_label=False)
    stereo = np.random.default_rng(2).normal(0, 0.1, (44100, 2))
    soundfile.write(tmp_path / "s.flac", stereo.astype(np.float32), 44100)
    classifier = EncoderClassifier.from_hparams(
        source=str(model), savedir=str(tmp_path / "loaded")
    )
    from_file = classifier.classify_file(str(tmp_path / "s.flac"))[0]
    wav = read_audio(tmp_path / "s.flac", 16000).unsqueeze(0)
    from_wave = classifier.classify_batch(wav)[0]
    assert torch.allclose(from_file, from_wave, atol=1e-4)


def test_agreement_measures_each_precision_and_rate_on_the_users_files(
    tmp_path, capsys
):
    from pretrained_interfaces.agreement import main, merge_agreement

    paths = noise_clips(tmp_path / "clips")
    tagger = deep_tagger()
    exact = [tagger.tag_file(p, top_k=1).tags[0][0] for p in paths]
    rows = merge_agreement(tagger, paths, [0.3, 0.6])
    assert [row["rate"] for row in rows] == [0.0, 0.3, 0.6]
    assert rows[0]["agreement"] == 1.0
    merged = [tagger.merge_tokens(0.6).tag_file(p, top_k=1).tags[0][0]
              for p in paths]  # fmt: skip
    same = sum(a == b for a, b in zip(merged, exact, strict=True))
    assert rows[2]["agreement"] == same / len(paths)
    changed = tagger.tag_file(paths[0], top_k=None).scores  # merged
    tagger.merge_tokens(0.0)
    assert np.abs(tagger.tag_file(paths[0], top_k=None).scores
                  - changed).max() > 0  # fmt: skip
    assert [tagger.tag_file(p, top_k=1).tags[0][0] for p in paths] == exact
    # every precision against the fp32 model's own top tags, from a folder
    model = export_tagger(deep_tagger(), tmp_path / "m")
    fp32 = AudioTagger.from_source(str(model), precision="fp32")
    exact = [fp32.tag_file(p, top_k=1).tags[0][0] for p in paths]
    int8 = AudioTagger.from_source(str(model), precision="int8-dynamic")
    tops = [int8.merge_tokens(0.3).tag_file(p, top_k=1).tags[0][0]
            for p in paths]  # fmt: skip
    expected = sum(a == b for a, b in zip(tops, exact, strict=True)) / 6
    found = main([str(model), str(tmp_path / "clips"), "--precisions",
                  "int8-dynamic", "--rates", "0.3", "--record"])  # fmt: skip
    out = capsys.readouterr().out
    assert "6 files" in out and "| fp32 | 0.3 | " in out
    assert f"| int8-dynamic | 0.3 | {100 * expected:.1f} % |" in out
    assert found[0] in ("fp32", "int8-dynamic")
    record = json.loads((model / "inference_agreement.json").read_text())
    assert record["files"] == 6
    assert record["agreement"]["int8-dynamic"]["0.3"] == pytest.approx(expected)
    assert record["agreement"]["fp32"]["0"] == 1.0
    assert record["seconds_per_file"]["int8-dynamic"]["0.3"] > 0
    assert set(record["seconds_per_file"]) == set(record["agreement"])


def test_auto_refuses_modes_that_lose_agreement_and_merges_as_recorded(
    tmp_path, capsys
):
    model = export_tagger(deep_tagger(), tmp_path / "m")
    # every fast mode of this CPU recorded under 99 %: auto runs fp32,
    # merged at the largest rate that kept 99 % (0.2, not 0.4)
    write_record(model, {
        "bf16": {"0": 0.95}, "int8-dynamic": {"0": 0.97, "0.2": 0.96},
        "fp32": {"0.2": 0.995, "0.4": 0.98},
    })  # fmt: skip
    tagger = AudioTagger.from_source(str(model))
    assert tagger.precision == "fp32"
    assert tagger.pipeline.encoder.merge_rate == 0.2
    # an explicit mode is the user's choice: run as asked, unmerged
    explicit = AudioTagger.from_source(str(model), precision="int8-dynamic")
    assert explicit.precision == "int8-dynamic"
    assert explicit.pipeline.encoder.merge_rate == 0.0
    # ast-tag says why, and --merge-tokens 0 still turns merging off
    clip = noise_clips(tmp_path / "clips", count=1)[0]
    assert ast_tag([clip, "--model", str(model), "--json"]) == 0
    err = capsys.readouterr().err
    assert "refused for this model's recorded top-1 agreement" in err
    assert "int8-dynamic 97.0 %" in err and "merging tokens at rate 0.2" in err
    from pretrained_interfaces.tag_cli import load_tagger, parse_args

    args = parse_args([clip, "--model", str(model), "--merge-tokens", "0"])
    assert load_tagger(args).pipeline.encoder.merge_rate == 0.0


def test_auto_runs_the_fastest_agreeing_setting_timed_on_this_cpu(
    tmp_path, capsys, monkeypatch
):
    import ast_lobes.inference.probe as probe
    from ast_lobes.inference.hardware import detect_hardware

    probed = {"bf16": 0.5, "int8-dynamic": 1.5, "int8-bf16": 1.4,
              "ort-int8": 1.9}  # fmt: skip
    monkeypatch.setattr(
        probe, "probe_speeds",
        lambda modes, threads=None, shape=None: {m: probed[m] for m in modes},
    )  # fmt: skip
    model = export_tagger(deep_tagger(), tmp_path / "m")
    here = detect_hardware("cpu").describe()
    agreement = {"fp32": {"0": 1.0, "0.2": 0.995},
                 "int8-dynamic": {"0": 1.0, "0.3": 0.97},
                 "ort-int8": {"0": 1.0}}  # fmt: skip
    # the fastest setting (int8-dynamic at 0.3) lost agreement: the next
    seconds = {"fp32": {"0": 2.0, "0.2": 1.5},
               "int8-dynamic": {"0": 1.0, "0.3": 0.6},
               "ort-int8": {"0": 0.8}}  # fmt: skip
    write_record(model, agreement, seconds, measured_on=here)
    tagger = AudioTagger.from_source(str(model))
    assert (tagger.precision, tagger.pipeline.encoder.merge_rate) == (
        "ort-int8", 0.0,
    )  # fmt: skip
    clip = noise_clips(tmp_path / "clips", count=1)[0]
    assert ast_tag([clip, "--model", str(model), "--json"]) == 0
    err = capsys.readouterr().err
    assert "ort-int8 with merge rate 0 (the fastest setting keeping" in err
    # timed on another CPU class: the agreement figures and the probe, so
    # a recorded merge rate (fp32's) keeps auto to the modes that merge
    write_record(model, agreement, seconds, measured_on="another CPU")
    other = AudioTagger.from_source(str(model))
    assert (other.precision, other.pipeline.encoder.merge_rate) == (
        "int8-dynamic", 0.0,
    )  # fmt: skip
    # what the user asks for wins over the record
    asked = AudioTagger.from_source(str(model), merge_rate=0.2)
    assert asked.pipeline.encoder.merge_rate == 0.2


def test_auto_follows_a_record_of_int8_bf16(tmp_path, monkeypatch):
    import ast_lobes.inference.probe as probe

    # an AVX-512 CPU with native bf16, no AMX, whose probe puts int8-bf16
    # first among the modes that merge (an AMD EPYC Zen 4's ranking)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability",
                        lambda: "AVX512")  # fmt: skip
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported",
                        lambda: True)  # fmt: skip
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False,
                        raising=False)  # fmt: skip
    probed = {"bf16": 1.9, "int8-dynamic": 2.1, "int8-bf16": 2.5,
              "ort-int8": 1.5}  # fmt: skip
    monkeypatch.setattr(
        probe, "probe_speeds",
        lambda modes, threads=None, shape=None: {m: probed[m] for m in modes},
    )  # fmt: skip
    model = export_tagger(deep_tagger(), tmp_path / "m")
    # its merge rates: the largest that keeps 99 % (0.3, not 0.5)
    write_record(model, {"int8-bf16": {"0": 0.995, "0.3": 0.993,
                                       "0.5": 0.98}})  # fmt: skip
    tagger = AudioTagger.from_source(str(model))
    assert (tagger.precision, tagger.pipeline.encoder.merge_rate) == (
        "int8-bf16", 0.3,
    )  # fmt: skip
    # no record of its own: judged by int8-dynamic's, whose linear layers
    # it shares (97 %: refused with it)
    write_record(model, {"int8-dynamic": {"0": 0.97}})
    assert AudioTagger.from_source(str(model)).precision == "bf16"
    # timed on this CPU class: the fastest setting that kept 99 %
    here = "CPU AVX512 with native bf16"
    write_record(
        model,
        {"fp32": {"0": 1.0}, "int8-bf16": {"0": 1.0, "0.3": 0.995}},
        {"fp32": {"0": 2.0}, "int8-bf16": {"0": 0.9, "0.3": 0.6}},
        measured_on=here,
    )  # fmt: skip
    tagger = AudioTagger.from_source(str(model))
    assert (tagger.precision, tagger.pipeline.encoder.merge_rate) == (
        "int8-bf16", 0.3,
    )  # fmt: skip


def test_an_agreement_record_of_other_weights_is_not_used(tmp_path, caplog):
    model = export_tagger(deep_tagger(), tmp_path / "m")
    write_record(model, {"fp32": {"0.2": 1.0}})
    other = export_tagger(small_tagger(target_length=100, seed=5),
                          tmp_path / "other")  # fmt: skip
    (other / "inference_agreement.json").write_text(
        (model / "inference_agreement.json").read_text()
    )
    with caplog.at_level("WARNING"):
        tagger = AudioTagger.from_source(str(other))
    assert tagger.pipeline.encoder.merge_rate == 0.0
    assert "measured on other weights" in caplog.text
    (model / "inference_agreement.json").write_text("{not json")
    with pytest.raises(ValueError, match="inference_agreement.json: not an"):
        AudioTagger.from_source(str(model))


def test_agreement_skips_a_mode_this_cpu_runs_slowly_unless_asked_for(
    tmp_path, monkeypatch
):
    import ast_lobes.inference.decision as decision
    from ast_lobes.inference.hardware import Hardware, SlowPrecisionError
    from pretrained_interfaces.agreement import measure_agreement

    avx2 = Hardware("cpu", "AVX2", False)  # no bf16 units: bf16 is slow
    monkeypatch.setattr(decision, "detect_hardware", lambda device: avx2)
    paths = noise_clips(tmp_path / "clips", count=2)
    model = str(export_tagger(deep_tagger(), tmp_path / "m"))
    rows = measure_agreement(model, paths, ["bf16"], [], skip_slow=True)
    assert [(r["precision"], r["rate"]) for r in rows] == [("fp32", 0.0)]
    with pytest.raises(SlowPrecisionError, match="bf16 runs slower"):
        measure_agreement(model, paths, ["bf16"], [])
