"""results/{run}/tables/attacks.csv from every attack job's per-image outcomes."""
from vlgen.attacks.outcomes import attack_table
from vlgen.jobs import start_job

start_job(snakemake.log[0], snakemake.threads)
attack_table(list(snakemake.input)).to_csv(snakemake.output[0], index=False)
