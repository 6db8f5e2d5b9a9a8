"""summary.md and claims.md of a run, and their HTML renderings for the report."""
from pathlib import Path

import pandas as pd

from vlgen.report.claims import CKA_CLAIMS, build_claims, check_claims
from vlgen.jobs import start_job
from vlgen.report.summary import build_summary

start_job(snakemake.log[0], snakemake.threads)
params, output = snakemake.params, snakemake.output
tables = {name: pd.read_csv(path) for name, path in snakemake.input.items()}
settings = {task: section for task, section in params.settings.items() if section}
summary = build_summary(tables, run=params.run, families=params.families, datasets=params.datasets,
                        settings=settings, untrained=params.untrained, notes=params.notes)
verdicts = check_claims(tables, params.families, untrained=params.untrained,
                        rsa_datasets=params.rsa_claims_datasets, attack_heads=params.attack_claims_heads)
notes = [params.notes["transfer"],
         f"RSA claims are judged on: {', '.join(params.rsa_claims_datasets) or 'no dataset'} (rsa.claims_datasets)."]
if params.untrained:
    notes.append("Untrained models (random initialisation) are left out of every comparison: "
                 + ", ".join(params.untrained) + ".")
cka_verdicts = check_claims(tables, params.families, untrained=params.untrained,
                            rsa_datasets=params.rsa_claims_datasets, claims=CKA_CLAIMS) if "cka" in tables else []
claims = build_claims(verdicts, run=params.run, notes=notes, cka_verdicts=cka_verdicts)
for doc, markdown, html in ((summary, output.summary, output.summary_html),
                            (claims, output.claims, output.claims_html)):
    Path(markdown).write_text(doc.to_markdown())
    Path(html).write_text(doc.to_html())
