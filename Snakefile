# vlgen: does language help generalization in vision models? (Devillers et al., CoNLL 2021)
# A table of contents: configuration, validation, one include per stage, the default target.
from snakemake.utils import min_version

min_version("9.11")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/training.smk"  # after weights: it wires trained weights into extraction
include: "workflow/rules/features.smk"
include: "workflow/rules/fewshot.smk"
include: "workflow/rules/clustering.smk"
include: "workflow/rules/transfer.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/rsa.smk"
include: "workflow/rules/cka.smk"
include: "workflow/rules/attacks.smk"
include: "workflow/rules/controlled.smk"
include: "workflow/rules/report.smk"  # last: it collects the tables of the stages above


rule all:
    input:
        rules.features.input,
        rules.fewshot.input,
        rules.clustering.input,
        rules.transfer.input,
        rules.figures.input,
        rules.rsa.input,
        rules.cka.input,
        rules.attacks.input,
        rules.controlled.input,
        rules.summaries.input,
    default_target: True
