#!/usr/bin/env python3
"""Small data sets of six kinds, built from what Debian's packages ship,
for choosing the AudioFolder recipe's CPU defaults on more than one set.

Each set is a folder with its clips and ``clips.csv`` (``path``,
``label``, ``group``); the group is the source (speaker, recording, drum
kit, voice actor), so that a split by group never hears a source in two
splits. All clips are 1 s at 16 kHz (the voice lines 1.5 s, the
``effects_5s`` 5 s).

- ``words``: the 35 Speech Commands words spoken by 101 TTS voices
  (espeak-ng 8 accents x 12 variants with their own speed and pitch,
  flite 4, festival 1), 20 words per voice; each voice through its own
  channel (band limits, room, clipping) and each clip at its own place in
  the second, gain and level of a real recorded background (Wesnoth's
  ambient loops, Minetest's water, fire and lava) at 0-20 dB SNR.
- ``effects``: real recorded game and desktop sound effects (Battle for
  Wesnoth, SuperTux, Minetest, Hedgewars, Extreme Tux Racer, Frozen
  Bubble, Pingus, Tux Paint, KDE's Oxygen sounds) in 12 categories named
  from their file names; the group is the recording (a file's name
  without its variant number), up to three 1-s windows per recording.
- ``effects_5s``: the same recordings as ``effects``, one 5-s clip a
  file as in ESC-50 (from the file's onset, padded with silence), to
  tune on longer clips; folds by recording (``--n_folds``).
- ``drums``: single drum hits of the 13 Hydrogen drum kits, 6 classes
  (kick, snare, hi-hat, tom, cymbal, hand percussion); the group is the
  kit.
- ``notes``: the instruments' kind from other recordings, to tune on:
  notes of the same 9 families' programs played by csound's General MIDI
  bank (fluidsynth, all 72) and the Freepats patches (TiMidity++, the 56
  it has), 6 notes of random pitch and velocity per program and set; the
  group is the program.
- ``voices`` (held out: never used to choose a setting): the 34 lines
  that all 15 Hedgewars voice packs say, recorded by voice actors
  (several accents, some in Spanish, Polish, Russian, Ukrainian), numbered
  variants of a line merged; the group is the voice pack.
- ``instruments`` (held out, like the voices): notes of 72 recorded
  instruments of three sampled General MIDI sound fonts (FluidR3, TimGM6mb,
  MuseScore General Lite) played by fluidsynth, in 9 families (piano,
  chromatic percussion, organ, guitar, bass, strings, brass, reed, pipe);
  5 notes of random pitch and velocity per instrument and font, each
  held 0.8 s; the group is the instrument (its General MIDI program), so
  no instrument is heard in two splits whichever font plays it.

Needs ``apt-get install espeak-ng flite festival wesnoth-1.16-data
supertux-data minetest-data hedgewars-data extremetuxracer-data
frozen-bubble-data pingus-data tuxpaint-data oxygen-sounds
hydrogen-drumkits fluidsynth fluid-soundfont-gm timgm6mb-soundfont
musescore-general-soundfont-small csound-soundfont freepats timidity``
(about 1.3 GB).

To run (from the repository root)::

    python benchmarks/audiofolder/make_sets.py small_sets  # all six, ~2.5 min
    python benchmarks/audiofolder/make_sets.py small_sets --sets drums voices

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile
import torch
import torchaudio

HERE = os.path.dirname(os.path.abspath(__file__))
RECIPE = os.path.normpath(
    os.path.join(HERE, "..", "..", "recipes", "AudioFolder")
)
sys.path.insert(0, RECIPE)  # make_tts_data

from make_tts_data import WORDS, speak, voices  # noqa: E402

SAMPLE_RATE = 16000
SETS = ("words", "effects", "drums", "notes", "voices", "instruments",
        "effects_5s")  # fmt: skip
HELD_OUT = ("voices", "instruments")
AUDIO = re.compile(r"\.(ogg|wav|flac)$", re.IGNORECASE)

WORD_VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4",
                 "Andy", "croak", "klatt2")  # fmt: skip
WORDS_PER_VOICE = 20
NOISE_PACKAGES = ("wesnoth-1.16-data", "minetest-data")
NOISE_NAMES = re.compile(r"ambient/|env_sounds|fire_large|furnace|lava")

EFFECT_PACKAGES = (
    "wesnoth-1.16-data", "supertux-data", "minetest-data", "hedgewars-data",
    "extremetuxracer-data", "frozen-bubble-data", "pingus-data",
    "tuxpaint-data", "oxygen-sounds",
)  # fmt: skip
# The first category whose pattern matches a file's name is its class.
EFFECT_CATEGORIES = (
    ("footsteps", r"footstep|steps"),
    ("door", r"door|fencegate|chest"),
    (
        "explosion",
        r"explo|grenadeimpact|mineimpact|mortar|cave-in|"
        r"rumble|graveimpact|firecracker|fireworks|airmine",
    ),
    ("water", r"water|splash|droplet|rain|bubble|gulp|plop"),
    ("fire", r"fire|flame|lava|sizzle|torch|molotov|blowtorch|fuse"),
    ("glass_ice", r"glass|ice|crystallo|cracking|frozen"),
    ("gun", r"gun|shotgun|shoot|sniper|crossbow-fire|dart"),
    (
        "creature_voice",
        r"-(hit|die)(-\d)?$|hell_(ow|ooff|ugh)|growl|"
        r"shriek|roar|hiss|grunt|groan|wail|ugg|yeti",
    ),
    (
        "melee",
        r"sword|axe|dagger|hatchet|mace|club|flail|staff|spear|knife|"
        r"baseballbat|hammer|whip|fist|claws|bite",
    ),
    ("dig", r"dig|dug|place_node|pickhammer|drill|tool_breaks|brick"),
    ("magic", r"magic|warp|portal|heal|lifeup|invincible|invulnerable"),
    (
        "ui_notification",
        r"oxygen-|click|bleep|beep|menu|prompt|cancel|"
        r"denied|tick|ting|chink|coin|pickup",
    ),
)
EFFECT_EXCLUDE = re.compile(r"/music/|Music/|/voices/|/Voices/")
WINDOWS_PER_RECORDING = 3

DRUM_CLASSES = (
    ("kick", r"kick|bass ?drum|\bbd|_bd|kik"),
    ("snare", r"snare|\bsn|_sn|rim"),
    ("hihat", r"hh|hi-?hat|hat"),
    ("tom", r"tom"),
    ("cymbal", r"crash|ride|cymbal|china|splash"),
    (
        "hand_percussion",
        r"clap|cowbell|shaker|tamb|conga|bongo|clave|"
        r"djembe|cabasa|guiro|agogo",
    ),
)
DRUM_FOLDER = "/usr/share/hydrogen/data/drumkits"

VOICE_PACKAGE = "hedgewars-data"
VOICE_PACKS = 15

# Three sampled General MIDI sound fonts (recorded instruments); an
# instrument (a program) is one group in all three, so a split never
# hears it in two splits, whichever font plays it.
SOUNDFONTS = (
    ("fluid-soundfont-gm", "FluidR3_GM.sf2"),
    ("timgm6mb-soundfont", "TimGM6mb.sf2"),
    ("musescore-general-soundfont-small", "MuseScore_General_Lite.sf3"),
)  # fmt: skip
# General MIDI families: (label, first of their 8 programs, pitch range)
INSTRUMENT_FAMILIES = (
    ("piano", 0, (40, 84)), ("chromatic_percussion", 8, (55, 91)),
    ("organ", 16, (43, 84)), ("guitar", 24, (40, 76)),
    ("bass", 32, (28, 55)), ("strings", 40, (43, 84)),
    ("brass", 56, (48, 79)), ("reed", 64, (48, 84)),
    ("pipe", 72, (60, 91)),
)  # fmt: skip
NOTES_PER_PROGRAM = 5  # with each font
# The tuned ``notes`` set: the same families played by two other sampled
# sets that share no recording with those fonts, csound's General MIDI
# bank (fluidsynth) and the Freepats patches (TiMidity++), the programs
# each has.
NOTE_SOURCES = (
    ("csound-soundfont", "sf_GMbank.sf2"),
    ("freepats", "freepats.cfg"),
)  # fmt: skip
NOTES_PER_SOURCE = 6
NOTE_SECONDS, SLOT_SECONDS = 0.8, 1.5


class MissingPackageError(RuntimeError):
    """A Debian package a set is built from is not installed."""


def package_files(package, pattern=AUDIO):
    """The files of an installed Debian package whose paths match."""
    listing = subprocess.run(["dpkg", "-L", package], capture_output=True,
                             text=True)  # fmt: skip
    if listing.returncode != 0:
        raise MissingPackageError(
            f"Debian package {package} is not installed: apt-get install "
            f"{package}"
        )
    return sorted(
        path for path in listing.stdout.splitlines()
        if pattern.search(path) and os.path.isfile(path)
    )  # fmt: skip


def read_mono(path, seconds=None):
    """A file's audio as a mono float tensor at 16 kHz."""
    wav, rate = soundfile.read(path, dtype="float32", always_2d=True)
    audio = torch.from_numpy(wav.mean(axis=1))
    if rate != SAMPLE_RATE:
        audio = torchaudio.functional.resample(audio, rate, SAMPLE_RATE)
    if seconds:
        audio = audio[: int(seconds * SAMPLE_RATE)]
    return audio


