"""tables/controlled.csv: every trained model's view scores and RDM correlation with the text model."""
import pandas as pd

from vlgen.jobs import start_job
from vlgen.report.controlled import battery_class_scores, controlled_table

start_job(snakemake.log[0], snakemake.threads)
params, inputs = snakemake.params, snakemake.input
frames = [pd.read_csv(path) for path in inputs.scores]
if inputs.class_fewshot:
    frames.append(battery_class_scores(pd.concat(map(pd.read_csv, inputs.class_fewshot), ignore_index=True),
                                       pd.concat(map(pd.read_csv, inputs.class_transfer), ignore_index=True)))
scores = pd.concat(frames, ignore_index=True)
rsa = pd.read_csv(snakemake.input.rsa[0]) if snakemake.input.rsa else None
table = controlled_table(scores, {m: tuple(identity) for m, identity in params.identities.items()}, rsa,
                         params.text_model)
table.to_csv(snakemake.output[0], index=False)
