"""RDM of one model on one dataset's classes, from its cached features (PROTOCOL.md, RSA)."""
from pathlib import Path

from vlgen.data import get_reader
from vlgen.jobs import open_manifest, start_job
from vlgen.tasks.rsa import RdmMethod, model_rdm, save_rdm

start_job(snakemake.log[0], snakemake.threads)
method = RdmMethod(**snakemake.params.method)
entry = open_manifest(snakemake.input[0])
dataset = snakemake.params.dataset
# Class names in label order from the dataset's reader and the run's catalog entry (an image model's key
# leaves them out): the same list a text model encoded, so every model's RDM rows can be checked to mean
# the same classes.
classes = get_reader(dataset["reader"]).class_names(dataset, Path(snakemake.params.root))
rdm = model_rdm(entry.load_features(), entry.labels, len(classes), method)
save_rdm(snakemake.output[0], rdm, classes, method, feature_key=entry.key, split=entry.payload["split"])
