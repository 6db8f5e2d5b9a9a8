"""Figure 1: per model, mean over datasets +- s.e. of each task; plus one figure per dataset."""
import pandas as pd

from vlgen.report.generalization import dataset_scores, grouped_by_factor, model_scores, panel_names
from vlgen.jobs import start_job
from vlgen.report.plots import plot_generalization

start_job(snakemake.log[0], snakemake.threads)
options = snakemake.params.figure1
families = snakemake.params.families
scores = dataset_scores(
    pd.read_csv(snakemake.input.fewshot), pd.read_csv(snakemake.input.clustering),
    pd.read_csv(snakemake.input.transfer),
    shots=options["shots"], fewshot_preset=options["fewshot_preset"], matching=options["matching"],
    transfer_preset=options["transfer_preset"])
scores.insert(1, "family", scores["model"].map(families))
scores.to_csv(snakemake.output.scores, index=False)
panels = panel_names(options["shots"])
ddof = options.get("ddof", 1)
means = model_scores(scores, ddof=ddof).assign(family=lambda t: t["model"].map(families))
presets = (f"presets: few-shot {options['fewshot_preset']}, clustering {options['matching']}, "
           f"transfer {options['transfer_preset']}")
plot_generalization(means, panels, [snakemake.output.png, snakemake.output.pdf], title=presets,
                    xlabel=f"accuracy: mean over datasets, +-1 standard error across datasets (ddof={ddof})")
for dataset, path in zip(snakemake.params.datasets, snakemake.output.per_dataset):
    rows = scores[scores["dataset"] == dataset].rename(columns={"value": "mean"})
    plot_generalization(rows, panels, [path], title=f"{dataset} ({presets})",
                        xlabel="accuracy (few-shot: +-1 s.e. over trials)")
for factor, path in zip(options.get("group_by", []), snakemake.output.by_factor):
    plot_generalization(grouped_by_factor(means, snakemake.params.factors, factor), panels, [path],
                        title=f"grouped by {factor} ({presets})",
                        xlabel=f"accuracy: mean over datasets, +-1 standard error across datasets (ddof={ddof})")
