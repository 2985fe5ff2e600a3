"""Live audio: ``ast-tag --stream`` and ``AudioTagger.stream`` give the
windows of the same audio tagged as a file (start, end, labels, scores),
whatever the chunks it arrives in, and print each window before the
input ends."""

import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile

from pretrained_interfaces import AudioTagger
from pretrained_interfaces.tag_cli import main as ast_tag
from pretrained_interfaces.tag_cli import parse_args, stream_input

MODEL = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "fixtures", "export_v0_1", "model",
)  # fmt: skip


@pytest.fixture(scope="module")
def tagger():
    return AudioTagger.from_source(MODEL, precision="fp32")


def noise_pcm(seconds, rate=16000, seed=0):
    rng = np.random.default_rng(seed)
    wave = 0.2 * rng.standard_normal(round(seconds * rate))
    return np.clip(wave * 32767, -32768, 32767).astype("<i2")


def as_file(tmp_path, pcm, rate=16000):
    path = tmp_path / f"clip_{rate}.wav"
    soundfile.write(path, pcm, rate, subtype="PCM_16")
    return str(path)


class Trickle(io.RawIOBase):
    """A byte stream that hands out ``size`` bytes per read."""

    def __init__(self, data, size):
        self.data, self.size, self.at = data, size, 0

    def read1(self, n=-1):
        piece = self.data[self.at : self.at + min(self.size, n)]
        self.at += len(piece)
        return piece


def streamed_lines(data, *options, size=4096):
    args = parse_args(["--stream", "--model", MODEL, "--precision", "fp32",
                       *options])  # fmt: skip
    out = io.StringIO()
    code = stream_input(args, source=Trickle(data, size), out=out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def file_windows(path, *options):
    out = io.StringIO()
    sys.stdout, saved = out, sys.stdout
    try:
        assert ast_tag([path, "--model", MODEL, "--precision", "fp32",
                        "--json", *options]) == 0  # fmt: skip
    finally:
        sys.stdout = saved
    return json.loads(out.getvalue())["results"][0]["windows"]


@pytest.mark.parametrize("seconds, window, hop", [
    (5.0, 1.0, 0.5),  # overlapping windows
    (2.3, 1.0, 1.0),  # the input ends in the middle of a window
    (1.4, None, None),  # shorter than the model's own window (2.005 s)
    (7.1, None, None),  # the model's window, ending mid-window
])  # fmt: skip
def test_stdin_windows_equal_the_file_windows(tmp_path, seconds, window,
                                              hop):  # fmt: skip
    pcm = noise_pcm(seconds)
    options = []
    if window:
        options = ["--window", str(window), "--hop", str(hop)]
    options += ["--top-k", "4"]
    code, lines = streamed_lines(pcm.tobytes(), *options)
    assert code == 0
    assert lines == file_windows(as_file(tmp_path, pcm), *options)


@pytest.mark.parametrize("size", [1, 3, 32000, 32000 * 3, 10**7],
                         ids=["1 byte", "3 bytes", "one window",
                              "three windows", "all at once"])  # fmt: skip
def test_every_chunk_size_gives_the_same_windows(tmp_path, size):
    pcm = noise_pcm(3.3)
    options = ["--window", "1", "--hop", "1", "--top-k", "3"]
    code, lines = streamed_lines(pcm.tobytes(), *options, size=size)
    assert code == 0
    assert lines == file_windows(as_file(tmp_path, pcm), *options)


def test_the_python_stream_scores_equal_tag_file(tagger, tmp_path):
    pcm = noise_pcm(6.5, seed=3)
    path = as_file(tmp_path, pcm)
    expected = tagger.tag_file(path, window=1.0, hop=0.75, top_k=None)
    floats = pcm.astype(np.float32) / 32768
    chunks = (floats[i : i + 5000] for i in range(0, len(floats), 5000))
    got = list(tagger.stream(chunks, window=1.0, hop=0.75, top_k=None))
    assert len(got) == len(expected.windows)
    for streamed, window in zip(got, expected.windows, strict=True):
        assert (streamed["start"], streamed["end"]) == (
            window["start"], window["end"]
        )  # fmt: skip
        np.testing.assert_allclose(streamed["scores"], window["scores"],
                                   atol=1e-6)  # fmt: skip
        # one window at a time against batches of 8: float rounding only
        assert [k for k, _ in streamed["tags"]] == [
            k for k, _ in window["tags"]
        ]


def test_a_window_shorter_than_the_models_runs_at_its_own_frames():
    # the model's window is 2.005 s (198 frames); a 1-s window is 98
    # frames, which the encoder sees unpadded, in a stream and in a file
    import torch
    import torchaudio

    tagger = AudioTagger.from_source(MODEL, precision="fp32")
    pipeline = tagger.pipeline
    assert pipeline.target_length > 98
    seen = []
    pipeline.bare_encoder.patch_embed.proj.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].shape[-1])
    )
    pcm = noise_pcm(3.0, seed=7)
    floats = pcm.astype(np.float32) / 32768
    chunks = (floats[i : i + 4000] for i in range(0, len(floats), 4000))
    streamed = list(tagger.stream(chunks, window=1.0, hop=1.0, top_k=None))
    assert seen == [98, 98, 98]
    # a direct call of the encoder and head on each window's fbank,
    # computed by torchaudio's Kaldi fbank with the model's scaling
    norm = pipeline.normalize
    for index, item in enumerate(streamed):
        wav = torch.from_numpy(floats[16000 * index : 16000 * (index + 1)])
        fbank = torchaudio.compliance.kaldi.fbank(
            (wav - wav.mean())[None], htk_compat=True, sample_frequency=16000,
            use_energy=False, window_type="hanning", num_mel_bins=128,
            dither=0.0, frame_shift=10,
        )  # fmt: skip
        assert fbank.shape == (98, 128)
        with torch.no_grad():
            tokens = pipeline.encoder(
                ((fbank - norm.mean) / (2 * norm.std))[None]
            )
            logits = pipeline.classifier(tokens).squeeze(1)
        expected = (torch.sigmoid(logits) if tagger.multi_label
                    else torch.softmax(logits, -1))  # fmt: skip
        np.testing.assert_allclose(item["scores"], expected[0].numpy(),
                                   atol=1e-5)  # fmt: skip
    # the model's own window still pads a shorter clip to it, as in
    # training
    seen.clear()
    list(tagger.stream(iter([floats[:16000]]), top_k=None))
    assert seen == [pipeline.target_length]


