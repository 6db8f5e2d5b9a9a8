"""Few-shot accuracy of one model on one dataset, every preset, shot count and trial."""
import pandas as pd

from vlgen.jobs import open_manifest, start_job
from vlgen.tasks.fewshot import fewshot_trials

start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params.fewshot
train = open_manifest(snakemake.input.train)
test = open_manifest(snakemake.input.test)
rows = fewshot_trials(train.load_features(), train.labels, test.load_features(), test.labels,
                      shots=params["shots"], trials=params["trials"], seed=params["seed"],
                      dataset=snakemake.wildcards.dataset, presets=params["presets"])
table = pd.DataFrame(rows)
table.insert(0, "dataset", snakemake.wildcards.dataset)
table.insert(0, "model", snakemake.wildcards.model)
table["feature_key"] = test.key
table.to_csv(snakemake.output[0], index=False)
