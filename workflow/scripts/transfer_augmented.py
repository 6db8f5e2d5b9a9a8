"""The paper preset: a probe trained on features of augmented train images, recomputed every epoch."""
import pandas as pd
import torch

from vlgen.jobs import open_manifest, start_job
from vlgen.tasks.probe_augmented import Augmentation, augmented_probe
from vlgen.tasks.probe import AdamSchedule, n_classes_of, save_probe, transfer_row

start_job(snakemake.log[0], snakemake.threads)
torch.set_num_threads(snakemake.threads)
wc, settings = snakemake.wildcards, snakemake.params.settings
train = open_manifest(snakemake.input.train)
test = open_manifest(snakemake.input.test)
probe, n_train = augmented_probe(
    test.payload["model"], snakemake.params.dataset, snakemake.params.root, n_classes_of(train.labels, test.labels),
    schedule=AdamSchedule.from_config(settings), seed=snakemake.params.seed,
    augmentation=Augmentation.from_config(settings) if snakemake.params.augment else None,
    weights=snakemake.params.weights,
    device=snakemake.resources.device, workers=snakemake.resources.workers)
row = transfer_row(probe, test.load_features(), test.labels, n_train=n_train)
save_probe(snakemake.output.probe, probe, preset="paper", model=wc.model, dataset=wc.dataset,
           feature_key=test.key, accuracy=row["accuracy"])
pd.DataFrame([{"model": wc.model, "dataset": wc.dataset, "preset": "paper", **row,
               "feature_key": test.key}]).to_csv(snakemake.output.table, index=False)
