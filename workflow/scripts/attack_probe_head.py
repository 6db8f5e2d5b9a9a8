"""A `paper_cached` probe on the attacked split's images that are NOT attacked (a split without train: ImageNet val)."""
from vlgen.attacks.selection import attacked_indices, held_out_indices
from vlgen.jobs import open_manifest, start_job
from vlgen.tasks.probe import fit_cached_probe, n_classes_of, save_probe

start_job(snakemake.log[0], snakemake.threads)
wc, params = snakemake.wildcards, snakemake.params
entry = open_manifest(snakemake.input.manifest)
labels = entry.labels
keep = held_out_indices(len(labels), attacked_indices(len(labels), params.n_images, params.selection_seed))
probe = fit_cached_probe("paper_cached", entry.load_features()[keep], labels[keep], n_classes_of(labels),
                         params.schedule, params.seed)
save_probe(snakemake.output[0], probe, preset="paper_cached", model=wc.model, dataset=wc.dataset,
           feature_key=entry.key, n_train=int(len(keep)), trained_on="images of the split that are not attacked")
