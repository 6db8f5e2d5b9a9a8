"""Write results/{run}/features.csv: which store entries this run uses (model, dataset, split, key)."""
import json

import pandas as pd

from vlgen.jobs import start_job

start_job(snakemake.log[0], snakemake.threads)
rows = []
for row, manifest in zip(snakemake.params.rows, snakemake.input):
    meta = json.loads(open(manifest).read())
    assert meta["key"] == row["key"], f"{manifest} holds key {meta['key']}, expected {row['key']}"
    rows.append({**row, "n": meta["n"], "dim": meta["dim"]})
pd.DataFrame(rows, columns=["model", "dataset", "split", "key", "n", "dim"]).to_csv(snakemake.output[0], index=False)
