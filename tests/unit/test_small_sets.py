"""The small-set builders' pieces (benchmarks/audiofolder), on
hand-made signals: classes from file names, recordings from variant
numbers, windows of a recording, a word over a background at its SNR,
MIDI files against the Standard MIDI File spec's bytes."""

import os
import sys

import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "audiofolder"))

import make_sets  # noqa: E402


@pytest.fixture(autouse=True)
def outside_the_checkout(tmp_path, monkeypatch):
    """The YAMLs' checkpointers make their default folders (results/...)
    in the working directory: each test's own folder, not the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("name, label", [
    ("default_grass_footstep.2", "footsteps"),
    ("doors_steel_door_open", "door"),
    ("tnt_explode", "explosion"),
    ("wolf-hit-3", "creature_voice"),
    ("Oxygen-Im-New-Mail", "ui_notification"),
    ("main_theme", None),
])  # fmt: skip
def test_effect_classes_come_from_file_names(name, label):
    assert make_sets.category(name, make_sets.EFFECT_CATEGORIES) == label


@pytest.mark.parametrize("name, label", [
    ("EE_Kick_Hard_1", "kick"), ("bassdrum_4mics_soft2", "kick"),
    ("Snare Rock", "snare"), ("Open HH", "hihat"), ("tomhi4", "tom"),
    ("ride-crash20inch", "cymbal"), ("AgogoHigh_0", "hand_percussion"),
])  # fmt: skip
def test_drum_classes_come_from_file_names(name, label):
    assert make_sets.category(name, make_sets.DRUM_CLASSES) == label


def test_variants_of_a_recording_are_one_group():
    names = ["/a/wolf-hit-1.ogg", "/a/wolf-hit-4.ogg", "/b/carts.1.ogg",
             "/b/carts.3.ogg", "/c/Droplet2.ogg"]  # fmt: skip
    assert [make_sets.recording_name(n) for n in names] == [
        "wolf-hit",
        "wolf-hit",
        "carts",
        "carts",
        "droplet",
    ]


def test_windows_start_at_the_onset_and_stop_where_the_sound_fades():
    rate = make_sets.SAMPLE_RATE
    audio = torch.zeros(5 * rate)
    audio[rate // 2 : rate // 2 + 3 * rate] = 1.0  # 3 s of sound at 0.5 s
    audio[rate // 2 + 2 * rate :] *= 0.2  # its third second 14 dB lower
    found = make_sets.windows(audio, most=5)
    # from the onset: two loud seconds, a third at 0.04 of the energy
    # (under a tenth of the first's): two windows
    assert len(found) == 2 and all(len(w) == rate for w in found)
    assert float(found[0][0]) == 1.0 and float(found[1][-1]) == 1.0
    assert len(make_sets.windows(audio, most=1)) == 1


def test_a_background_is_mixed_at_the_given_snr():
    audio = torch.full((1000,), 0.5)  # power 0.25
    noise = torch.tensor([1.0, -1.0] * 500)  # power 1
    mixed = make_sets.mix_at_snr(audio, noise, 10.0)
    # 10 dB under 0.25 is 0.025: the noise scaled by sqrt(0.025)
    assert torch.allclose(mixed - audio, noise * 0.025**0.5)


def test_a_clip_of_a_word_is_one_second_at_a_random_peak():
    rate = make_sets.SAMPLE_RATE
    word = torch.zeros(rate)
    word[4000:8000] = torch.sin(torch.arange(4000) * 0.3)
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal(
        3 * rate)).float()  # fmt: skip
    clip = make_sets.noisy_word(word, lambda a: a, [noise],
                                np.random.default_rng(5))  # fmt: skip
    assert clip.shape == (rate,)
    assert 0.1 <= float(clip.abs().max()) <= 0.9 + 1e-6


@pytest.mark.parametrize("number, coded", [
    (0x00, "00"), (0x40, "40"), (0x7F, "7F"), (0x80, "81 00"),
    (0x2000, "C0 00"), (0x3FFF, "FF 7F"), (0x4000, "81 80 00"),
    (0x100000, "C0 80 00"), (0x0FFFFFFF, "FF FF FF 7F"),
])  # fmt: skip
def test_midi_lengths_are_coded_as_the_standard_midi_file_spec_shows(
    number, coded
):
    assert make_sets.variable_length(number) == bytes.fromhex(coded)


def test_a_midi_file_of_one_note_holds_the_bytes_the_spec_gives():
    midi = make_sets.midi_notes(5, [(60, 100)], hold_ticks=768,
                                rest_ticks=672)  # fmt: skip
    track = (
        "00 C0 05"  # program 5 at once
        " 00 90 3C 64"  # note 60 on at velocity 100
        " 86 00 80 3C 00"  # off 768 ticks later
        " 85 20 FF 2F 00"  # the end of the track 672 ticks after that
    )
    assert midi == bytes.fromhex(
        "4D 54 68 64 00 00 00 06 00 00 00 01 01 E0"  # MThd, format 0, 480
        " 4D 54 72 6B 00 00 00 11 " + track  # MTrk of 17 bytes
    )


def test_each_note_is_a_window_from_the_start_of_its_slot(
    tmp_path, monkeypatch
):
    import soundfile

    rate = make_sets.SAMPLE_RATE
    slot = int(make_sets.SLOT_SECONDS * rate)
    played = {}

    def fluidsynth(command, **kwargs):  # note i at (i + 1) / 10, 16 bits
        played["midi"] = open(command[-1], "rb").read()
        audio = np.zeros((3 * slot, 2), dtype=np.float32)
        for i in range(3):
            audio[i * slot : i * slot + rate // 2] = (i + 1) / 10
        soundfile.write(command[command.index("-F") + 1], audio, rate)

    monkeypatch.setattr(make_sets.subprocess, "run", fluidsynth)
    notes = [(40, 90), (52, 100), (64, 110)]
    clips = make_sets.render_program((7, "font.sf2", notes, str(tmp_path)))
    assert [len(clip) for clip in clips] == [rate] * 3
    for i, clip in enumerate(clips):
        assert float(clip[0]) == pytest.approx((i + 1) / 10, abs=1e-4)
        assert float(clip[rate // 2]) == 0.0  # the note's own slot only
    assert played["midi"].startswith(b"MThd")
    assert b"\xc0\x07" in played["midi"]


def test_a_patch_set_is_played_by_timidity_into_the_same_windows(
    tmp_path, monkeypatch
):
    import soundfile

    rate = make_sets.SAMPLE_RATE
    slot = int(make_sets.SLOT_SECONDS * rate)
    commands = []

    def timidity(command, **kwargs):
        commands.append(command)
        audio = np.zeros(2 * slot, dtype=np.float32)
        audio[slot : slot + 10] = 0.5
        soundfile.write(command[command.index("-o") + 1], audio, rate)

    monkeypatch.setattr(make_sets.subprocess, "run", timidity)
    clips = make_sets.render_program(
        (3, "/etc/timidity/freepats.cfg", [(40, 90), (52, 100)],
         str(tmp_path))
    )  # fmt: skip
    assert commands[0][:3] == ["timidity", "-c", "/etc/timidity/freepats.cfg"]
    assert commands[0][commands[0].index("-s") + 1] == str(rate)
    assert commands[0][-1].endswith(".mid")
    assert float(clips[0].abs().max()) == 0.0
    assert float(clips[1][0]) == pytest.approx(0.5, abs=1e-4)


def test_the_programs_of_a_patch_set_are_its_melodic_bank_s(tmp_path):
    cfg = tmp_path / "set.cfg"
    cfg.write_text(
        "dir /usr/share/midi/freepats\n\ndrumset 0\n\n"
        " 35\tDrum_000/035_Kick_1.pat amp=100\n\nbank 0\n\n"
        " 0\tTone_000/000_Acoustic_Grand_Piano.pat amp=120 pan=center\n"
        " 24\tTone_000/024_Nylon_Guitar.pat\n\nbank 8\n\n"
        " 4\tTone_000/004_Electric_Piano_1_Rhodes.pat\n"
    )
    assert make_sets.patch_programs(str(cfg)) == {0, 24}


def test_notes_without_timidity_say_what_to_install(monkeypatch):
    monkeypatch.setattr(
        make_sets.shutil,
        "which",
        lambda name: None if name == "timidity" else "/x",
    )
    with pytest.raises(make_sets.MissingPackageError,
                       match="apt-get install timidity"):  # fmt: skip
        make_sets.note_sources()


def test_instruments_without_fluidsynth_say_what_to_install(monkeypatch):
    monkeypatch.setattr(make_sets.shutil, "which", lambda name: None)
    with pytest.raises(make_sets.MissingPackageError,
                       match="apt-get install fluidsynth"):  # fmt: skip
        make_sets.soundfonts()


def test_a_sound_font_package_without_its_file_is_named(monkeypatch):
    monkeypatch.setattr(make_sets.shutil, "which", lambda name: "/bin/x")
    monkeypatch.setattr(make_sets, "package_files",
                        lambda package, pattern: [])  # fmt: skip
    with pytest.raises(
        make_sets.MissingPackageError,
        match="fluid-soundfont-gm holds no FluidR3_GM.sf2",
    ):
        make_sets.soundfonts()


def test_a_cell_over_folds_is_the_mean_at_the_last_epoch_and_its_spread(
    tmp_path,
):
    import json

    import run_presets

    summary = {
        "last_epoch": {"epoch": 30, "mean": 0.7, "std": 0.05},
        "best_epoch": {"epoch": 12, "mean": 0.8, "std": 0.01},
    }
    (tmp_path / "cross_validation.json").write_text(json.dumps(summary))
    assert run_presets.fold_accuracy(tmp_path) == (0.7, 0.05)
    rows = {
        ("drums", "teacher"): {"accuracy": 0.75, "seconds": 60},
        ("drums", "stem_frames"): {"accuracy": 0.7, "fold_std": 0.05,
                                   "seconds": 120, "n_folds": 4},
    }  # fmt: skip
    text = run_presets.table_text(rows, ["drums"], ["teacher", "stem_frames"])
    cells = "| stem_frames | 70.0 % +- 5.0 (2.0 min) | 70.0 % | 5.0 points |"
    assert cells in text
    rows["drums", "stem_frames"]["accuracy"] = 0.8
    text = run_presets.table_text(rows, ["drums"], ["teacher", "stem_frames"])
    assert "| 80.0 % | none (ahead by 5.0) |" in text
    assert run_presets.split_options(4)[-4:] == ["--n_folds", "4",
                                                 "--seed", "1986"]  # fmt: skip


def test_a_cell_over_training_seeds_is_their_mean_and_spread(tmp_path):
    """Three seeds of one split: 0.5, 0.6, 0.7 give 60.0 % +- 8.2 (the
    population spread, sqrt(0.02 / 3)); each seed has its own folder and
    every run holds the split's seed."""
    import json

    import run_presets

    for seed, accuracy in ((1986, 0.5), (2, 0.6), (3, 0.7)):
        folder = run_presets.run_folder(tmp_path, "notes", "frames", seed)
        os.makedirs(folder)
        with open(os.path.join(folder, "result.json"), "w") as handle:
            json.dump({"accuracy": accuracy, "seconds": 60 * seed}, handle)
    assert os.path.isdir(tmp_path / "notes" / "frames")
    assert os.path.isdir(tmp_path / "notes" / "frames_seed2")
    rows = run_presets.stored_results(tmp_path, ["notes"], ["frames"],
                                      [1986, 2, 3])  # fmt: skip
    cell = rows["notes", "frames"]
    assert cell["accuracy"] == pytest.approx(0.6)
    assert cell["seed_std"] == pytest.approx((0.02 / 3) ** 0.5)
    assert cell["seconds"] == pytest.approx(60 * (1986 + 2 + 3) / 3)
    text = run_presets.table_text(rows, ["notes"], ["frames"])
    assert "| 60.0 % +- 8.2 (3 seeds) (663.7 min) |" in text
    # a preset that trains its own teacher is judged against it: seeds
    # of 0.55 and 0.45 (mean 0.5) against a student of 0.6 on average
    for seed, own in ((1986, 0.55), (2, 0.45), (3, None)):
        folder = run_presets.run_folder(tmp_path, "notes", "frames", seed)
        with open(os.path.join(folder, "result.json")) as handle:
            found = json.load(handle)
        found["own_teacher_accuracy"] = own if own is not None else 0.5
        with open(os.path.join(folder, "result.json"), "w") as handle:
            json.dump(found, handle)
    rows = run_presets.stored_results(tmp_path, ["notes"], ["frames"],
                                      [1986, 2, 3])  # fmt: skip
    rows["notes", "teacher"] = {"accuracy": 0.9, "seconds": 60}
    text = run_presets.table_text(rows, ["notes"], ["teacher", "frames"])
    assert "its teacher 50.0 %) | 60.0 % | none (ahead by 10.0) |" in text
    options = run_presets.split_options(1, 2)
    assert options[-4:] == ["--split_seed", "1986", "--seed", "2"]


