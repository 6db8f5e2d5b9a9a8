"""One attack job: PGD on one model through one head, one norm, one mode; per-image outcomes (.npz)."""
from pathlib import Path

import torch

from vlgen.attacks.classifier import HeadInputs
from vlgen.attacks.job import attack_job
from vlgen.jobs import open_manifest, start_job

start_job(snakemake.log[0], snakemake.threads)
torch.set_num_threads(snakemake.threads)
wc, params = snakemake.wildcards, snakemake.params
entry = open_manifest(snakemake.input.manifest)
path = lambda value: Path(value) if value else None  # noqa: E731
inputs = HeadInputs(payload={**entry.payload["model"], **params.classifier}, weights=path(params.weights),
                    classifier_weights=path(params.classifier_weights), probe=path(snakemake.input.get("probe")),
                    device=snakemake.resources.device)
attack_job(model=wc.model, dataset=wc.dataset, head=wc.head, norm=wc.norm, mode=wc.mode, settings=params.settings,
           feature_payload=entry.payload, feature_key=entry.key, dataset_root=params.root,
           output=snakemake.output[0], inputs=inputs, batch_size=snakemake.resources.attack_batch)
