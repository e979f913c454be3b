"""Each piece the structure review found repeated exists once, and stays so.

- every exception class lives in primus/errors.py (one hierarchy, names ending in ``Error``);
- every "did you mean" goes through ``primus.errors.suggest`` (difflib is imported there alone);
- the names of a bundle's files are written only in primus/bundle/layout.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "primus"
ERRORS = PACKAGE / "errors.py"
LAYOUT = PACKAGE / "bundle" / "layout.py"
#: File names of a run bundle (its frozen files, train/ and verify/ outputs).
BUNDLE_NAMES = {
    "resolved.yaml",
    "job_config.toml",
    "provenance.json",
    "lock.json",
    "manifest.json",
    "metrics.jsonl",
    "train.log",
    "DONE",
    "verdict.json",
    "slurm_job_id",
}


def modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(PACKAGE.rglob("*.py"))]


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', 0)}"


def test_exception_classes_live_in_primus_errors_and_end_in_error():
    outside, misnamed = [], []
    for path, tree in modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {getattr(base, "id", getattr(base, "attr", "")) for base in node.bases}
            if any(name.endswith(("Error", "Exception", "Errors")) for name in bases):
                if path != ERRORS:
                    outside.append(where(path, node))
                elif not node.name.endswith(("Error", "Errors")):
                    misnamed.append(node.name)
    assert outside == [], "define exceptions in primus/errors.py"
    assert misnamed == []


def test_difflib_is_used_by_the_one_suggestion_helper():
    users = [
        where(path, node)
        for path, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        and "difflib" in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module])
        and path != ERRORS
    ]
    assert users == [], "use primus.errors.suggest / did_you_mean"


def test_bundle_file_names_are_written_only_in_the_layout_module():
    literals = [
        f"{where(path, node)} {node.value!r}"
        for path, tree in modules()
        if path != LAYOUT
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in BUNDLE_NAMES
    ]
    assert literals == [], "take the name from primus.bundle.layout"
