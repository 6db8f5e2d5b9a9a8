"""figures/controlled.png: each recipe's mean ± standard error over training seeds, per task and view."""
import pandas as pd

from vlgen.jobs import start_job
from vlgen.report.plots_controlled import plot_controlled

start_job(snakemake.log[0], snakemake.threads)
plot_controlled(pd.read_csv(snakemake.input[0]), [snakemake.output.png, snakemake.output.pdf])
