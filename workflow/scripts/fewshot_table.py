"""Concatenate per-(model, dataset) few-shot results; summarise over trials."""
import pandas as pd

from vlgen.jobs import start_job
from vlgen.tasks.fewshot import summarise

start_job(snakemake.log[0], snakemake.threads)
trials = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
columns = ["model", "dataset", "preset", "shots", "trial", "accuracy", "feature_key"]
trials[columns].to_csv(snakemake.output.trials, index=False)
summary = pd.DataFrame(summarise(trials.to_dict("records"), ddof=snakemake.params.ddof))
summary.to_csv(snakemake.output.summary, index=False)
