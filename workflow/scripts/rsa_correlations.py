"""Every pair of models on each RSA dataset: r of their RDMs, parametric and Mantel p-values."""
from pathlib import Path

import pandas as pd

from vlgen.jobs import start_job
from vlgen.tasks.rdm_compare import correlation_rows
from vlgen.tasks.rsa import load_rdm

start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
settings = params.settings
path_of = {(Path(p).stem, Path(p).parent.name): p for p in snakemake.input}  # rsa/rdms/{model}/{dataset}.npz
rows = []
for dataset in params.datasets:
    rdms = [load_rdm(path_of[dataset, model], model) for model in params.models]
    rows += [{"dataset": dataset, **row}
             for row in correlation_rows(rdms, settings["method"], settings["permutations"], settings["seed"])]
columns = ["dataset", "model_a", "model_b", "preset", "distance", "method", "r", "p_parametric", "p_permutation"]
pd.DataFrame(rows, columns=columns).to_csv(snakemake.output[0], index=False)
