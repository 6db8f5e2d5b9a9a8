"""Concatenate per-(model, dataset) clustering scores into the run's table."""
import pandas as pd

from vlgen.jobs import start_job

start_job(snakemake.log[0], snakemake.threads)
columns = ["model", "dataset", "matching", "accuracy", "nmi", "ari", "n", "feature_key"]
table = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
table[columns].to_csv(snakemake.output[0], index=False)
