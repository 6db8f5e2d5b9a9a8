# vlgen: does language help generalization in vision models? (Devillers et al., CoNLL 2021)
# A table of contents: configuration, validation, one include per stage, the default target.
from snakemake.utils import min_version

min_version("9.11")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/fewshot.smk"


rule all:
    input:
        rules.features.input,
        rules.fewshot.input,
    default_target: True
