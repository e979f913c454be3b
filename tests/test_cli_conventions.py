"""primus-cli behaves like the command-line tools people already know.

- ``diff`` exits 1 when bundles differ (as diff(1) and ``git diff --exit-code``);
- output piped into ``head`` ends without a BrokenPipeError traceback;
- every ``--help`` ends with examples; ``direct --help`` shows the options after ``-- train pretrain``;
- ``--format json`` for validate (every problem with file, line, key, severity, message, hint), diff, verify;
- experiment names work wherever a CONFIG does; a missing relative path names the folder it was looked in;
- shell completion of subcommands, options and experiment names (argcomplete);
- every command a hint, an example or a README block names parses with the real parser.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from primus import cli
from primus.bundle import freeze
from primus.config import load_experiment
from primus.validate import validate
from primus.workflow import find_experiment

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"


def run_cli(*args: str, cwd: Path = REPO, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "primus.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        **kwargs,
    )


@pytest.fixture(scope="module")
def two_bundles(tmp_path_factory) -> tuple[Path, Path]:
    runs = tmp_path_factory.mktemp("runs")
    bundles = []
    for steps in ("10", "12"):
        resolved = load_experiment(CPU_DEFAULT, [f"--training.steps={steps}"])
        bundles.append(freeze(resolved, validate(resolved), runs_dir=runs))
    return bundles[0], bundles[1]


# ---------------------------------------------------------------------------------------------- exit codes


def test_diff_exits_1_when_bundles_differ_and_0_when_they_are_the_same(two_bundles, capsys):
    a, b = two_bundles
    assert cli.main(["diff", str(a), str(b)]) == 1
    assert "training.steps" in capsys.readouterr().out
    assert cli.main(["diff", str(a), str(a)]) == 0
    assert capsys.readouterr().out.strip() == "no differences"


def test_diff_format_json_lists_each_differing_key_with_both_sources(two_bundles, capsys):
    a, b = two_bundles
    assert cli.main(["diff", str(a), str(b), "--format", "json"]) == 1
    rows = {row["key"]: row for row in json.loads(capsys.readouterr().out)}
    steps = rows["training.steps"]
    assert (steps["a"], steps["b"], steps["a_set"], steps["b_set"]) == (10, 12, True, True)
    assert steps["a_source"] == steps["b_source"] == "<command line> (command line)"


@pytest.mark.parametrize(
    "command", ["models", "explain examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml training"]
)
def test_output_piped_into_head_ends_without_a_traceback(command):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        f"{shlex.quote(sys.executable)} -m primus.cli {command} | head -n 1; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.stderr == ""
    assert len(result.stdout.splitlines()) == 1
    assert result.returncode in (0, 141)  # 141: the writer saw the closed pipe, as coreutils report it


# ---------------------------------------------------------------------------------------------- help


def subcommands() -> list[str]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._group_actions[0])))
    return sorted(action.choices)


@pytest.mark.parametrize("command", subcommands())
def test_every_help_ends_with_examples(command, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main([command, "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "examples:\n  primus-cli " in out


def test_direct_help_shows_the_options_of_train_pretrain(capsys):
    with pytest.raises(SystemExit):
        cli.main(["direct", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: primus-cli direct [--log_file PATH] [--env KEY=VALUE ...] [--dry-run] -- ")
    assert "-- train pretrain --config CONFIG" in out
    assert "options after `-- train pretrain`:\n  -h, --help" in out
    for option in (
        "--config CONFIG",
        "--dry-run",
        "--platform",
        "--runs-dir",
        "--image-id-file",
        "--log_file",
    ):
        assert option in out
    assert "rest" not in out


# ---------------------------------------------------------------------------------------------- validate


def test_validate_format_json_gives_every_problem_as_data(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(CPU_DEFAULT.read_text(encoding="utf-8").replace("steps: 50", "steps: fifty"), "utf-8")
    assert "fifty" in bad.read_text(encoding="utf-8")
    code = cli.main(["validate", str(CPU_DEFAULT), str(bad), "--format", "json"])
    assert code == 2
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    good, wrong = report["files"]
    assert (good["valid"], good["problems"]) == (True, [])
    [problem] = wrong["problems"]
    assert set(problem) == {"file", "line", "key", "severity", "message", "hint"}
    assert problem["key"] == "training.steps"
    assert problem["file"].endswith("bad.yaml") and isinstance(problem["line"], int)
    assert problem["severity"] == "error"


def test_validate_format_json_gives_warnings_with_their_severity(capsys):
    assert cli.main(["validate", "qwen3_8B", "--format", "json"]) == 0
    (file,) = json.loads(capsys.readouterr().out)["files"]
    assert file["valid"] is True
    assert file["problems"] and {p["severity"] for p in file["problems"]} == {"warning"}


def test_validate_accepts_the_experiment_names_the_workflow_looks_up(capsys):
    assert cli.main(["validate", "qwen3_8B"]) == 0
    assert "examples/torchtitan/configs/MI300X/qwen3_8B-BF16-pretrain.yaml" in capsys.readouterr().out
    assert cli.main(["validate", "llama3_debugmodel", "--platform", "CPU"]) == 0


def test_an_ambiguous_experiment_name_lists_the_candidates(capsys):
    assert cli.main(["validate", "llama3.1_8B"]) == 2
    err = capsys.readouterr().err
    assert "llama3.1_8B-BF16-pretrain" in err and "llama3.1_8B-FP8-pretrain" in err


def test_a_missing_relative_path_says_which_folder_it_was_looked_in(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", "configs/missing.yaml"]) == 2
    assert f"experiment file does not exist (looked for it in {tmp_path})" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- direct


def test_direct_prints_its_header_before_a_preflight_stop(tmp_path):
    # 8 B parameters do not fit this CPU host: preflight stops the run, after the header.
    result = run_cli(
        "direct", "--", "train", "pretrain", "--config", "qwen3_8B", "--runs-dir", str(tmp_path / "runs")
    )
    assert result.returncode == 2, result.stderr
    for line in (
        "framework:        torchtitan",
        "model config:     qwen3_8B.yaml",
        "job.description:",
        "hf_assets_path:   Qwen/Qwen3-8B",
    ):
        assert line in result.stdout
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------------------------- completion


def complete(line: str, tmp_path: Path) -> list[str]:
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "COMP_TYPE": "9",
    }
    subprocess.run([sys.executable, "-m", "primus.cli"], cwd=REPO, env=env, check=True, timeout=60)
    return out.read_text(encoding="utf-8").split("\n")


def test_completion_offers_subcommands_options_and_experiment_names(tmp_path):
    assert {"validate", "verify"} <= set(complete("primus-cli v", tmp_path))
    assert "--preflight" in {word.strip() for word in complete("primus-cli validate --pre", tmp_path)}
    names = {word.strip() for word in complete("primus-cli validate qwen3_8", tmp_path)}
    assert names == {"qwen3_8B-BF16-pretrain"}
    cpu = {word.strip() for word in complete("primus-cli validate --platform CPU llama3_d", tmp_path)}
    assert "llama3_debugmodel-pretrain" in cpu


def test_completion_prints_the_shell_code(capsys):
    assert cli.main(["completion", "bash"]) == 0
    assert "complete " in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- hints


_END = re.compile(r"[`),;|#]| \(| then | or | > |\.$")


def _commands_in(text: str) -> list[str]:
    commands = []
    for match in re.finditer(r"(?:\./)?primus-cli (?=[a-z-])", text):
        rest = text[match.end() :]
        end = _END.search(rest)
        commands.append(rest[: end.start() if end else len(rest)].strip())
    return commands


#: What an f-string's {value} becomes; in front of it an option with choices takes its first choice.
PLACEHOLDER = "VALUE"


def _string_text(node: ast.AST) -> str:
    """The text of a str constant, f-string or concatenation, with each {placeholder} as X."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_string_text(v) if isinstance(v, ast.Constant) else PLACEHOLDER for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _string_text(node.left) + _string_text(node.right)
    return ""


