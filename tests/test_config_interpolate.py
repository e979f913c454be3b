"""primus.config.interpolate: ${VAR} and ${VAR:default} with Primus's coercion rules."""

from __future__ import annotations

import pytest

from primus.config.interpolate import coerce_substitution, interpolate
from primus.config.yaml_io import parse_yaml_text
from primus.errors import BadPlaceholderError, ConfigErrors, MissingEnvVarError


def substitute(text: str, env: dict[str, str]) -> tuple[dict, dict]:
    consumed: dict[str, str | None] = {}
    return interpolate(parse_yaml_text(text, "exp.yaml"), env, consumed), consumed


# (id, YAML value, env, expected value) -- the rules of shared/notes/primus-config-semantics.md
COERCION = [
    ("true-lowercase", "${V}", {"V": "true"}, True),
    ("true-any-case", "${V}", {"V": "TrUe"}, True),
    ("false", "${V}", {"V": "FALSE"}, False),
    ("int", "${V}", {"V": "8"}, 8),
    ("negative-int", "${V}", {"V": "-1"}, -1),
    ("float", "${V}", {"V": "0.5"}, 0.5),
    ("float-exponent", "${V}", {"V": "1e-4"}, 1e-4),
    ("text-stays-text", "${V}", {"V": "AdamW"}, "AdamW"),
    ("null-text-stays-text", "${V}", {"V": "null"}, "null"),
    ("yes-is-not-a-bool", "${V}", {"V": "yes"}, "yes"),
    ("default-coerced", "${V:8}", {}, 8),
    ("default-bool", "${V:False}", {}, False),
    ("default-text", "${V:amd}", {}, "amd"),
    ("empty-default", "${V:}", {}, ""),
    ("empty-variable-wins-over-default", "${V:amd}", {"V": ""}, ""),
    ("default-runs-to-first-brace", "${U:http://h:80}", {}, "http://h:80"),
    ("partial-stays-string", "step_${N}", {"N": "8"}, "step_8"),
    ("two-placeholders-stay-string", "${A}${B}", {"A": "1", "B": "2"}, "12"),
    ("dollar-without-braces-untouched", "$HOME/x", {"HOME": "/root"}, "$HOME/x"),
    ("no-placeholder-untouched", "plain", {}, "plain"),
    ("quoted-number-without-substitution-stays-text", "'8'", {}, "8"),
]


@pytest.mark.parametrize(
    "value, env, expected", [case[1:] for case in COERCION], ids=[case[0] for case in COERCION]
)
def test_substitution_follows_primus_coercion_rules(value, env, expected):
    result, _ = substitute(f"key: {value}\n", env)
    assert result["key"] == expected
    assert type(result["key"]) is type(expected)


@pytest.mark.parametrize(
    "text, expected",
    [("true", True), ("False", False), ("12", 12), ("+3", 3), ("1.5", 1.5), (".5", 0.5), ("1e3", 1000.0)],
)
def test_coerce_substitution_types_whole_values(text, expected):
    assert coerce_substitution(text) == expected
    assert type(coerce_substitution(text)) is type(expected)


@pytest.mark.parametrize("text", ["nan", "inf", "1.2.3", " 8", "0x10", "on", "None"])
def test_coerce_substitution_leaves_other_text_alone(text):
    assert coerce_substitution(text) == text


def test_keys_are_never_substituted():
    result, consumed = substitute("${K}: 1\n", {"K": "x"})
    assert result == {"${K}": 1}
    assert consumed == {}


def test_values_in_nested_mappings_and_lists_are_substituted():
    result, _ = substitute("a:\n  b: ${X}\n  c:\n    - ${X}\n    - x${X}\n", {"X": "3"})
    assert result == {"a": {"b": 3, "c": [3, "x3"]}}


def test_substitution_keeps_lines_and_leaves_the_input_unchanged():
    document = parse_yaml_text("a: 1\nb:\n  c: ${X}\n", "exp.yaml")
    result = interpolate(document, {"X": "2"}, {})
    assert result["b"].line_of("c") == 3
    assert document["b"]["c"] == "${X}"  # parsed files are cached: never mutated


def test_consumed_variables_record_the_value_or_none_when_the_default_was_used():
    _, consumed = substitute("a: ${SET}\nb: ${UNSET:1}\nc: ${EMPTY:x}\n", {"SET": "v", "EMPTY": ""})
    assert consumed == {"SET": "v", "UNSET": None, "EMPTY": ""}


def test_missing_variable_names_it_with_file_line_and_hint():
    with pytest.raises(MissingEnvVarError) as caught:
        substitute("work_group: amd\nmodel:\n  hf_assets_path: ${HF_ASSETS}\n", {})
    error = caught.value
    assert (error.variable, error.file, error.line, error.key) == (
        "HF_ASSETS",
        "exp.yaml",
        3,
        "model.hf_assets_path",
    )
    assert error.format() == (
        "exp.yaml:3: model.hf_assets_path: environment variable HF_ASSETS is not set\n"
        "  hint: export HF_ASSETS=... or give a default: ${HF_ASSETS:default}"
    )


def test_every_missing_variable_of_a_file_is_reported_at_once():
    with pytest.raises(ConfigErrors) as caught:
        substitute("a: ${ONE}\nb:\n  - ${TWO}/x\nc: ${THREE:ok}\n", {})
    errors = caught.value.errors
    assert [(error.variable, error.line, error.key) for error in errors] == [
        ("ONE", 1, "a"),
        ("TWO", 3, "b[0]"),
    ]


def test_placeholder_without_a_valid_name_is_refused():
    with pytest.raises(BadPlaceholderError) as caught:
        substitute("a: ${MY-VAR}\n", {})
    assert caught.value.format() == (
        "exp.yaml:1: a: '${MY-VAR}' does not name an environment variable\n"
        "  hint: write ${NAME} or ${NAME:default} with NAME made of letters, digits and _"
    )
