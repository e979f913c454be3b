"""The committed schema.json / registry.json are exactly what the installed TorchTitan produces.

A TorchTitan upgrade (a new field, a changed default, a new flavor) makes this test fail until
``python -m primus.backends.torchtitan.snapshot`` is run and the new snapshot committed.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torchtitan")

from primus.backends.torchtitan import snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def regenerated() -> dict[str, str]:
    return {
        "schema.json": snapshot.dumps(snapshot.build_schema()),
        "registry.json": snapshot.dumps(snapshot.build_registry()),
    }


@pytest.mark.parametrize("name", ["schema.json", "registry.json"])
def test_committed_snapshot_matches_installed_torchtitan(regenerated: dict[str, str], name: str) -> None:
    path = {"schema.json": snapshot.SCHEMA_PATH, "registry.json": snapshot.REGISTRY_PATH}[name]
    committed = path.read_text(encoding="utf-8")
    assert committed == regenerated[name], (
        f"{name} is stale: run python -m primus.backends.torchtitan.snapshot"
    )


def test_schema_covers_every_jobconfig_field(regenerated: dict[str, str]) -> None:
    import dataclasses

    from torchtitan.config.job_config import JobConfig

    def leaves(cls: type, prefix: str = "") -> set[str]:
        found: set[str] = set()
        for field in dataclasses.fields(cls):
            key = f"{prefix}{field.name}"
            found |= leaves(field.type, f"{key}.") if dataclasses.is_dataclass(field.type) else {key}
        return found

    fields = json.loads(regenerated["schema.json"])["fields"]
    assert leaves(JobConfig) <= set(fields)
    assert {"training.mock_data", "primus_turbo.use_turbo_attention"} <= set(fields)


def test_registry_has_every_importable_family_with_parameter_counts(regenerated: dict[str, str]) -> None:
    registry = json.loads(regenerated["registry.json"])
    assert set(registry["families"]) == {"deepseek_v3", "gpt_oss", "llama3", "llama3_ft", "llama4", "qwen3"}
    assert registry["families"]["llama3"]["flavors"]["debugmodel"]["params"] == 6_163_712
    assert "primus_turbo" in registry["converters"]
    assert "quantize.linear.float8" in registry["converters"]