def named_commands() -> list[tuple[str, str]]:
    """(where, command) for every primus-cli command in a hint, an example, README.md or docs/."""
    found = []
    for path in sorted((REPO / "primus").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            texts = []
            if isinstance(node, ast.keyword) and node.arg == "hint":
                texts.append(_string_text(node.value))
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "EXAMPLES" for t in node.targets):
                texts += [line for value in node.value.values for line in _string_text(value).splitlines()]
            for text in texts:
                found += [(f"{path.relative_to(REPO)}:{node.lineno}", c) for c in _commands_in(text)]
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for lineno, line in enumerate(text.splitlines(), start=1):
            spans = re.findall(r"`((?:\./)?primus-cli [^`]+)`", line)
            if re.match(r"\s*(?:\./)?primus-cli ", line):
                spans.append(line.strip())
            for span in spans:
                found += [(f"{path.relative_to(REPO)}:{lineno}", c) for c in _commands_in(span)]
    return found


def _argv(command: str) -> list[str]:
    words = shlex.split(command.replace("...", "X"))
    # usage notation: [--dry-run] is an optional word, [overrides] stands for any override
    return [w.strip("[]") for w in words if w not in ("[overrides]", "[options]")]


def _examples(parser) -> dict[str, str]:
    """Option string -> a value it accepts (its first choice, or 1 for a number), over every subcommand."""
    found = {}
    for action in parser._actions:
        if action.option_strings and (action.choices or action.type in (int, float)):
            value = str(next(iter(action.choices))) if action.choices else "1"
            found.update(dict.fromkeys(action.option_strings, value))
        if isinstance(action.choices, dict):
            for sub in action.choices.values():
                found.update(_examples(sub))
    return found