def test_the_one_command_s_teacher_is_read_from_its_first_test_line(
    tmp_path, monkeypatch
):
    """The one command prints the teacher stage's test line, then the
    student's: the result keeps both, the student's as the accuracy."""
    import subprocess

    import run_presets

    folder = tmp_path / "run"
    (folder / "teacher").mkdir(parents=True)
    printed = ("test accuracy: 0.5500; 486 training clips, 9 classes\n"
               "test accuracy: 0.4420; 486 training clips, 9 classes; "
               "model in run/model\n")  # fmt: skip

    def fake_run(command, **_):
        assert command[-2:] == ["--teacher_recipe", "cnn_teacher.yaml"]
        assert command[command.index("--seed") + 1] == "2"
        return subprocess.CompletedProcess(command, 0, printed, "")

    monkeypatch.setattr(run_presets.subprocess, "run", fake_run)
    found = run_presets.run_recipe(
        "cpu.yaml", ["--teacher_recipe", "cnn_teacher.yaml"], str(folder),
        "clips.csv", seed=2,
    )  # fmt: skip
    assert found["accuracy"] == 0.442
    assert found["own_teacher_accuracy"] == 0.55


def test_a_student_preset_of_each_seed_learns_from_that_seed_s_teacher(
    tmp_path, monkeypatch
):
    import run_presets

    (tmp_path / "sets" / "notes").mkdir(parents=True)
    (tmp_path / "sets" / "notes" / "clips.csv").write_text("path,label\n")
    taught = {}

    def fake_run_recipe(yaml, overrides, folder, table, n_folds, seed):
        taught[seed] = (overrides[overrides.index("--teacher") + 1], folder)
        return {"accuracy": 0.5, "seconds": 1.0}

    monkeypatch.setattr(run_presets, "run_recipe", fake_run_recipe)
    out = tmp_path / "out"
    run_presets.measure(str(tmp_path / "sets"), str(out), ["notes"],
                        ["frames_student"], seeds=[1986, 2])  # fmt: skip
    assert taught[1986] == (
        str(out / "notes" / "teacher" / "teacher_logits.npz"),
        str(out / "notes" / "frames_student"),
    )
    assert taught[2] == (
        str(out / "notes" / "teacher_seed2" / "teacher_logits.npz"),
        str(out / "notes" / "frames_student_seed2"),
    )


