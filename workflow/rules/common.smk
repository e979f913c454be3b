# Shared set-up: validate the workflow config against its schema, then plan the run with primus.workflow
# (experiment lookup, load + validate without preflight, bundle hash). Nothing is written at parse time.
import json
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

from primus.errors import PrimusError, report_error
from primus.workflow import (
    plan_run,
    primus_cli_command,
    runtime_train_args,
    train_shell,
)

validate(config, schema="../schemas/config.schema.yaml")

try:
    PLAN = plan_run(config, root=Path(workflow.basedir))
except PrimusError as error:
    # One clear message and exit code 2 instead of Snakemake's traceback of the Snakefile.
    sys.exit(report_error(error))

RUNS = str(PLAN.runs_dir)
WORK = f"{RUNS}/.workflow/{{exp_name}}"
BUNDLE = f"{RUNS}/{{exp_name}}/{{bundle_hash}}"
CLI = primus_cli_command(config["primus_cli"])
EXP_ARGS = shlex.join(
    [*(["--strict"] if PLAN.strict else []), str(PLAN.experiment), *PLAN.overrides]
)


def image_id_file():
    """The file the container stage writes the image ID into."""
    return f"{PLAN.workdir}/image_id"


def validated_stamp():
    """The validation stamp of this experiment (named by the config-only hash)."""
    return f"{PLAN.workdir}/validated"


def bundle_dir():
    """The run bundle; under the container runtime it is known only once the image is built."""
    if PLAN.bundle is not None:
        return str(PLAN.bundle)
    image_id = checkpoints.build_container.get(
        exp_name=PLAN.exp_name, key=PLAN.key
    ).output.image_id
    return str(
        PLAN.bundle_for_image(Path(image_id).read_text(encoding="utf-8").strip())
    )


def runs_dir_of(stamp):
    """The runs folder of a stamp under <runs>/.workflow/<exp_name>/<hash>/."""
    return Path(stamp).parents[3]


def frozen_stamp():
    """The stamp the freeze rule writes (its content is the bundle path)."""
    bundle = Path(bundle_dir())
    return f"{RUNS}/.workflow/{bundle.parent.name}/{bundle.name}/frozen"


def train_done():
    return f"{bundle_dir()}/train/DONE"


def verdict_file():
    return f"{bundle_dir()}/verify/verdict.json"


def print_verdict():
    """One line with the verdict of this run, when it exists."""
    if PLAN.bundle is None:
        return
    verdict = Path(PLAN.bundle) / "verify" / "verdict.json"
    if verdict.is_file():
        passed = json.loads(verdict.read_text(encoding="utf-8")).get("passed")
        print(f"verdict: {'PASS' if passed else 'FAIL'}  ({verdict})", file=sys.stderr)


def print_failure_summary():
    """Where to look after a failure, and what was (not) written."""
    if PLAN.bundle is None:
        bundle = "not yet known (the container image comes first)"
    elif (Path(PLAN.bundle) / "manifest.json").is_file():
        bundle = f"{PLAN.bundle} (frozen; train/ and verify/ hold their logs)"
    else:
        bundle = f"{PLAN.bundle} (not written)"
    print(
        f"primus workflow failed for {PLAN.experiment} (exp_name {PLAN.exp_name})\n"
        f"  bundle: {bundle}\n"
        f"  logs of validate/container/resolve: {PLAN.workdir}/\n"
        "  after an interrupted run: snakemake --unlock, then rerun (training resumes from its checkpoint)",
        file=sys.stderr,
    )
