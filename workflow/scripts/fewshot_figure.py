"""Figure: few-shot accuracy vs shots, one line per model, one panel per dataset."""
import pandas as pd

from vlgen.jobs import start_job
from vlgen.report.plots import plot_fewshot

start_job(snakemake.log[0], snakemake.threads)
table = pd.read_csv(snakemake.input[0])
table["family"] = table["model"].map(snakemake.params.families)
plot_fewshot(table, snakemake.output[0], ddof=snakemake.params.ddof)