def test_seeds_and_folds_together_are_refused(tmp_path, capsys):
    import run_presets

    with pytest.raises(SystemExit) as stop:
        run_presets.main([str(tmp_path), "--n_folds", "4", "--seeds", "1",
                          "2"])  # fmt: skip
    assert stop.value.code == 2
    assert "--seeds and --n_folds: choose one" in capsys.readouterr().err


def test_logistic_regression_over_folds_separates_two_tones(tmp_path):
    """Low and high tones, eight sources (groups) in four folds: every
    fold's test clips are told apart (accuracy 1, spread 0)."""
    import soundfile
    from logmel_baseline import logmel_logistic_regression_folds

    rng = np.random.default_rng(0)
    lines = ["path,label,group"]
    time = np.arange(8000) / 16000
    for source in range(8):
        label, frequency = ("low", 300.0) if source % 2 else ("high", 3000.0)
        for take in range(2):
            wave = 0.3 * np.sin(2 * np.pi * frequency * time)
            wave += 0.01 * rng.standard_normal(time.size)
            name = f"{label}_{source}_{take}.wav"
            soundfile.write(tmp_path / name, wave.astype(np.float32), 16000)
            lines.append(f"{name},{label},source{source}")
    table = tmp_path / "clips.csv"
    table.write_text("\n".join(lines) + "\n")
    split = ["--group_column", "group", "--n_folds", "4", "--seed", "1986"]
    mean, spread = logmel_logistic_regression_folds(
        str(table), str(tmp_path / "run"), split, 4
    )
    assert (mean, spread) == (1.0, 0.0)


