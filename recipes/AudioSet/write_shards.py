#!/usr/bin/env python3
"""Writes a manifest's clips into WebDataset tar shards for training:
``ast_lobes.training.data.write_shards``, which documents its options.

To run::

    python write_shards.py results/AudioSet/full/1986/save/train.csv \
        /data/audioset_shards --clips_per_shard 1000

Authors
 * AST-SpeechBrain contributors 2026
"""

from ast_lobes.training.data.write_shards import main

if __name__ == "__main__":
    main()
