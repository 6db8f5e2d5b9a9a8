"""Figure 2: untargeted attack success rate vs epsilon, one curve per (model, head), L2 left, Linf right."""
import pandas as pd

from vlgen.jobs import start_job
from vlgen.report.plots_attacks import plot_attack_success

start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
plot_attack_success(pd.read_csv(snakemake.input[0]), params.families, [snakemake.output.png, snakemake.output.pdf],
                    column=params.column, title=params.title)
