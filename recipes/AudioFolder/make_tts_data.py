#!/usr/bin/env python3
"""A small spoken-word set made with Debian's TTS engines, for trying the
AudioFolder recipe on realistic data without a download.

The 35 Speech Commands words, each spoken by up to 45 voices: espeak-ng
(8 English accents x 5 voice variants, each voice with its own speed and
pitch), flite (4 voices) and festival (1 voice). Clips are trimmed to the
speech, padded or cut to 1 s and written at 16 kHz as
``<out>/<word>/<voice>_<word>.wav``, with ``<out>/words.csv`` (``path``,
``label``, ``speaker``) for a split by voice. Needs ``apt-get install
espeak-ng flite festival``.

To run::

    python make_tts_data.py tts_words            # 35 words x 45 voices
    python make_tts_data.py tts_small --words 5 --voices 12

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import csv
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile
import torch
import torchaudio

WORDS = (
    "backward bed bird cat dog down eight five follow forward four go happy "
    "house learn left marvin nine no off on one right seven sheila six stop "
    "three tree two up visual wow yes zero"
).split()
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")  # fmt: skip
VARIANTS = ("m1", "f2", "m3", "f4", "Andy")
FLITE_VOICES = ("kal16", "awb", "rms", "slt")
SAMPLE_RATE = 16000


def voices(variants=VARIANTS):
    """``(name, command builder)`` of every voice, in a fixed order: each
    espeak-ng accent with each of ``variants``, then flite and festival."""
    rng = np.random.default_rng(0)
    found = []
    if shutil.which("espeak-ng"):
        for accent in ACCENTS:
            for variant in variants:
                speed, pitch = rng.integers(120, 200), rng.integers(20, 80)
                found.append((
                    f"espeak-{accent}-{variant}",
                    lambda word, out, a=accent, v=variant, s=speed, p=pitch: [
                        "espeak-ng", "-v", f"{a}+{v}", "-s", str(s),
                        "-p", str(p), "-w", out, word,
                    ],
                ))  # fmt: skip
    if shutil.which("flite"):
        for voice in FLITE_VOICES:
            found.append((
                f"flite-{voice}",
                lambda word, out, v=voice: [
                    "flite", "-voice", v, "-t", word, "-o", out],
            ))  # fmt: skip
    if shutil.which("text2wave"):
        found.append((
            "festival-kal",
            lambda word, out: ["sh", "-c",
                               f"echo {word} | text2wave -o {out}"],
        ))  # fmt: skip
    if not found:
        raise SystemExit(
            "no TTS engine found: apt-get install espeak-ng flite festival"
        )
    return found


def one_second(wav, rate):
    """The speech of ``wav`` (trimmed at 2 % of its peak), resampled to
    16 kHz and centred in 1 s (cut to 1 s if longer)."""
    audio = torch.from_numpy(wav).float()
    if audio.dim() > 1:
        audio = audio.mean(dim=1)
    audio = torchaudio.functional.resample(audio, rate, SAMPLE_RATE)
    loud = torch.nonzero(audio.abs() > 0.02 * audio.abs().max()).flatten()
    if len(loud):
        audio = audio[loud[0] : loud[-1] + 1]
    audio = audio[:SAMPLE_RATE]
    out = torch.zeros(SAMPLE_RATE)
    start = (SAMPLE_RATE - len(audio)) // 2
    out[start : start + len(audio)] = audio
    return (0.9 * out / out.abs().max().clamp(min=1e-6)).numpy()


def speak(job):
    """Writes one clip; returns its manifest row."""
    voice, command, word, out_dir = job
    path = os.path.join(out_dir, word, f"{voice}_{word}.wav")
    if not os.path.exists(path):
        with tempfile.TemporaryDirectory() as tmp:
            raw = os.path.join(tmp, "raw.wav")
            subprocess.run(command(word, raw), check=True,
                           capture_output=True)  # fmt: skip
            wav, rate = soundfile.read(raw, dtype="float32")
        soundfile.write(path, one_second(wav, rate), SAMPLE_RATE)
    return {"path": os.path.relpath(path, out_dir), "label": word,
            "speaker": voice}  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--words", type=int, default=len(WORDS))
    parser.add_argument("--voices", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    words = WORDS[: args.words]
    chosen = voices()
    if args.voices:  # spread over the engines
        picks = np.linspace(0, len(chosen) - 1, args.voices).round()
        chosen = [chosen[int(i)] for i in dict.fromkeys(picks)]
    for word in words:
        os.makedirs(os.path.join(args.out_dir, word), exist_ok=True)
    jobs = [(v, c, w, args.out_dir) for v, c in chosen for w in words]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(speak, jobs))
    with open(os.path.join(args.out_dir, "words.csv"), "w",
              newline="") as handle:  # fmt: skip
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "speaker"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} clips: {len(words)} words x {len(chosen)} voices "
          f"in {args.out_dir}")  # fmt: skip


if __name__ == "__main__":
    main()
