"""Spectral clustering of one model's test features on one dataset; scores and assignments."""
import numpy as np
import pandas as pd

from vlgen.jobs import open_manifest, start_job
from vlgen.tasks.clustering import cluster_split

start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params.clustering
test = open_manifest(snakemake.input.test)
clusters, rows = cluster_split(test.load_features(), test.labels, seed=params["seed"], n_init=params["n_init"],
                               dense_max_samples=params["dense_max_samples"], matchings=params["matchings"])
# Fixed-width strings: numpy 2's StringDType would be pickled, and np.load refuses pickles by default.
np.savez(snakemake.output.assignments, sample_ids=np.asarray(test.sample_ids.tolist(), dtype=str), labels=test.labels,
         clusters=clusters)
table = pd.DataFrame(rows)
table.insert(0, "dataset", snakemake.wildcards.dataset)
table.insert(0, "model", snakemake.wildcards.model)
table["feature_key"] = test.key
table.to_csv(snakemake.output.table, index=False)