def test_a_table_of_a_folder_that_holds_no_results_says_so(tmp_path, capsys):
    import run_presets

    missing = tmp_path / "nowhere"
    with pytest.raises(SystemExit) as stop:
        run_presets.main([str(tmp_path), "--table_only", "--output",
                          str(missing)])  # fmt: skip
    assert stop.value.code == 2
    assert f"{missing}: no results there" in capsys.readouterr().err


def test_the_default_is_a_preset_that_keeps_its_meaning():
    import run_presets
    import yaml

    from ast_lobes.training.options import read_plain_hparams

    cpu_yaml = os.path.join(ROOT, "recipes", "AudioFolder", "hparams",
                            "cpu.yaml")  # fmt: skip
    defaults = read_plain_hparams(cpu_yaml)
    name, options, _ = run_presets.PRESETS[
        "teacher_then_online_mixup_student_no_noise"
    ]
    assert name == "cpu.yaml"
    named = dict(zip(options[::2], options[1::2], strict=True))
    for key, value in named.items():
        assert yaml.safe_load(value) == defaults[key[2:]], key
    # an older preset names what cpu.yaml's defaults have changed since
    _, options, _ = run_presets.PRESETS["stem_frames_shift"]
    named = dict(zip(options[::2], options[1::2], strict=True))
    assert named["--teacher_recipe"] == "null"
    assert named["--number_of_epochs"] == "30"
    assert named["--stem_kind"] == "image"
    assert named["--stem_norm"] == "none"
    assert named["--weight_ema_epochs"] == "0"
    assert named["--decoupled_weight_decay"] == "false"
    assert named["--teacher_online"] == "false"
    assert named["--mixup_probability"] == "0"
    assert named["--noise_scale"] == "0.1"


def test_the_cpu_student_decays_its_weights_apart_from_the_gradient():
    import torch
    from hyperpyyaml import load_hyperpyyaml

    cpu_yaml = os.path.join(ROOT, "recipes", "AudioFolder", "hparams",
                            "cpu.yaml")  # fmt: skip
    with open(cpu_yaml, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, {"n_classes": 3})
    weight = torch.nn.Parameter(torch.full((4,), 2.0))
    optimizer = hparams["opt_class"]([weight])
    weight.grad = torch.zeros(4)
    optimizer.step()
    # decoupled (AdamW): no gradient, so only the decay, w * (1 - lr * wd);
    # Adam's coupled decay would step by about lr through the moments
    expected = 2.0 * (1 - 0.001 * 0.05)
    assert torch.allclose(weight.detach(), torch.full((4,), expected))
