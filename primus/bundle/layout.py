"""Names of the files and folders of a run bundle (``runs/<exp_name>/<hash>/``): one place for all of them."""

from __future__ import annotations

RESOLVED = "resolved.yaml"
JOB_TOML = "job_config.toml"
PROVENANCE = "provenance.json"
LOCK = "lock.json"
MANIFEST = "manifest.json"

#: Files whose digests the manifest records, in the order they are written.
FROZEN_FILES = (RESOLVED, JOB_TOML, PROVENANCE, LOCK)

#: Folders later stages write into a bundle; they are outputs, never part of the frozen content.
OUTPUT_DIRS = ("train", "verify")

#: Version of the bundle layout and of the hash recipe. Bumping it gives every run a new hash.
BUNDLE_FORMAT = 1

#: Hex characters of the sha256 used as the bundle folder name (64 bits: collisions are not a concern
#: for the few thousand runs of one experiment, and paths stay readable).
HASH_LENGTH = 16

#: Prefix of the temporary folders a freeze writes before renaming; never a valid hash.
TMP_PREFIX = ".freeze-"