def _is_placeholder(word: str) -> bool:
    """``VALUE`` (an f-string's value) or usage notation in capitals such as ``N``."""
    return word == PLACEHOLDER or (word.isupper() and word.isalpha())


def _parse(argv: list[str]) -> None:
    parser = cli.build_parser()
    examples = _examples(parser)
    argv = [
        examples[argv[i - 1]] if i and argv[i - 1] in examples and _is_placeholder(word) else word
        for i, word in enumerate(argv)
    ]
    args, extra = parser.parse_known_args(argv)
    if extra:
        assert args.command in cli._TAKES_OVERRIDES, f"unrecognized arguments: {extra}"
    if args.command == "direct":
        words = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
        if words:
            assert words[:2] == ["train", "pretrain"], words
            cli.direct_parser().parse_known_args(words[2:])


def test_hints_examples_and_readme_name_commands_that_exist():
    commands = named_commands()
    assert len(commands) > 40  # the collector finds the hints (it would pass vacuously otherwise)
    assert any("train --bundle" in c for _, c in commands)
    broken = []
    for where, command in commands:
        try:
            _parse(_argv(command))
        except (SystemExit, AssertionError, ValueError) as error:
            if isinstance(error, SystemExit) and error.code == 0:
                continue  # --help
            broken.append(f"{where}: primus-cli {command}  ({error})")
    assert broken == []


def test_a_misspelled_command_in_a_hint_would_be_caught():
    with pytest.raises(SystemExit):
        _parse(_argv("freeze runs/EXP/HASH"))
    with pytest.raises(AssertionError):
        _parse(_argv("verify BUNDLE --againts OTHER"))


def test_readme_snakemake_experiment_names_resolve(monkeypatch):
    monkeypatch.chdir(REPO)
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if "snakemake" in line and "exp=" in line]
    assert lines
    for line in lines:
        for name in re.findall(r"exp=([\w.+-]+)", line):
            if name in ("NAME", "NAME_OR_PATH", "..."):
                continue
            platform = re.search(r"platform=(\w+)", line)
            find_experiment(name, platform=platform.group(1) if platform else "MI300X", root=REPO)


def test_readme_make_targets_exist():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.M))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`make ([\w-]+)", readme)) | set(re.findall(r"^make ([\w-]+)", readme, re.M))
    assert named and named <= targets, named - targets
