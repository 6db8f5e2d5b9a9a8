"""A linear probe on one model's cached features of one dataset (default or paper_cached preset)."""
import pandas as pd

from vlgen.jobs import open_manifest, start_job
from vlgen.tasks.probe import fit_cached_probe, n_classes_of, save_probe, transfer_row

start_job(snakemake.log[0], snakemake.threads)
wc = snakemake.wildcards
train = open_manifest(snakemake.input.train)
test = open_manifest(snakemake.input.test)
n_classes = n_classes_of(train.labels, test.labels)
probe = fit_cached_probe(wc.preset, train.load_features(), train.labels, n_classes, snakemake.params.settings,
                         snakemake.params.seed)
row = transfer_row(probe, test.load_features(), test.labels, n_train=len(train.labels))
save_probe(snakemake.output.probe, probe, preset=wc.preset, model=wc.model, dataset=wc.dataset,
           feature_key=test.key, train_feature_key=train.key, accuracy=row["accuracy"])
pd.DataFrame([{"model": wc.model, "dataset": wc.dataset, "preset": wc.preset, **row,
               "feature_key": test.key}]).to_csv(snakemake.output.table, index=False)
