"""Every pair of models on each RSA dataset: r of their RDMs, parametric and Mantel p-values, a bootstrap
interval over classes; and how often each clade of the dendrogram recurs over the bootstrap."""
from pathlib import Path

import pandas as pd

from vlgen.jobs import start_job
from vlgen.tasks.rdm_bootstrap import uncertainty_rows
from vlgen.tasks.rdm_compare import correlation_rows
from vlgen.tasks.rsa import load_rdm

start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
settings = params.settings
path_of = {(Path(p).stem, Path(p).parent.name): p for p in snakemake.input}  # rsa/rdms/{model}/{dataset}.npz
tables, clade_tables = [], []
for dataset in params.datasets:
    rdms = [load_rdm(path_of[dataset, model], model) for model in params.models]
    rows = pd.DataFrame(correlation_rows(rdms, settings["method"], settings["permutations"], settings["seed"]))
    intervals, clades = uncertainty_rows(rdms, settings["method"], settings["bootstrap_resamples"], settings["seed"])
    tables.append(rows.merge(pd.DataFrame(intervals), on=["model_a", "model_b"], validate="one_to_one")
                  .assign(dataset=dataset))
    clade_tables.append(pd.DataFrame(clades, columns=["clade", "size", "support"]).assign(dataset=dataset))
columns = ["dataset", "model_a", "model_b", "preset", "distance", "method", "r", "p_parametric", "p_permutation",
           "ci_low", "ci_high"]
pd.concat(tables)[columns].to_csv(snakemake.output.table, index=False)
pd.concat(clade_tables)[["dataset", "clade", "size", "support"]].to_csv(snakemake.output.clades, index=False)
