"""tables/controlled.csv: every trained model's view scores and RDM correlation with the text model."""
import pandas as pd

from vlgen.jobs import start_job
from vlgen.report.controlled import controlled_table

start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
scores = pd.concat([pd.read_csv(path) for path in snakemake.input.scores], ignore_index=True)
rsa = pd.read_csv(snakemake.input.rsa[0]) if snakemake.input.rsa else None
table = controlled_table(scores, {m: tuple(identity) for m, identity in params.identities.items()}, rsa,
                         params.text_model)
table.to_csv(snakemake.output[0], index=False)
