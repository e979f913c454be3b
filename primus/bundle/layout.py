"""Names of the files and folders of a run bundle (``runs/<exp_name>/<hash>/``): one place for all of them."""

from __future__ import annotations

RESOLVED = "resolved.yaml"
#: The job config TorchTitan 0.2.2 loads; a backend names its own (``Backend.job_config_file``).
JOB_TOML = "job_config.toml"
PROVENANCE = "provenance.json"
LOCK = "lock.json"
MANIFEST = "manifest.json"


def frozen_files(job_config: str = JOB_TOML) -> tuple[str, ...]:
    """Files whose digests the manifest records, in the order they are written (``job_config``: the
    backend's job-config file name)."""
    return (RESOLVED, job_config, PROVENANCE, LOCK)


#: The frozen files of a TorchTitan 0.2.2 bundle.
FROZEN_FILES = frozen_files()

#: Folders later stages write into a bundle; they are outputs, never part of the frozen content.
TRAIN_DIR = "train"
VERIFY_DIR = "verify"
OUTPUT_DIRS = (TRAIN_DIR, VERIFY_DIR)

# Inside train/ (written by the train stage; the metrics format is in docs/CONTRACTS.md).
METRICS = "metrics.jsonl"
TRAIN_LOG = "train.log"
#: Written last, when training completed: ``{"step", "steps", "device", "world_size"}``.
DONE = "DONE"
#: Written by rank 0 when a stop signal (SIGTERM, SIGUSR1) ended training early after a checkpoint:
#: ``{"step", "signal"}``; removed when training starts again.
PREEMPTED = "PREEMPTED"
#: Written by the train process when it receives a stop signal; every worker polls it at each step end.
STOP_REQUEST = ".stop-request"
#: The SLURM job that trained the bundle (written only inside a SLURM job).
SLURM_JOB_ID = "slurm_job_id"
#: The workflow's log of its train rule (beside train.log, which the train stage writes itself).
TRAIN_RULE_LOG = "train_model.log"

# Inside verify/ (written by the verify stage; the verdict last, so its presence means "verified").
VERDICT = "verdict.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
CAPTION = "caption.rst"
LOSS_PLOT = "loss.png"
VERIFY_FILES = (VERDICT, REPORT_MD, REPORT_HTML, CAPTION, LOSS_PLOT)
#: Prefix of the folder inside verify/ that ``verify --against OTHER`` writes (then OTHER's folder name).
AGAINST_PREFIX = "against-"
#: The workflow's log of its verify rule.
VERIFY_RULE_LOG = "verify_run.log"

#: Paths relative to the bundle folder, for rules and messages.
METRICS_PATH = f"{TRAIN_DIR}/{METRICS}"
TRAIN_LOG_PATH = f"{TRAIN_DIR}/{TRAIN_LOG}"
DONE_PATH = f"{TRAIN_DIR}/{DONE}"
VERDICT_PATH = f"{VERIFY_DIR}/{VERDICT}"

#: Version of the bundle layout and of the hash recipe. Bumping it gives every run a new hash.
BUNDLE_FORMAT = 1

#: Hex characters of the sha256 used as the bundle folder name (64 bits: collisions are not a concern
#: for the few thousand runs of one experiment, and paths stay readable).
HASH_LENGTH = 16

#: Prefix of the temporary folders a freeze writes before renaming; never a valid hash.
TMP_PREFIX = ".freeze-"
