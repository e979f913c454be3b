# Reproducible TorchTitan pre-training: validate -> (container) -> assets -> freeze -> train -> verify.
# Usage: snakemake train --config exp=NAME_OR_PATH   (the target comes before --config)
# The stages live in the primus package; every rule calls primus-cli. Paths are planned by primus.workflow.
from snakemake.utils import min_version

min_version("9.0")


# Relative to the workflow, not the working directory, so --directory elsewhere works.
configfile: f"{workflow.basedir}/config/config.yaml"


# The landing page of `snakemake --report`: the verdicts first, then what the workflow does.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/container.smk"
include: "workflow/rules/assets.smk"
include: "workflow/rules/resolve.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/verify.smk"
include: "workflow/rules/sweep.smk"


# Only training goes to a cluster scheduler; the other stages take seconds on the submit host.
localrules:
    validate_experiment,
    build_container,
    fetch_assets,
    resolve_experiment,
    verify_run,
    report_sweep,


wildcard_constraints:
    exp_name=r"[^/]+",
    key=r"[0-9a-f]+",
    bundle_hash=r"[0-9a-f]+",
    variant=r"[a-z]+",
    sweep_name=r"[^/]+",


onsuccess:
    print_verdict()


onerror:
    print_failure_summary()


# Default target: train the experiment (every point of sweep=) and verify it; ends with the verdict.
rule train:
    default_target: True
    input:
        done=every_run(train_done),
        verdict=every_run(verdict_file),


# Every point of --config sweep=PATH through its own chain, then the sweep report.
rule sweep:
    input:
        verdict=every_run(verdict_file),
        report=sweep_report_files,


# Verify (again) the trained experiment.
rule verify:
    input:
        verdict=every_run(verdict_file),


# Freeze the experiment into its run bundle.
rule resolve:
    input:
        frozen=every_run(frozen_stamp),


# Validate the experiment (with preflight for the host runtime).
rule validate:
    input:
        stamp=every_run(validated_stamp),


# Build the training image and record its ID.
rule container:
    input:
        image_id=image_id_file(),