def test_another_rate_is_resampled_as_a_file_of_that_rate(tmp_path):
    pcm = noise_pcm(3.0, rate=22050, seed=5)
    options = ["--window", "1", "--top-k", "3"]
    code, lines = streamed_lines(pcm.tobytes(), "--rate", "22050", *options)
    assert code == 0
    assert lines == file_windows(as_file(tmp_path, pcm, 22050), *options)


def test_a_window_is_printed_before_the_input_ends(tmp_path):
    command = [
        sys.executable, "-m", "pretrained_interfaces.tag_cli", "--stream",
        "--model", MODEL, "--precision", "fp32", "--window", "1",
        "--output", str(tmp_path / "live.jsonl"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.PIPE,
                               stderr=subprocess.PIPE)  # fmt: skip
    pcm = noise_pcm(3.0)
    process.stdin.write(pcm[:16000].tobytes())  # one window's worth
    process.stdin.flush()
    deadline = time.time() + 120
    output = tmp_path / "live.jsonl"
    while time.time() < deadline:
        if output.exists() and output.read_text().count("\n") == 1:
            break
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.05)
    first = json.loads(output.read_text())
    assert (first["start"], first["end"]) == (0.0, 1.0)  # input still open
    process.stdin.write(pcm[16000:].tobytes())
    process.stdin.close()
    assert process.wait(timeout=120) == 0
    assert output.read_text().count("\n") == 3
    report = process.stderr.read().decode()
    assert "real-time factor" in report and "latency" in report


