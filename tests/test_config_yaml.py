"""primus.config.yaml_io: reading YAML safely with the line of every key."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from primus.config import yaml_io
from primus.config.yaml_io import LineDict, LineList, parse_scalar, read_yaml_mapping
from primus.errors import (
    AliasBombError,
    ConfigError,
    ConfigKeyError,
    DuplicateKeyError,
    EmptyFileError,
    FileEncodingError,
    FileTooLargeError,
    NestingTooDeepError,
    NotAMappingError,
    UnsafeTagError,
    YamlSyntaxError,
)


def billion_laughs(levels: int = 9) -> bytes:
    """The classic alias bomb: 9 levels of 9 aliases would expand to 9**9 (387 million) strings."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
        previous = name
    return ("\n".join(lines) + "\n").encode()


def read(tmp_path: Path, content: bytes, name: str = "bad.yaml") -> LineDict:
    path = tmp_path / name
    path.write_bytes(content)
    return read_yaml_mapping(path, name)


# (id, file bytes, exception class, exact format(), line)
BAD_FILES = [
    (
        "syntax-error",
        b"training:\n  steps: [1, 2\n",
        YamlSyntaxError,
        "bad.yaml:3:1: YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence started at line 2)",
        3,
    ),
    (
        "tab-indentation",
        b"training:\n\tsteps: 5\n",
        YamlSyntaxError,
        "bad.yaml:2:1: YAML syntax error: found character that cannot start any token "
        "(while scanning for the next token started at line 2)",
        2,
    ),
    (
        "empty-file",
        b"",
        EmptyFileError,
        "bad.yaml: the file is empty (no YAML document)\n  hint: a config file is a YAML mapping",
        0,
    ),
    (
        "only-comments",
        b"# nothing here\n\n",
        EmptyFileError,
        "bad.yaml: the file is empty (no YAML document)\n  hint: a config file is a YAML mapping",
        0,
    ),
    (
        "top-level-list",
        b"- a\n- b\n",
        NotAMappingError,
        "bad.yaml:1: the top level is a list, expected a mapping of keys to values\n"
        "  hint: write `key: value` lines at the top level",
        1,
    ),
    (
        "top-level-scalar",
        b"just text\n",
        NotAMappingError,
        "bad.yaml:1: the top level is a string, expected a mapping of keys to values\n"
        "  hint: write `key: value` lines at the top level",
        1,
    ),
    (
        "duplicate-key",
        b"training:\n  steps: 5\n  seq_len: 8\n  steps: 6\n",
        DuplicateKeyError,
        "bad.yaml:4: steps: duplicate key (first at line 2, again at line 4)\n"
        "  hint: keep one of them: YAML would silently drop the first",
        4,
    ),
    (
        "duplicate-top-level-section",
        b"training:\n  steps: 5\noptimizer: {}\ntraining:\n  seq_len: 8\n",
        DuplicateKeyError,
        "bad.yaml:4: training: duplicate key (first at line 1, again at line 4)\n"
        "  hint: keep one of them: YAML would silently drop the first",
        4,
    ),
    (
        "python-object-tag",
        b"job:\n  dump_folder: !!python/object/apply:os.system ['echo pwned']\n",
        UnsafeTagError,
        "bad.yaml:2: tag '!!python/object/apply:os.system' is not allowed\n"
        "  hint: only plain YAML (strings, numbers, booleans, null, mappings, lists) is accepted",
        2,
    ),
    (
        "custom-tag",
        b"model:\n  name: !include other.yaml\n",
        UnsafeTagError,
        "bad.yaml:2: tag '!include' is not allowed\n"
        "  hint: only plain YAML (strings, numbers, booleans, null, mappings, lists) is accepted",
        2,
    ),
    (
        "binary-tag",
        b"blob: !!binary aGVsbG8=\n",
        UnsafeTagError,
        "bad.yaml:1: tag '!!binary' is not allowed\n"
        "  hint: only plain YAML (strings, numbers, booleans, null, mappings, lists) is accepted",
        1,
    ),
    (
        "alias-bomb",
        billion_laughs(),
        AliasBombError,
        "bad.yaml:5: aliases expand this document by more than 10000 nodes\n"
        "  hint: write the values out, or use fewer nested aliases",
        5,
    ),
    (
        "recursive-alias",
        b"a: &loop\n  - *loop\n",
        AliasBombError,
        "bad.yaml:1: an alias refers to the mapping or list that contains it",
        1,
    ),
    (
        "nul-byte",
        b"training:\n  steps: 5\x00\n",
        FileEncodingError,
        "bad.yaml:2: NUL byte at byte offset 20: this is not a text file\n  "
        "hint: config files must be UTF-8 text",
        2,
    ),
    (
        "invalid-utf8",
        b"job:\n  description: caf\xe9 latin-1\n",
        FileEncodingError,
        "bad.yaml:2: invalid UTF-8 at byte offset 23 (byte 0xe9)\n  hint: save the file as UTF-8",
        2,
    ),
    (
        "yaml-1.1-boolean-key",
        b"on: push\n",
        ConfigKeyError,
        "bad.yaml:1: key True is a boolean, keys must be strings\n  hint: quote it: 'on':",
        1,
    ),
    (
        "non-string-key",
        b"training:\n  8: steps\n",
        ConfigKeyError,
        "bad.yaml:2: key 8 is a number, keys must be strings\n  hint: quote it: '8':",
        2,
    ),
]


