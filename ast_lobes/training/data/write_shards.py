"""Writes a manifest's clips into WebDataset tar shards for training
(the command line of ``shards.write_shards``).

Each clip is decoded once, resampled to 16 kHz and stored as 16-bit FLAC
with its id, labels and label-balanced weight; ``shards.json`` lists each
finished shard with its clip count and SHA-256. Run again after an
interruption: the shards already written and intact are kept. ``--check``
verifies a folder.

To run (after a first ``train.py`` run, or the recipe's prepare step, has
written the manifest; ``recipes/AudioSet/write_shards.py`` is the same)::

    python -m ast_lobes.training.data.write_shards \
        results/AudioSet/full/1986/save/train.csv /data/audioset_shards \
        --clips_per_shard 1000
    python recipes/AudioSet/train.py recipes/AudioSet/hparams/full.yaml ... \
        --train_shards "/data/audioset_shards/shard-{000000..002040}.tar"

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os
import sys

from ast_lobes.training.data.shards import (
    ShardError,
    check_shards,
    write_shards,
)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="write_shards", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("manifest", help="CSV: ID, duration, wav, label")
    parser.add_argument("folder", help="where the shards go")
    parser.add_argument("--clips_per_shard", type=int, default=1000)
    parser.add_argument("--sample_rate", type=int, default=16000)
    parser.add_argument("--label_column", default="label")
    parser.add_argument("--check", action="store_true",
                        help="only check the folder's shards")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        if args.check:
            index = check_shards(args.folder)
        else:
            if not os.path.isfile(args.manifest):
                raise ShardError(f"{args.manifest}: missing")
            index = write_shards(
                args.manifest, args.folder, args.clips_per_shard,
                args.sample_rate, args.label_column,
            )  # fmt: skip
    except (ShardError, ValueError, OSError) as error:
        sys.exit(f"write_shards: {error}")
    last = index["shards"][-1]["name"] if index["shards"] else None
    print(
        f"{args.folder}: {index['clips']} clips in {len(index['shards'])} "
        f"shards (last: {last}), checked"
    )
    return index


if __name__ == "__main__":
    main()
