"""One error boundary for every entry point: a PrimusError is one message and an exit code, no traceback."""

from __future__ import annotations

import importlib

import pytest

from primus.errors import EXIT_INTERRUPTED, ConfigErrors, ConfigKeyError, LaunchError, cli_boundary

#: Every ``main`` a user or a tool starts (primus-cli, python -m ..., the torchrun worker).
ENTRY_POINTS = (
    "primus.cli",
    "primus.workflow",
    "primus.containers.__main__",
    "primus.backends.torchtitan.entry",
)


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_entry_point_main_is_wrapped_in_the_boundary(module):
    main = importlib.import_module(module).main
    assert getattr(main, "__wrapped__", None) is not None, f"{module}.main lacks @cli_boundary"
    assert main.__code__ is cli_boundary(lambda: 0).__code__


def raising(error: BaseException):
    @cli_boundary
    def main() -> int:
        raise error

    return main


@pytest.mark.parametrize(
    ("error", "code", "stderr"),
    [
        (ConfigKeyError("unknown key 'x'", key="x", hint="did you mean: y?"), 2,
         "error: x: unknown key 'x'\n  hint: did you mean: y?\n"),
        (LaunchError("torchrun exited with code 1"), 1, "error: torchrun exited with code 1\n"),
        (ConfigErrors([ConfigKeyError("a", key="k1"), ConfigKeyError("b", key="k2")]), 2,
         "k1: a\nk2: b\n2 problem(s); nothing was written\n"),
        (KeyboardInterrupt(), EXIT_INTERRUPTED, "interrupted\n"),
    ],
    ids=["one-config-error", "runtime-error", "several-problems", "ctrl-c"],
)  # fmt: skip
def test_the_boundary_prints_one_message_and_returns_the_exit_code(error, code, stderr, capsys):
    assert raising(error)() == code
    assert capsys.readouterr().err == stderr


def test_a_bug_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError):
        raising(ZeroDivisionError("bug"))()
