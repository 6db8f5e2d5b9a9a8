"""Concatenate per-(model, dataset, preset) probe results into the run's table."""
import pandas as pd

from vlgen.jobs import start_job

start_job(snakemake.log[0], snakemake.threads)
columns = ["model", "dataset", "preset", "accuracy", "C", "n_train", "n_val", "n_test", "feature_key"]
table = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
table[columns].to_csv(snakemake.output[0], index=False)
