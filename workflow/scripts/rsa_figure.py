"""Figure 3: dendrogram, t-SNE and r matrix of the models' RDMs, one row per RSA dataset."""
import pandas as pd

from vlgen.jobs import start_job
from vlgen.report.plots_rsa import plot_rsa

start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
plot_rsa(pd.read_csv(snakemake.input.table), [snakemake.output.png, snakemake.output.pdf], params.models,
         params.families, perplexity=params.settings["tsne_perplexity"], seed=params.settings["seed"],
         learning_rate=params.settings.get("tsne_learning_rate", "auto"))
