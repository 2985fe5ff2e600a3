#!/usr/bin/env python3
"""Speaker identification in the SpeechBrain template style, AST encoder.

The Brain below is the usual template Brain (features, normalisation,
embedding model, classifier, loss); nothing in it knows about the AST,
which comes in through ``embedding_model`` in ``hparams.yaml``.

To run::

    python make_speaker_demo.py demo_data/speakers
    python train.py hparams.yaml --data_folder demo_data/speakers

Authors
 * AST-SpeechBrain contributors 2026
"""

import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from ast_lobes.audio.io import read_audio


class SpeakerIdBrain(sb.Brain):
    """Template speaker-ID Brain: class scores from any embedding model."""

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        feats = self.modules.compute_features(wavs)
        feats = self.modules.mean_var_norm(feats, lens)
        embeddings = self.modules.embedding_model(feats, lens)
        return self.modules.classifier(embeddings)

    def compute_objectives(self, predictions, batch, stage):
        speakers, _ = batch.speaker_encoded
        loss = self.hparams.compute_cost(predictions, speakers)
        if stage != sb.Stage.TRAIN:
            self.error_metrics.append(batch.id, predictions, speakers)
        return loss

    def on_stage_start(self, stage, epoch=None):
        if stage != sb.Stage.TRAIN:
            self.error_metrics = self.hparams.error_stats()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        stats = {
            "loss": stage_loss,
            "error": self.error_metrics.summarize("average"),
        }
        self.hparams.train_logger.log_stats(
            {"epoch": epoch}, {"loss": self.train_loss}, stats
        )
        self.checkpointer.save_and_keep_only(meta=stats, min_keys=["error"])
        self.last_stats = stats


def speaker_datasets(hparams):
    """Train and valid datasets with ``sig`` and ``speaker_encoded``."""
    label_encoder = hparams["label_encoder"]

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return read_audio(wav, 16000)

    @sb.utils.data_pipeline.takes("speaker")
    @sb.utils.data_pipeline.provides("speaker_encoded")
    def label_pipeline(speaker):
        return label_encoder.encode_sequence_torch([speaker])

    datasets = {}
    for split in ("train", "valid"):
        datasets[split] = sb.dataio.dataset.DynamicItemDataset.from_csv(
            hparams[f"{split}_annotation"],
            dynamic_items=[audio_pipeline, label_pipeline],
            output_keys=["id", "sig", "speaker_encoded"],
        )
    label_encoder.update_from_didataset(datasets["train"], "speaker")
    return datasets


def main(argv):
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    with open(hparams_file, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, overrides)
    sb.create_experiment_directory(
        hparams["output_folder"], hparams_file, overrides=overrides
    )
    datasets = speaker_datasets(hparams)
    brain = SpeakerIdBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        hparams["epoch_counter"],
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["dataloader_options"],
        valid_loader_kwargs=hparams["dataloader_options"],
    )
    print(f"valid error rate: {brain.last_stats['error']:.3f}")
    return brain


if __name__ == "__main__":
    main(sys.argv[1:])
