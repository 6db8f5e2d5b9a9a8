"""CKA heatmaps of the image models (linear and debiased), ordered like Figure 3."""
import pandas as pd

from vlgen.jobs import start_job
from vlgen.report.plots_cka import plot_cka

start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
plot_cka(pd.read_csv(snakemake.input.cka), pd.read_csv(snakemake.input.rsa),
         [snakemake.output.png, snakemake.output.pdf], params.models, params.families)
