"""The fast lane's exclusions name real tests: a renamed file or test must not slip into `make test-fast`."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import INTEGRATION_MODULES, INTEGRATION_TESTS

TESTS = Path(__file__).resolve().parent


def test_every_integration_module_exists():
    assert sorted(m for m in INTEGRATION_MODULES if not (TESTS / f"{m}.py").is_file()) == []


def test_every_integration_test_exists():
    defined = {
        name
        for path in TESTS.glob("test_*.py")
        for name in re.findall(r"^def (test_\w+)", path.read_text(), re.M)
    }
    assert sorted(INTEGRATION_TESTS - defined) == []