def onset(audio, share=0.02):
    """The first sample above ``share`` of the peak."""
    loud = torch.nonzero(audio.abs() > share * audio.abs().max()).flatten()
    return int(loud[0]) if len(loud) else 0


def fit(audio, length, start=0):
    """``audio`` placed at ``start`` in ``length`` samples (cut or padded)."""
    out = torch.zeros(length)
    piece = audio[: max(0, length - start)]
    out[start : start + len(piece)] = piece
    return out


def peak_normalised(audio, peak=0.9):
    return peak * audio / audio.abs().max().clamp(min=1e-6)


def write_table(folder, rows):
    with open(os.path.join(folder, "clips.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "group"])
        writer.writeheader()
        writer.writerows(rows)
    groups = len({row["group"] for row in rows})
    labels = len({row["label"] for row in rows})
    print(f"{folder}: {len(rows)} clips, {labels} classes, {groups} groups")


def save_clip(folder, label, name, audio):
    os.makedirs(os.path.join(folder, label), exist_ok=True)
    path = os.path.join(label, f"{name}.wav")
    soundfile.write(os.path.join(folder, path), audio.numpy(), SAMPLE_RATE)
    return path


# words -------------------------------------------------------------------


def room_response(rng, rt60):
    """An exponentially decaying noise impulse response of ``rt60`` s."""
    n = int(rt60 * SAMPLE_RATE)
    decay = np.exp(-6.9 * np.arange(n) / n)
    response = rng.standard_normal(n) * decay
    response[0] = 1.0 / rng.uniform(0.3, 1.0)
    return torch.from_numpy(response / np.abs(response).sum() * 4).float()


def channel(rng):
    """A voice's recording channel: band limits, maybe a room and clipping."""
    low, high = rng.uniform(80, 600), rng.uniform(2500, 7000)
    room = room_response(rng, rng.uniform(0.15, 0.6)) if rng.random() < 0.5 \
        else None  # fmt: skip
    drive = rng.uniform(1.5, 4.0) if rng.random() < 0.3 else None

    def apply(audio):
        audio = torchaudio.functional.highpass_biquad(audio, SAMPLE_RATE, low)
        audio = torchaudio.functional.lowpass_biquad(audio, SAMPLE_RATE, high)
        if room is not None:
            audio = torchaudio.functional.fftconvolve(audio, room)
        if drive is not None:
            audio = torch.tanh(drive * peak_normalised(audio)) / np.tanh(drive)
        return audio

    return apply


def backgrounds():
    """Real recorded background loops, 16 kHz mono, at most 60 s each."""
    paths = [
        path for package in NOISE_PACKAGES
        for path in package_files(package) if NOISE_NAMES.search(path)
    ]  # fmt: skip
    return [read_mono(path, seconds=60) for path in paths]


def noisy_word(clean, apply_channel, noises, rng):
    """One clip: the word through its voice's channel, at a random place
    in the second, over a background at 0-20 dB SNR."""
    speech = clean[onset(clean) :]
    speech = speech[: len(speech) - onset(speech.flip(0))]
    speech = apply_channel(speech)[:SAMPLE_RATE]
    start = int(rng.integers(0, max(1, SAMPLE_RATE - len(speech))))
    audio = fit(speech, SAMPLE_RATE, start)
    noise = noises[int(rng.integers(len(noises)))]
    offset = int(rng.integers(0, max(1, len(noise) - SAMPLE_RATE)))
    noise = fit(noise[offset:], SAMPLE_RATE)
    audio = mix_at_snr(audio, noise, rng.uniform(0, 20))
    return peak_normalised(audio, rng.uniform(0.1, 0.9))


def mix_at_snr(audio, noise, snr):
    """``audio`` plus ``noise`` scaled to ``snr`` dB below its power."""
    power = audio.pow(2).mean().clamp(min=1e-8)
    noise_power = noise.pow(2).mean().clamp(min=1e-8)
    return audio + noise * torch.sqrt(power / noise_power / 10 ** (snr / 10))


def make_words(folder, jobs):
    noises = backgrounds()
    rng = np.random.default_rng(23)
    clean_folder = os.path.join(folder, "clean")
    spoken = []
    for voice, command in voices(WORD_VARIANTS):
        for word in rng.choice(WORDS, WORDS_PER_VOICE, replace=False):
            os.makedirs(os.path.join(clean_folder, word), exist_ok=True)
            spoken.append((voice, command, str(word), clean_folder))
    with ThreadPoolExecutor(jobs) as pool:
        clean_rows = list(pool.map(speak, spoken))
    channels, rows = {}, []
    for row in clean_rows:
        voice = row["speaker"]
        if voice not in channels:
            channels[voice] = channel(rng)
        clean = read_mono(os.path.join(clean_folder, row["path"]))
        audio = noisy_word(clean, channels[voice], noises, rng)
        path = save_clip(folder, row["label"], f"{voice}_{row['label']}",
                         audio)  # fmt: skip
        rows.append({"path": path, "label": row["label"], "group": voice})
    return rows


# effects -----------------------------------------------------------------


def category(name, categories):
    for label, pattern in categories:
        if re.search(pattern, name, re.IGNORECASE):
            return label
    return None


def recording_name(path):
    """A file's name without its variant number (``wolf-hit-3.ogg`` and
    ``wolf-hit-1.ogg`` are one recording session)."""
    stem = AUDIO.sub("", os.path.basename(path))
    return re.sub(r"([-_.]?\d+)+$", "", stem).lower()


def windows(audio, length=SAMPLE_RATE, most=WINDOWS_PER_RECORDING):
    """Up to ``most`` windows of a recording: from its onset, then every
    ``length`` samples while a window holds a tenth of the first's energy."""
    audio = audio[onset(audio) :]
    first = fit(audio, length)
    found = [first]
    energy = first.pow(2).sum()
    for start in range(length, len(audio) - length // 2, length):
        window = fit(audio[start:], length)
        if len(found) == most or window.pow(2).sum() < 0.1 * energy:
            break
        found.append(window)
    return found


def make_effects(folder, jobs, clips_of=windows):
    rows = []
    for package in EFFECT_PACKAGES:
        for path in package_files(package):
            if EFFECT_EXCLUDE.search(path):
                continue
            name = AUDIO.sub("", os.path.basename(path))
            label = category(name, EFFECT_CATEGORIES)
            unique = re.sub(r"\W+", "_", os.path.relpath(path, "/usr/share"))
            if label is None:
                continue
            audio = read_mono(path, seconds=10)
            if audio.abs().max() < 1e-4:
                continue
            group = f"{package}:{recording_name(path)}"
            for i, window in enumerate(clips_of(audio)):
                clip = save_clip(folder, label, f"{unique}_{i}",
                                 peak_normalised(window))  # fmt: skip
                rows.append({"path": clip, "label": label, "group": group})
    return rows


def esc50_clip(audio, seconds=5):
    """One ESC-50-like clip of a recording: ``seconds`` from its onset,
    padded with silence."""
    return [fit(audio[onset(audio) :], int(seconds * SAMPLE_RATE))]


def make_effects_5s(folder, jobs):
    return make_effects(folder, jobs, clips_of=esc50_clip)


# drums -------------------------------------------------------------------


def make_drums(folder, jobs):
    if not os.path.isdir(DRUM_FOLDER):
        raise MissingPackageError(
            "Debian package hydrogen-drumkits is not installed: apt-get "
            "install hydrogen-drumkits"
        )
    rows = []
    for kit in sorted(os.listdir(DRUM_FOLDER)):
        kit_folder = os.path.join(DRUM_FOLDER, kit)
        for name in sorted(os.listdir(kit_folder)):
            label = category(AUDIO.sub("", name), DRUM_CLASSES)
            if not AUDIO.search(name) or label is None:
                continue
            audio = read_mono(os.path.join(kit_folder, name), seconds=5)
            if audio.abs().max() < 1e-4:
                continue
            audio = fit(audio[onset(audio) :], SAMPLE_RATE)
            stem = re.sub(r"\W+", "_", f"{kit}_{AUDIO.sub('', name)}")
            clip = save_clip(folder, label, stem, peak_normalised(audio))
            rows.append({"path": clip, "label": label, "group": kit})
    return rows


# voices ------------------------------------------------------------------


def make_voices(folder, jobs):
    lines = {}
    for path in package_files(VOICE_PACKAGE):
        match = re.search(r"/voices/([^/]+)/([^/]+)$", path, re.IGNORECASE)
        if match:
            line = re.sub(r"\d+$", "", AUDIO.sub("", match.group(2)).lower())
            lines.setdefault(line, {}).setdefault(match.group(1), []).append(
                path
            )
    rows = []
    for line, packs in sorted(lines.items()):
        if len(packs) < VOICE_PACKS:
            continue
        for pack, paths in sorted(packs.items()):
            for path in paths:
                audio = read_mono(path, seconds=5)
                audio = fit(audio[onset(audio) :], SAMPLE_RATE * 3 // 2)
                name = f"{pack}_{AUDIO.sub('', os.path.basename(path))}"
                clip = save_clip(folder, line, name, peak_normalised(audio))
                rows.append({"path": clip, "label": line, "group": pack})
    return rows


# instruments -------------------------------------------------------------


MIDI_DIVISION = 480  # ticks a beat


def midi_notes(program, notes, hold_ticks, rest_ticks,
               division=MIDI_DIVISION):  # fmt: skip
    """A standard MIDI file (format 0, 120 beats a minute: ``division`` x 2
    ticks a second) playing ``notes`` (pitch, velocity) one after another
    on General MIDI ``program``, each held ``hold_ticks`` and followed by
    ``rest_ticks`` of silence."""
    track = bytearray(b"\x00\xc0" + bytes([program]))
    delta = 0
    for pitch, velocity in notes:
        track += variable_length(delta) + bytes([0x90, pitch, velocity])
        track += variable_length(hold_ticks) + bytes([0x80, pitch, 0])
        delta = rest_ticks
    track += variable_length(delta) + b"\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big")
    header += (1).to_bytes(2, "big") + division.to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


def variable_length(number):
    """MIDI's variable-length quantity: 7 bits a byte, high bit on all
    but the last."""
    groups = [number & 0x7F]
    number >>= 7
    while number:
        groups.append(0x80 | (number & 0x7F))
        number >>= 7
    return bytes(reversed(groups))


def synthesiser_files(players, files, set_name):
    """The files (``(package, name)`` pairs) a set is played from, once its
    ``players`` are found installed."""
    for player in players:
        if shutil.which(player) is None:
            raise MissingPackageError(
                f"Debian package {player} is not installed: apt-get "
                f"install {player}"
            )
    paths = []
    for package, name in files:
        found = package_files(package, re.compile(re.escape(name) + "$"))
        if not found:
            raise MissingPackageError(
                f"Debian package {package} holds no {name} (another "
                f"version?); the {set_name} are built from that file"
            )
        paths.append(found[0])
    return paths


def soundfonts():
    """The sampled General MIDI sound fonts' files, and fluidsynth."""
    return synthesiser_files(("fluidsynth",), SOUNDFONTS, "instruments")


def synthesiser_command(font, midi, wav):
    """fluidsynth for a sound font, TiMidity++ for a patch set's ``.cfg``;
    no reverb or chorus, mono at ``SAMPLE_RATE``."""
    if font.endswith(".cfg"):
        return ["timidity", "-c", font, "-Ow", "--output-mono", "-s",
                str(SAMPLE_RATE), "-EFreverb=d", "-EFchorus=d", "-o", wav,
                midi]  # fmt: skip
    return ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5",
            "-r", str(SAMPLE_RATE), "-F", wav, font, midi]  # fmt: skip


def render_program(job):
    """Plays one program's notes with one sound font; its 1-s windows from
    each note's start."""
    program, font, notes, scratch = job
    name = f"{program}_{os.path.basename(font)}"
    midi = os.path.join(scratch, f"{name}.mid")
    wav = os.path.join(scratch, f"{name}.wav")
    ticks = 2 * MIDI_DIVISION  # a second at 120 beats a minute
    hold, slot = (round(s * ticks) for s in (NOTE_SECONDS, SLOT_SECONDS))
    with open(midi, "wb") as handle:
        handle.write(midi_notes(program, notes, hold, slot - hold))
    subprocess.run(synthesiser_command(font, midi, wav), check=True,
                   capture_output=True)  # fmt: skip
    audio = read_mono(wav)
    step = int(SLOT_SECONDS * SAMPLE_RATE)
    return [fit(audio[i * step :], SAMPLE_RATE) for i in range(len(notes))]


def patch_programs(cfg):
    """The melodic programs (bank 0) a TiMidity++ patch set's ``.cfg``
    holds a patch for."""
    programs, bank = set(), None
    with open(cfg) as handle:
        for line in handle:
            words = line.split()
            if words[:1] in (["bank"], ["drumset"]):
                bank = words[0] + words[1]
            elif bank == "bank0" and words and words[0].isdigit():
                programs.add(int(words[0]))
    return programs


def note_sources():
    """The ``notes`` set's two sampled General MIDI sets: the csound bank
    (every program) and Freepats (the programs it has)."""
    files = synthesiser_files(("fluidsynth", "timidity"), NOTE_SOURCES,
                              "notes")  # fmt: skip
    return [
        (path, patch_programs(path) if path.endswith(".cfg")
         else set(range(128)))
        for path in files
    ]  # fmt: skip


def make_instruments(folder, jobs):
    fonts = [(font, set(range(128))) for font in soundfonts()]
    return play_families(folder, jobs, fonts, NOTES_PER_PROGRAM, seed=29)


def make_notes(folder, jobs):
    return play_families(folder, jobs, note_sources(), NOTES_PER_SOURCE,
                         seed=31)  # fmt: skip


def play_families(folder, jobs, fonts, notes_per_program, seed):
    """Notes of random pitch and velocity of the 8 programs of every
    family in ``INSTRUMENT_FAMILIES`` with each of ``fonts`` (a sound
    font or patch set and the programs it has), grouped by program."""
    rng = np.random.default_rng(seed)
    played = []  # (label, program, font, notes)
    for label, first, (low, high) in INSTRUMENT_FAMILIES:
        for program in range(first, first + 8):
            for font, programs in fonts:
                notes = [
                    (int(rng.integers(low, high + 1)),
                     int(rng.integers(60, 121)))
                    for _ in range(notes_per_program)
                ]  # fmt: skip
                if program in programs:
                    played.append((label, program, font, notes))
    with tempfile.TemporaryDirectory() as scratch, \
            ThreadPoolExecutor(jobs) as pool:  # fmt: skip
        rendered = list(pool.map(render_program, [
            (program, font, notes, scratch)
            for _, program, font, notes in played
        ]))  # fmt: skip
    rows = []
    for (label, program, font, _), clips in zip(played, rendered, strict=True):
        font_name = os.path.splitext(os.path.basename(font))[0]
        for index, audio in enumerate(clips):
            if audio.abs().max() < 1e-4:
                continue
            clip = save_clip(folder, label, f"{font_name}_{program}_{index}",
                             peak_normalised(audio))  # fmt: skip
            rows.append({"path": clip, "label": label,
                         "group": f"program{program}"})  # fmt: skip
    return rows


BUILDERS = {"words": make_words, "effects": make_effects,
            "drums": make_drums, "notes": make_notes,
            "voices": make_voices, "instruments": make_instruments,
            "effects_5s": make_effects_5s}  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=SETS)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    for name in args.sets:
        folder = os.path.join(args.out_dir, name)
        if os.path.exists(os.path.join(folder, "clips.csv")):
            print(f"{folder}: already built")
            continue
        os.makedirs(folder, exist_ok=True)
        try:
            rows = BUILDERS[name](folder, args.jobs)
        except MissingPackageError as error:
            raise SystemExit(f"error: {name}: {error}") from None
        write_table(folder, rows)


if __name__ == "__main__":
    main()