def test_bad_streams_are_refused_with_a_clear_message(tmp_path, capsys):
    pcm = noise_pcm(1.5).tobytes() + b"\x01"  # half a sample at the end
    code, lines = streamed_lines(pcm, "--window", "1")
    assert code == 2 and len(lines) == 2  # what came is tagged first
    assert "ended with half a sample" in capsys.readouterr().err
    code, _ = streamed_lines(b"", "--rate", "10")
    assert code == 2
    assert "--rate 10: expected a whole number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--stream", "clip.wav"])
    assert stopped.value.code == 2
    assert "--stream reads standard input" in capsys.readouterr().err


def frame_level_tagger():
    import torch
    from tagger_models import tagger_over

    from ast_lobes import AudioSpectrogramTransformer, FrameLevelHead

    torch.manual_seed(4)
    encoder = AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2,
        target_length=100, fstride=16, tstride=10, pooling="time_steps",
    )  # fmt: skip
    return tagger_over(
        encoder, FrameLevelHead(32, 3), ["a", "b", "c"], 100,
        precision="fp32",
    )  # fmt: skip


def by_onset(events):
    return sorted(events, key=lambda e: (e["onset"], e["label"]))


def varied_pcm(seconds, seed=7, rate=16000):
    """Segments of silence, noise and tones at several levels, so that
    scores cross their thresholds often."""
    rng = np.random.default_rng(seed)
    parts = []
    while sum(len(p) for p in parts) < seconds * rate:
        n = int(rng.uniform(0.2, 0.9) * rate)
        t = np.arange(n) / rate
        kind = rng.integers(3)
        if kind == 0:
            part = np.zeros(n)
        elif kind == 1:
            part = rng.uniform(0.05, 0.5) * rng.standard_normal(n)
        else:
            part = 0.4 * np.sin(2 * np.pi * rng.uniform(200, 4000) * t)
        parts.append(part)
    wave = np.concatenate(parts)[: round(seconds * rate)]
    return np.clip(wave * 32767, -32768, 32767).astype("<i2")


def threshold_among(scores):
    """A threshold crossed often (in the middle half of the scores) and
    far from every score: the midpoint of the widest gap there, so that
    float rounding between two paths cannot flip a decision."""
    ranked = np.sort(np.asarray(scores).ravel())
    middle = ranked[len(ranked) // 4 : 3 * len(ranked) // 4 + 1]
    widest = int(np.argmax(np.diff(middle)))
    return float(middle[widest : widest + 2].mean())


@pytest.mark.parametrize("kind", ["frames", "windows"])
def test_streamed_events_equal_the_file_events(tagger, tmp_path, kind):
    from pretrained_interfaces.events import detect_events
    from pretrained_interfaces.streaming import stream_events

    model = frame_level_tagger() if kind == "frames" else tagger
    options = {"median_filter": 0.3}
    if kind == "windows":
        options["hop"] = 0.25
    pcm = varied_pcm(6.3)
    path = as_file(tmp_path, pcm)
    scores = detect_events(model, path, threshold=1.0, **options).scores
    options["threshold"] = threshold_among(scores)
    expected = detect_events(model, path, **options)
    assert expected.resolution == kind and len(expected.events) >= 2
    chunks = (pcm[i : i + 4000] for i in range(0, len(pcm), 4000))
    got = list(stream_events(model, chunks, **options))
    assert by_onset(got) == by_onset(expected.events)


def test_events_are_printed_as_json_lines_when_they_end(tagger, tmp_path):
    from pretrained_interfaces.events import detect_events

    pcm = varied_pcm(6.3)
    path = as_file(tmp_path, pcm)
    scores = detect_events(tagger, path, threshold=1.0, hop=0.25).scores
    threshold = f"{threshold_among(scores):.6f}"
    code, lines = streamed_lines(pcm.tobytes(), "--events", "--hop", "0.25",
                                 "--threshold", threshold)  # fmt: skip
    assert code == 0
    expected = detect_events(tagger, path, threshold=float(threshold),
                             hop=0.25)  # fmt: skip
    assert len(expected.events) >= 2
    assert by_onset(lines) == by_onset(expected.events)
