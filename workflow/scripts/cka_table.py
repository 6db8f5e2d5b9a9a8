"""Linear and debiased CKA between every pair of image models on each RSA dataset's images."""
from collections import defaultdict

import pandas as pd

from vlgen.jobs import open_manifest, start_job
from vlgen.tasks.cka import aligned, cka_rows

start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
manifests = defaultdict(list)
for (dataset, model), path in zip(params.inputs, snakemake.input):
    manifests[dataset].append((model, path))
rows = []
for dataset, entries in manifests.items():
    representations, reference_ids = [], None
    for model, path in entries:  # one model's features read at a time, rows aligned to the first model's
        entry = open_manifest(path)
        reference_ids = entry.sample_ids if reference_ids is None else reference_ids
        representations.append(aligned(model, entry.load_features(), entry.sample_ids, reference_ids))
    rows += [{"dataset": dataset, "split": params.splits[dataset], **row} for row in cka_rows(representations)]
columns = ["dataset", "split", "model_a", "model_b", "linear_cka", "debiased_cka", "n"]
pd.DataFrame(rows, columns=columns).to_csv(snakemake.output[0], index=False)
