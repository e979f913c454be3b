"""The assets stage: tokenizer and data files as pinned, content-addressed, offline-readable inputs.

- ``sources_of(config)``: what a validated config reads (a Hub repository at a revision, or a local path);
- ``fetch(sources)``: download with huggingface_hub's client into the cache (``cache``), resolving a
  branch or tag to its commit; ``pin_offline(sources)``: the same pins from the cache, no network;
- ``PinnedAsset.lock_entry()`` is what lock.json records, ``hash_entries`` what the bundle hash covers;
- ``cached_problems(lock["assets"])`` for check-bundle and train, ``training_paths`` for the launcher.

Importing this package needs neither torch nor network; huggingface_hub loads on the first Hub request.
"""

from primus.assets.cache import AssetCache, cache_root
from primus.assets.pin import (
    PinnedAsset,
    cached_problems,
    fetch,
    hash_entries,
    hash_entries_from_lock,
    pin_offline,
    pins_from_lock,
    sources_of,
    streams_from_hub,
    training_paths,
)
from primus.assets.sources import AssetSource, parse_source

__all__ = [
    "AssetCache",
    "AssetSource",
    "PinnedAsset",
    "cache_root",
    "cached_problems",
    "fetch",
    "hash_entries",
    "hash_entries_from_lock",
    "parse_source",
    "pin_offline",
    "pins_from_lock",
    "sources_of",
    "streams_from_hub",
    "training_paths",
]
