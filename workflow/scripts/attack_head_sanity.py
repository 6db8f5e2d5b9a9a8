"""A native head's top-1 on every image of the split, against the catalog's expected_top1."""
import json
from pathlib import Path

import torch

from vlgen.attacks.classifier import HeadInputs, attacked_classifier
from vlgen.attacks.sanity import check_top1, split_top1
from vlgen.attacks.settings import GEOMETRY_FIELDS, NORMALISATION_FIELDS, concrete
from vlgen.extract import resolve_device
from vlgen.jobs import open_manifest, start_job

start_job(snakemake.log[0], snakemake.threads)
torch.set_num_threads(snakemake.threads)
wc, params = snakemake.wildcards, snakemake.params
entry = open_manifest(snakemake.input.manifest)
device = resolve_device(snakemake.resources.device)
inputs = HeadInputs(payload={**entry.payload["model"], **params.classifier},
                    classifier_weights=Path(params.classifier_weights), device=device)
classifier = attacked_classifier("native", inputs, **concrete(params.normalisation, NORMALISATION_FIELDS))
top1 = split_top1(classifier, entry.payload["dataset"], params.root, params.split,
                  concrete(params.geometry, GEOMETRY_FIELDS),
                  batch_size=snakemake.resources.attack_batch, workers=snakemake.resources.workers, device=device)
check_top1(top1, params.expected_top1, f"native head of {wc.model} on {wc.dataset} {params.split}")
Path(snakemake.output[0]).write_text(json.dumps({"model": wc.model, "dataset": wc.dataset, "top1": top1,
                                                 "expected_top1": params.expected_top1}) + "\n")