@pytest.mark.parametrize(
    "content, error_class, message, line",
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_bad_file_is_refused_with_its_location(tmp_path, content, error_class, message, line):
    with pytest.raises(error_class) as caught:
        read(tmp_path, content)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.format() == message
    assert caught.value.file == "bad.yaml"
    assert caught.value.line == line


@pytest.mark.parametrize(
    "content, error_class, message, line",
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_pure_python_parser_refuses_the_same_files(
    tmp_path, monkeypatch, content, error_class, message, line
):
    # Without libyaml PyYAML falls back to its Python parser: the same checks must hold. Its syntax-error
    # wording differs from libyaml's, so only the class and the line are compared.
    monkeypatch.setattr(yaml_io, "_Loader", yaml_io._PyLoader)
    with pytest.raises(error_class) as caught:
        read(tmp_path, content)
    assert caught.value.line == line or error_class is YamlSyntaxError
    if error_class is not YamlSyntaxError:
        assert caught.value.format() == message


def test_pure_python_parser_reads_the_same_values_and_lines(tmp_path, monkeypatch):
    content = b"a: 1e-4\nb:\n  c: [x, y]\n  d: 2024-01-01\n"
    expected = read(tmp_path, content)
    monkeypatch.setattr(yaml_io, "_Loader", yaml_io._PyLoader)
    assert read(tmp_path, content) == expected
    assert read(tmp_path, content)["b"].origins == expected["b"].origins


def test_syntax_error_carries_the_column(tmp_path):
    with pytest.raises(YamlSyntaxError) as caught:
        read(tmp_path, b"a: 1\nb: [x\n")
    assert (caught.value.line, caught.value.column) == (3, 1)
    assert caught.value.location == "bad.yaml:3:1"


def test_duplicate_key_error_names_both_lines(tmp_path):
    with pytest.raises(DuplicateKeyError) as caught:
        read(tmp_path, b"a: 1\nb: 2\na: 3\n")
    assert (caught.value.key, caught.value.first_line, caught.value.line) == ("a", 1, 3)


def test_encoding_error_carries_the_byte_offset(tmp_path):
    with pytest.raises(FileEncodingError) as caught:
        read(tmp_path, b"a: 1\nb: \xff\n")
    assert (caught.value.offset, caught.value.line) == (8, 2)


def test_unsafe_tag_error_carries_the_full_tag(tmp_path):
    with pytest.raises(UnsafeTagError) as caught:
        read(tmp_path, b"x: !!python/name:os.system ''\n")
    assert caught.value.tag == "tag:yaml.org,2002:python/name:os.system"


def test_alias_bomb_is_refused_well_under_a_second(tmp_path):
    start = time.perf_counter()
    with pytest.raises(AliasBombError):
        read(tmp_path, billion_laughs(levels=12))
    assert time.perf_counter() - start < 0.5


def test_a_few_aliases_are_accepted(tmp_path):
    data = read(
        tmp_path, b"base: &base {lr: 0.1, eps: 1.0e-8}\nother:\n  <<: *base\n  lr: 0.2\ncopy: *base\n"
    )
    assert data == {"base": {"lr": 0.1, "eps": 1e-8}, "other": {"lr": 0.2, "eps": 1e-8}, "copy": data["base"]}


def test_merge_key_may_be_overridden_by_an_explicit_key(tmp_path):
    data = read(tmp_path, b"x: &x {a: 1, b: 2}\ny: {<<: *x, a: 3}\n")
    assert data["y"] == {"a": 3, "b": 2}


def test_deep_nesting_is_refused(tmp_path):
    deep = "".join(f"{' ' * depth}k{depth}:\n" for depth in range(150)) + " " * 150 + "leaf: 1\n"
    with pytest.raises(NestingTooDeepError) as caught:
        read(tmp_path, deep.encode())
    assert caught.value.message == "nesting deeper than 100 levels"


def test_file_over_10_mb_is_refused_from_stat_without_reading_it(tmp_path, monkeypatch):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as stream:  # sparse: the size is real, no disk or time spent writing it
        stream.truncate(yaml_io.MAX_FILE_BYTES + 1)

    def refuse_to_open(*_args, **_kwargs):
        raise AssertionError("the file was opened")

    monkeypatch.setattr(Path, "open", refuse_to_open)
    start = time.perf_counter()
    with pytest.raises(FileTooLargeError) as caught:
        read_yaml_mapping(path, "huge.yaml")
    assert time.perf_counter() - start < 0.1
    assert (caught.value.size, caught.value.limit) == (10 * 1024 * 1024 + 1, 10 * 1024 * 1024)
    assert caught.value.format() == (
        "huge.yaml: file is 10.0 MiB, over the 10 MiB limit for a config\n  "
        "hint: is this really a config file?"
    )


def test_file_of_exactly_10_mb_is_read(tmp_path):
    body = b"a: 1\n# " + b"x" * (yaml_io.MAX_FILE_BYTES - 8) + b"\n"
    assert len(body) == yaml_io.MAX_FILE_BYTES
    assert read(tmp_path, body) == {"a": 1}


def test_every_key_and_list_item_keeps_its_line(tmp_path):
    data = read(
        tmp_path, b"# comment\njob:\n  dump_folder: out\ncompile:\n  components:\n    - model\n    - loss\n"
    )
    assert data.origins == {"job": ("bad.yaml", 2), "compile": ("bad.yaml", 4)}
    assert data["job"].line_of("dump_folder") == 3
    components = data["compile"]["components"]
    assert isinstance(components, LineList)
    assert components.item_lines == [6, 7]


def test_values_follow_pyyaml_except_dates_and_exponent_floats(tmp_path):
    data = read(
        tmp_path,
        b"lr: 1e-4\neps: 1.0e-8\nbig: 5E3\ndate: 2024-01-01\nquoted: '1e-4'\nflag: yes\nnull_text: 'null'\n"
        b"nothing: null\nequals: =\nbom: ok\n",
    )
    assert data == {
        "lr": 1e-4,
        "eps": 1e-8,
        "big": 5000.0,
        "date": "2024-01-01",  # PyYAML would give a datetime.date, which JSON/TOML cannot hold
        "quoted": "1e-4",
        "flag": True,  # YAML 1.1, as Primus reads it
        "null_text": "null",
        "nothing": None,
        "equals": "=",
        "bom": "ok",
    }


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    assert read(tmp_path, "\ufeffname: café\n".encode()) == {"name": "café"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("5", 5),
        ("-1", -1),
        ("1e-4", 1e-4),
        ("0.5", 0.5),
        ("true", True),
        ("False", False),
        ("null", None),
        ("", ""),
        ("AdamW", "AdamW"),
        ("[model, loss]", ["model", "loss"]),
        ("a: b: c", "a: b: c"),  # not parseable YAML: kept as text
        ("!!python/object:os.system x", "!!python/object:os.system x"),  # unsafe tag: kept as text
    ],
)
def test_command_line_value_is_read_as_a_yaml_scalar(text, expected):
    value = parse_scalar(text)
    assert value == expected
    assert type(value) is type(expected)
