"""Shell completion through argcomplete: ``primus-cli completion SHELL``, answering a completion request,
and the completer of CONFIG (experiment names of the platform, YAML files)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from primus.cli.common import examples_root


def cmd_completion(args: argparse.Namespace) -> int:
    """Print the shell code that completes primus-cli (argcomplete)."""
    try:
        import argcomplete
    except ImportError:
        from primus.errors import LaunchError

        raise LaunchError(
            "shell completion needs argcomplete, which is not installed",
            hint="pip install -c constraints.txt argcomplete",
        ) from None
    print(argcomplete.shellcode(["primus-cli", "./primus-cli"], shell=args.shell), end="")
    return 0


def complete_experiments(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Experiment names of the chosen platform, and YAML files, for shell completion of CONFIG."""
    from primus.workflow import DEFAULT_PLATFORM, examples_for_platform

    if "/" not in prefix and not prefix.startswith("."):
        platform = getattr(parsed_args, "platform", None) or DEFAULT_PLATFORM
        names = list(examples_for_platform(platform, root=examples_root()))
    else:
        head = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
        folder = Path(head or ".")
        entries = sorted(folder.iterdir()) if folder.is_dir() else []
        names = [
            head + entry.name + ("/" if entry.is_dir() else "")
            for entry in entries
            if entry.is_dir() or entry.suffix in (".yaml", ".yml")
        ]
    return [name for name in names if name.startswith(prefix)]


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer a shell completion request (argcomplete sets _ARGCOMPLETE) and exit; else do nothing."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)
