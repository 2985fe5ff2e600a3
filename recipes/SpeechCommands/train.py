#!/usr/bin/env python3
"""Speech Commands V2 (35 words) with the Audio Spectrogram Transformer.

Trains on the official training split, validates every epoch, then tests
the checkpoint with the best validation accuracy and exports it.

To run::

    python train.py hparams/ast.yaml --data_folder /path/to/speech_commands

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
import sys

import speechbrain as sb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from speech_commands_prepare import (  # noqa: E402
    SplitLeakError,
    prepare_speech_commands,
)

from ast_lobes.training.recipe import (  # noqa: E402
    end_distributed,
    load_experiment,
    parse_overrides,
    run_main,
    train_classifier,
)


def main():
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    overrides = parse_overrides(overrides)
    hparams = load_experiment(hparams_file, overrides)
    sb.utils.distributed.run_on_main(
        prepare_speech_commands,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["save_folder"],
            "sample_rate": hparams["sample_rate"],
        },
    )
    manifests = {
        split: os.path.join(hparams["save_folder"], f"{split}.csv")
        for split in ("train", "valid", "test")
    }
    trained = train_classifier(hparams, run_opts, manifests)
    if sb.utils.distributed.if_main_process():
        epoch = hparams["epoch_counter"].current
        accuracy = trained.test_stats["accuracy"]
        print(
            f"Speech Commands V2 test accuracy: {100 * accuracy:.2f}% "
            f"(checkpoint of epoch {epoch}, best validation accuracy)"
        )
    end_distributed()


if __name__ == "__main__":
    run_main(main, (SplitLeakError,))
