# Shared set-up: validate the workflow config against its schema, then plan the runs with primus.workflow:
# one for exp=, one per point for sweep= (a single run is a sweep of one point). Rules look their run up
# by wildcards. Nothing is written at parse time.
import json
import sys
from pathlib import Path

from snakemake.utils import validate

from primus.bundle import layout
from primus.containers.paths import read_image_id
from primus.errors import PrimusError, report_error
from primus.workflow_config import check as check_workflow_config, load_schema
from primus.workflow import (
    plan_workflow,
    observability_train_args,
    primus_cli_command,
    report_labels,
    resource_lookups as _resource_lookups,
    runtime_train_args,
    shield_from_slurm_warning,
    sweep_needs_a_file,
    sweep_report_dir,
    train_shell,
    workflow_summary,
)

SCHEMA = str(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
try:
    # Our messages (key, did-you-mean, expected type); --config slurm='{nodes: 2}' numbers become numbers.
    check_workflow_config(config, load_schema(SCHEMA))
except PrimusError as error:
    sys.exit(report_error(error))
validate(config, schema=SCHEMA)  # fills the schema's defaults
# Inside the SLURM train job: SIGUSR1 (the time-limit warning) is for training, not for Snakemake.
shield_from_slurm_warning()

try:
    PLAN = plan_workflow(config, root=Path(workflow.basedir))
except PrimusError as error:
    # One clear message and exit code 2 instead of Snakemake's traceback of the Snakefile.
    sys.exit(report_error(error))

RUNS = str(PLAN.runs_dir)
WORK = f"{RUNS}/.workflow/{{exp_name}}"
BUNDLE = f"{RUNS}/{{exp_name}}/{{bundle_hash}}"
IMAGES = f"{RUNS}/.workflow/.images"
CLI = primus_cli_command(config["primus_cli"])


def image_id_file():
    """The file the container stage writes the image ID into (one image for every run)."""
    return f"{IMAGES}/{PLAN.container_variant}/image_id"


def built_image_id():
    """The image ID once the container checkpoint has run (Snakemake re-plans after it)."""
    output = checkpoints.build_container.get(variant=PLAN.container_variant).output
    return read_image_id(output.image_id, variant=PLAN.container_variant)


def run_of_key(wc):
    """The run a bookkeeping rule (validate) is for, from its wildcards."""
    return PLAN.run(wc.exp_name, wc.key)


def run_of_bundle(wc):
    """The run a bundle rule (resolve, train) is for, from its wildcards."""
    image = built_image_id() if PLAN.runtime == "container" else None
    return PLAN.for_bundle(wc.exp_name, wc.bundle_hash, image)


def validated_stamp(run):
    """The validation stamp of a run (named by the config-only hash)."""
    return f"{run.workdir}/validated"


def bundle_dir(run):
    """The run bundle; known once the image is built (container runtime) and the assets it reads are
    fetched (their pins are part of the hash)."""
    if run.bundle is not None:
        return str(run.bundle)
    image = built_image_id() if PLAN.runtime == "container" else None
    if run.assets:
        checkpoints.fetch_assets.get(exp_name=run.exp_name, key=run.key)
    return str(run.bundle_for_image(image))


def assets_record(run):
    """The pins the fetch_assets rule writes, for a run that reads a tokenizer or data."""
    return f"{run.workdir}/assets.json" if run.assets else []


def frozen_stamp(run):
    """The stamp the freeze rule writes (its content is the bundle path)."""
    bundle = Path(bundle_dir(run))
    return f"{RUNS}/.workflow/{bundle.parent.name}/{bundle.name}/frozen"


def runs_dir_of(stamp):
    """The runs folder of a stamp under <runs>/.workflow/<exp_name>/<hash>/."""
    return Path(stamp).parents[3]


def train_done(run):
    return f"{bundle_dir(run)}/{layout.DONE_PATH}"


def verdict_file(run):
    return f"{bundle_dir(run)}/{layout.VERDICT_PATH}"


def every_run(files):
    """An input function: ``files(run)`` for every distinct planned run."""
    return lambda wc: [files(run) for run in PLAN.distinct_runs]


def resource_lookups(lookup):
    """SLURM resources of the train rule, looked up per run by wildcards."""
    return _resource_lookups(PLAN, lookup)


SWEEP_REPORT = sweep_report_dir(PLAN)


def sweep_report_files(wc):
    """The sweep report's files; the sweep target without --config sweep=PATH stops with exit code 2."""
    if SWEEP_REPORT is None:
        sys.exit(report_error(sweep_needs_a_file()))
    return [
        f"{SWEEP_REPORT}/{name}" for name in ("report.md", "report.html", "loss.png")
    ]


def print_verdict():
    """The verdict of every run (a table of points for a sweep)."""
    print(workflow_summary(PLAN, failed=False), file=sys.stderr)


def print_failure_summary():
    """Which runs failed, where to look, and what was (not) written; a sweep's report is written anyway
    (Snakemake skips the report rule once a point failed, and the report is where a user compares).
    """
    if PLAN.sweep is not None:
        from primus.sweep.report import write_report_quietly

        write_report_quietly(PLAN.sweep, SWEEP_REPORT)
    print(workflow_summary(PLAN, failed=True), file=sys.stderr)
