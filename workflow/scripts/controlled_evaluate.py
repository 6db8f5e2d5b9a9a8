"""Few-shot and the default probe of one trained model on every label view of one dataset (store entries reused)."""
from pathlib import Path

import pandas as pd

from vlgen.data.registry import get_reader
from vlgen.jobs import open_manifest, start_job
from vlgen.tasks.views import CLASS_VIEW, SCORE_COLUMNS, view_labels, view_rows

start_job(snakemake.log[0], snakemake.threads)
params, wc = snakemake.params, snakemake.wildcards
root, reader = Path(params.root), get_reader(params.dataset["reader"])
entries = {split: open_manifest(snakemake.input[split]) for split in ("train", "test")}
features = {split: entry.load_features() for split, entry in entries.items()}
other_views = [view for view in params.views if view != CLASS_VIEW]
views = {split: reader.label_views(params.dataset, root, split) for split in entries} if other_views else {}
ids = {split: reader.load(params.dataset, root, split).sample_ids for split in views}
tables = []
for view in params.views:
    labels = {split: entry.labels if view == CLASS_VIEW else
              view_labels(entry.sample_ids, ids[split], views[split][view].labels, view)
              for split, entry in entries.items()}
    rows = view_rows(features["train"], labels["train"], features["test"], labels["test"], fewshot=params.fewshot,
                     transfer=params.transfer, seed=params.seed, dataset=wc.dataset)
    tables.append(pd.DataFrame(rows).assign(model=wc.model, dataset=wc.dataset, view=view,
                                            feature_key=entries["test"].key))
pd.concat(tables)[SCORE_COLUMNS].to_csv(snakemake.output[0], index=False)
