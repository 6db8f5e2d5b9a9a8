"""Beside Figure 3: clade support of the dendrogram and every pair's r with its bootstrap interval."""
import pandas as pd

from vlgen.jobs import start_job
from vlgen.report.plots_rsa import plot_stability

start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
plot_stability(pd.read_csv(snakemake.input.table), pd.read_csv(snakemake.input.clades),
               [snakemake.output.png, snakemake.output.pdf], params.models, params.families)
