"""Every way a config can be wrong gives exactly one error with an exact message, key, file and line.

Each case layers settings on top of a small valid llama3 debugmodel config (tests/hand_built.py):
the module preset sets BASE at lines 10-17; a case's first layer sits at lines 20+, a second at 30+;
command-line values have no line.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest
from hand_built import CLI, EXPERIMENT, MODEL_PRESET, MODULE_PRESET, resolved

from primus.errors import ConfigErrors, ConfigKeyError, ConfigTypeError, ConfigValueError, UnknownKeyError
from primus.validate import check, validate


class Case(NamedTuple):
    layers: list
    error: type
    key: str
    file: str | None
    line: int | None
    message: str
    env: dict = {}  # noqa: RUF012 (a NamedTuple default, never mutated)
    hint: str | None = None  # checked only when given


CASES = {
    # ------------------------------------------------------------------ unknown keys, one per layer
    "unknown-key-in-module-preset": Case(
        [("module preset", {"training.stpes": 50})],
        UnknownKeyError,
        "training.stpes",
        MODULE_PRESET,
        20,
        "Key 'stpes' not in 'training'. Did you mean: 'steps'?",
        hint="rename 'stpes' to 'steps'",
    ),
    "unknown-key-in-model-preset": Case(
        [("model preset", {"model.n_layerz": 126})],  # a typo of Primus's 405B preset's n_layers
        UnknownKeyError,
        "model.n_layerz",
        MODEL_PRESET,
        20,
        "Key 'n_layerz' not in 'model' (neither a TorchTitan model setting nor an argument of llama3's "
        "model). Did you mean: 'n_layers'?",
        hint="rename 'n_layerz' to 'n_layers'",
    ),
    "unknown-key-in-model-preset-nothing-close": Case(
        [("model preset", {"model.layer_count": 4})],
        UnknownKeyError,
        "model.layer_count",
        MODEL_PRESET,
        20,
        "Key 'layer_count' not in 'model' (neither a TorchTitan model setting nor an argument of llama3's "
        "model).",
        hint="llama3 model arguments: attn_mask_type, attn_type, depth_init, dim, eos_id, "
        "ffn_dim_multiplier, max_seq_len, multiple_of, n_heads, n_kv_heads, n_layers, norm_eps, "
        "rope_scaling_args, rope_theta, vocab_size",
    ),
    "unknown-key-in-overrides": Case(
        [("overrides", {"optimizer.momentum": 0.9})],
        UnknownKeyError,
        "optimizer.momentum",
        EXPERIMENT,
        20,
        "Key 'momentum' not in 'optimizer'.",
        hint="valid keys in 'optimizer': beta1, beta2, early_step_in_backward, eps, implementation, lr, "
        "name, weight_decay",
    ),
    "megatron-name-in-the-right-section": Case(
        [("overrides", {"optimizer.learning_rate": 1e-4})],
        UnknownKeyError,
        "optimizer.learning_rate",
        EXPERIMENT,
        20,
        "Key 'learning_rate' not in 'optimizer'. Did you mean: 'lr'?",
        hint="TorchTitan calls this optimizer.lr: write it as 'lr' under 'optimizer:'",
    ),
    "megatron-name-in-another-section": Case(
        [("overrides", {"parallelism.train_iters": 100})],
        UnknownKeyError,
        "parallelism.train_iters",
        EXPERIMENT,
        20,
        "Key 'train_iters' not in 'parallelism'. Did you mean: 'training.steps'?",
    ),
    "unknown-key-on-command-line": Case(
        [("command line", {"checkpoint.intervall": 5})],
        UnknownKeyError,
        "checkpoint.intervall",
        CLI,
        None,
        "Key 'intervall' not in 'checkpoint'. Did you mean: 'interval'?",
    ),
    "unknown-key-nested-three-deep": Case(
        [("overrides", {"quantize.linear.float8.recpie_name": "rowwise"})],
        UnknownKeyError,
        "quantize.linear.float8.recpie_name",
        EXPERIMENT,
        20,
        "Key 'recpie_name' not in 'quantize.linear.float8'. Did you mean: 'recipe_name'?",
    ),
    "typo-in-section-name": Case(
        [("overrides", {"trainig.steps": 5})],  # located at the first leaf under the unknown section
        UnknownKeyError,
        "trainig",
        EXPERIMENT,
        20,
        "Key 'trainig' not in the module config. Did you mean: 'training'?",
    ),
    "key-in-the-wrong-section": Case(
        [("overrides", {"training.warmup_steps": 5})],
        UnknownKeyError,
        "training.warmup_steps",
        EXPERIMENT,
        20,
        "Key 'warmup_steps' not in 'training'. Did you mean: 'lr_scheduler.warmup_steps'?",
        hint="'warmup_steps' belongs to 'lr_scheduler': move it there",
    ),
    "seed-under-training-moved-to-debug": Case(
        [("overrides", {"training.seed": 42})],
        UnknownKeyError,
        "training.seed",
        EXPERIMENT,
        20,
        "Key 'seed' not in 'training'. Did you mean: 'debug.seed'?",
        hint="TorchTitan 0.2.2 reads seed from the debug section: move it to 'debug.seed'",
    ),
    "moe-force-load-balance-under-training": Case(
        [("overrides", {"training.moe_force_load_balance": True})],
        UnknownKeyError,
        "training.moe_force_load_balance",
        EXPERIMENT,
        20,
        "Key 'moe_force_load_balance' not in 'training'. Did you mean: 'debug.moe_force_load_balance'?",
    ),
    # ------------------------------------------------------------------------------------- types
    "int-field-given-a-word": Case(
        [("overrides", {"training.steps": "fifty"})],
        ConfigTypeError,
        "training.steps",
        EXPERIMENT,
        20,
        "expected int, got str 'fifty'",
        hint="set training.steps to a value of type int",
    ),
    "int-field-given-a-bool": Case(
        [("overrides", {"training.steps": True})],
        ConfigTypeError,
        "training.steps",
        EXPERIMENT,
        20,
        "expected int, got bool True",
    ),
    "int-field-given-a-float": Case(
        [("overrides", {"training.steps": 50.5})],
        ConfigTypeError,
        "training.steps",
        EXPERIMENT,
        20,
        "expected int, got float 50.5",
    ),
    "float-field-given-a-word": Case(
        [("command line", {"optimizer.lr": "fast"})],
        ConfigTypeError,
        "optimizer.lr",
        CLI,
        None,
        "expected float, got str 'fast'",
    ),
    "bool-field-given-a-number": Case(
        [("overrides", {"checkpoint.enable": 1})],
        ConfigTypeError,
        "checkpoint.enable",
        EXPERIMENT,
        20,
        "expected bool, got int 1",
    ),
    "literal-field-given-an-unknown-choice": Case(
        [("overrides", {"lr_scheduler.decay_type": "cos"})],
        ConfigValueError,
        "lr_scheduler.decay_type",
        EXPERIMENT,
        20,
        "str 'cos' is not one of 'linear', 'sqrt', 'cosine'",
        hint="valid values: 'linear', 'sqrt', 'cosine'",
    ),
    "optional-literal-given-an-unknown-choice": Case(
        [("overrides", {"quantize.linear.float8.recipe_name": "columnwise"})],
        ConfigValueError,
        "quantize.linear.float8.recipe_name",
        EXPERIMENT,
        20,
        "str 'columnwise' is not one of 'tensorwise', 'rowwise', 'rowwise_with_gw_hp'",
    ),
    "string-null-is-not-none": Case(
        [("overrides", {"debug.seed": "null"})],
        ConfigTypeError,
        "debug.seed",
        EXPERIMENT,
        20,
        "expected int | None, got str 'null'",
        hint="the string 'null' is not None: write null unquoted (YAML null) to mean None",
    ),
    "yaml-null-for-a-required-int": Case(
        [("overrides", {"training.steps": None})],
        ConfigTypeError,
        "training.steps",
        EXPERIMENT,
        20,
        "expected int, got null",
    ),
    "list-item-of-wrong-type": Case(
        [("overrides", {"checkpoint.exclude_from_loading": ["optimizer", 1.5]})],
        ConfigTypeError,
        "checkpoint.exclude_from_loading",
        EXPERIMENT,
        20,
        "item 1: expected str, got float 1.5",
    ),
    "section-given-a-scalar": Case(
        [("overrides", {"training": 5})],
        ConfigTypeError,
        "training",
        EXPERIMENT,
        20,
        "'training' is a section: expected a mapping of its keys, got int 5",
    ),
    "module-level-sink-level-unknown": Case(
        [("module preset", {"stderr_sink_level": "VERBOSE"})],
        ConfigValueError,
        "stderr_sink_level",
        MODULE_PRESET,
        20,
        "str 'VERBOSE' is not one of 'TRACE', 'DEBUG', 'INFO', 'SUCCESS', 'WARNING', 'ERROR', 'CRITICAL'",
    ),
    # ---------------------------------------------------------------------------------- registry
    "unknown-family": Case(
        [("overrides", {"model.name": "llama5"})],
        ConfigKeyError,
        "model.name",
        EXPERIMENT,
        20,
        "Unknown model family 'llama5'. Did you mean: 'llama4'?",
        hint="available families: deepseek_v3, gpt_oss, llama3, llama3_ft, llama4, qwen3 "
        "(`primus-cli models` lists them with flavors)",
    ),
    "family-that-needs-a-missing-package": Case(
        [("overrides", {"model.name": "flux"})],
        ConfigValueError,
        "model.name",
        EXPERIMENT,
        20,
        "model family 'flux' cannot be loaded by the installed TorchTitan "
        "(ModuleNotFoundError: No module named 'transformers')",
    ),
    "unknown-flavor": Case(
        [("model preset", {"model.name": "qwen3", "model.flavor": "9B"})],
        ConfigKeyError,
        "model.flavor",
        MODEL_PRESET,
        21,
        "Unknown flavor '9B' for model family 'qwen3'.",
        hint="available flavors of qwen3: debugmodel, 0.6B, 1.7B, 4B, 8B, 14B, 32B, debugmodel_moe, "
        "30B-A3B, 235B-A22B",
    ),
    "flavor-in-the-wrong-case": Case(
        [("model preset", {"model.flavor": "8b"})],
        ConfigKeyError,
        "model.flavor",
        MODEL_PRESET,
        20,
        "Unknown flavor '8b' for model family 'llama3'. Did you mean: '8B'?",
    ),
    "unknown-converter": Case(
        [("model preset", {"model.converters": ["quantize.linear.fp8"]})],
        ConfigKeyError,
        "model.converters",
        MODEL_PRESET,
        20,
        "Unknown converter 'quantize.linear.fp8'. Did you mean: 'quantize.linear.float8'?",
        hint="valid converters: primus_turbo, quantize.grouped_mm.float8, quantize.grouped_mm.mx, "
        "quantize.linear.float8, quantize.linear.mx",
    ),
    "moe-converter-on-a-dense-model": Case(
        [("model preset", {"model.converters": ["quantize.grouped_mm.float8"]})],
        ConfigValueError,
        "model.converters",
        MODEL_PRESET,
        20,
        "converter 'quantize.grouped_mm.float8' quantizes MoE experts, but llama3 debugmodel has no experts",
    ),
    # ------------------------------------------------------------------------------------ ranges
    "negative-steps": Case(
        [("overrides", {"training.steps": -5})],
        ConfigValueError,
        "training.steps",
        EXPERIMENT,
        20,
        "must be a positive integer (training steps), got -5",
    ),
    "zero-local-batch-size": Case(
        [("command line", {"training.local_batch_size": 0})],
        ConfigValueError,
        "training.local_batch_size",
        CLI,
        None,
        "must be a positive integer (sequences per rank per step), got 0",
    ),
    "min-lr-factor-above-one": Case(
        [("overrides", {"lr_scheduler.min_lr_factor": 1.5})],
        ConfigValueError,
        "lr_scheduler.min_lr_factor",
        EXPERIMENT,
        20,
        "must lie in [0, 1] (a fraction), got 1.5",
    ),
    "validation-enabled-with-zero-frequency": Case(
        [("overrides", {"validation.enable": True, "validation.freq": 0})],
        ConfigValueError,
        "validation.freq",
        EXPERIMENT,
        21,
        "must be a positive integer when validation.enable is true, got 0",
    ),
    "negative-parallel-degree": Case(
        [("overrides", {"parallelism.tensor_parallel_degree": 0})],
        ConfigValueError,
        "parallelism.tensor_parallel_degree",
        EXPERIMENT,
        20,
        "parallel degree must be >= 1, got 0",
    ),
    # ------------------------------------------------------------------------------- cross-field
    "degrees-do-not-multiply-to-world-size": Case(
        [
            (
                "overrides",
                {
                    "parallelism.data_parallel_replicate_degree": 2,
                    "parallelism.data_parallel_shard_degree": 2,
                    "parallelism.tensor_parallel_degree": 2,
                },
            )
        ],
        ConfigValueError,
        "parallelism.data_parallel_shard_degree",
        EXPERIMENT,
        21,
        # Invalid: 2 * 2 * 1 * 2 * 1 = 8, not 10
        "Invalid parallel dims: dp_replicate(2) * dp_shard(2) * cp(1) * tp(2) * pp(1) = 8 != WORLD_SIZE(10), "
        "from WORLD_SIZE=10",
        env={"WORLD_SIZE": "10"},
    ),
    "leftover-dp-shard-does-not-divide": Case(
        [("overrides", {"parallelism.tensor_parallel_degree": 4})],
        ConfigValueError,
        "parallelism.tensor_parallel_degree",
        EXPERIMENT,
        20,
        # Invalid: 6 ranks cannot be split into groups of tp(4)
        "data_parallel_shard_degree -1 takes the leftover ranks, but NNODES(1) * GPUS_PER_NODE(6) is not "
        "divisible by dp_replicate(1) * cp(1) * tp(4) * pp(1) = 4",
        env={"NNODES": "1", "GPUS_PER_NODE": "6"},
    ),
    "world-size-not-a-number": Case(
        [],
        ConfigValueError,
        "WORLD_SIZE",
        "<environment>",
        None,
        "environment variable WORLD_SIZE='eight' is not a positive integer",
        env={"WORLD_SIZE": "eight"},
    ),
    "tp-does-not-divide-heads": Case(
        [("overrides", {"parallelism.tensor_parallel_degree": 3, "training.seq_len": 258})],
        ConfigValueError,
        "parallelism.tensor_parallel_degree",
        EXPERIMENT,
        20,
        "tensor_parallel_degree(3) must divide n_heads(16) of llama3 debugmodel",
        hint="choose a tensor_parallel_degree among 1, 2, 4, 8, 16",
    ),
    "tp-does-not-divide-kv-heads": Case(
        [("overrides", {"model.name": "qwen3", "parallelism.tensor_parallel_degree": 16})],
        ConfigValueError,
        "parallelism.tensor_parallel_degree",
        EXPERIMENT,
        21,
        "tensor_parallel_degree(16) must divide n_kv_heads(8) of qwen3 debugmodel",
    ),
    "pipeline-stages-exceed-layers": Case(
        [("overrides", {"parallelism.pipeline_parallel_degree": 8})],
        ConfigValueError,
        "parallelism.pipeline_parallel_degree",
        EXPERIMENT,
        20,
        "pipeline_parallel_degree(8) exceeds the 6 layers of llama3 debugmodel: "
        "some stages would hold no layer",
    ),
    "pipeline-microbatch-does-not-divide-batch": Case(
        [
            (
                "overrides",
                {
                    "parallelism.pipeline_parallel_degree": 2,
                    "parallelism.pipeline_parallel_microbatch_size": 3,
                },
            )
        ],
        ConfigValueError,
        "parallelism.pipeline_parallel_microbatch_size",
        EXPERIMENT,
        21,
        "training.local_batch_size(2) must be divisible by pipeline_parallel_microbatch_size(3)",
    ),
    "expert-parallel-on-a-dense-model": Case(
        [("overrides", {"parallelism.expert_parallel_degree": 2})],
        ConfigValueError,
        "parallelism.expert_parallel_degree",
        EXPERIMENT,
        20,
        "expert_parallel_degree(2) needs experts, but llama3 debugmodel is not an MoE model",
    ),
    "seq-len-not-divisible-for-tp-and-cp": Case(
        [("overrides", {"training.seq_len": 255})],
        ConfigValueError,
        "training.seq_len",
        EXPERIMENT,
        20,
        "seq_len(255) must be divisible by tensor_parallel_degree(1) * 2 * context_parallel_degree(1) = 2",
    ),
    "context-parallel-with-flex-attention": Case(
        [("overrides", {"model.flavor": "debugmodel_flex_attn", "parallelism.context_parallel_degree": 2})],
        ConfigValueError,
        "parallelism.context_parallel_degree",
        EXPERIMENT,
        21,
        "context parallelism needs SDPA attention, but llama3 debugmodel_flex_attn uses attn_type 'flex'",
    ),
    "global-batch-not-a-multiple": Case(
        [("overrides", {"training.global_batch_size": 6})],
        ConfigValueError,
        "training.global_batch_size",
        EXPERIMENT,
        20,
        # Invalid: 6 is not a multiple of local 2 * dp 4 = 8
        "global_batch_size(6) must be a multiple of local_batch_size(2) * data-parallel degree(4) = 8",
        env={"WORLD_SIZE": "4"},
    ),
    "checkpoint-enabled-with-zero-interval": Case(
        [("overrides", {"checkpoint.enable": True, "checkpoint.interval": 0})],
        ConfigValueError,
        "checkpoint.interval",
        EXPERIMENT,
        21,
        "must be positive (steps between checkpoints) when checkpoint.enable is true, got 0",
    ),
    "keep-latest-one-checkpoint": Case(
        [("overrides", {"checkpoint.keep_latest_k": 1})],
        ConfigValueError,
        "checkpoint.keep_latest_k",
        EXPERIMENT,
        20,
        "must be 0 (keep all) or at least 2, got 1",
    ),
    "selective-ac-option-not-op-or-number": Case(
        [("overrides", {"activation_checkpoint.selective_ac_option": "every2"})],
        ConfigValueError,
        "activation_checkpoint.selective_ac_option",
        EXPERIMENT,
        20,
        "'every2' is neither 'op' nor a positive layer interval like '2'",
    ),
    "compile-unknown-component": Case(
        [("overrides", {"compile.components": ["model", "optimizer"]})],
        ConfigValueError,
        "compile.components",
        EXPERIMENT,
        20,
        "unknown component(s) 'optimizer'",
    ),
    "unknown-dataset-name": Case(
        [("overrides", {"training.mock_data": False, "training.dataset": "c4_tset"})],
        ConfigValueError,
        "training.dataset",
        EXPERIMENT,
        21,
        "Unknown dataset 'c4_tset'. Did you mean: 'c4_test'?",
    ),
    "foreign-custom-config-module": Case(
        [("overrides", {"experimental.custom_args_module": "my_team.extension"})],
        ConfigValueError,
        "experimental.custom_args_module",
        EXPERIMENT,
        20,
        "custom config module 'my_team.extension' is not known to the validator, "
        "so its keys cannot be checked",
    ),
}


#: What TorchTitan 0.2.2 adjusts at run time by a documented rule (it logs a warning and carries on): each a
#: warning here, an error only with strict=True (--strict).
WARNING_CASES = {
    "seq-len-beyond-flavor-max": Case(
        [("overrides", {"model.name": "qwen3", "training.seq_len": 8192})],
        ConfigValueError,
        "training.seq_len",
        EXPERIMENT,
        21,
        "seq_len(8192) exceeds max_seq_len(4096) of qwen3 debugmodel: "
        "TorchTitan will raise the model's max_seq_len to 8192",
        hint="set training.seq_len to at most 4096, or accept the longer RoPE table",
    ),
    "warmup-longer-than-training": Case(
        [("overrides", {"lr_scheduler.warmup_steps": 200, "training.steps": 15})],
        ConfigValueError,
        "lr_scheduler.warmup_steps",
        EXPERIMENT,
        20,
        "warmup_steps(200) exceeds training.steps(15): TorchTitan will clamp the warmup to 15 steps, "
        "so the learning rate peaks only at the last step",
        hint="set lr_scheduler.warmup_steps to at most 15 (commonly a few percent of the steps)",
    ),
    "warmup-longer-than-scheduler-total": Case(
        [("overrides", {"lr_scheduler.total_steps": 5, "lr_scheduler.warmup_steps": 8})],
        ConfigValueError,
        "lr_scheduler.warmup_steps",
        EXPERIMENT,
        21,
        "warmup_steps(8) exceeds lr_scheduler.total_steps(5): TorchTitan will clamp the warmup to 5 steps, "
        "so the learning rate peaks only at the last step",
    ),
    "warmup-plus-decay-longer-than-training": Case(
        [("overrides", {"lr_scheduler.warmup_steps": 4, "lr_scheduler.decay_ratio": 0.8})],
        ConfigValueError,
        "lr_scheduler.decay_ratio",
        EXPERIMENT,
        21,
        "warmup(4) + decay(8 = training.steps(10) * decay_ratio(0.8)) steps exceed training.steps(10): "
        "TorchTitan will shorten the decay to 6 steps",
        hint="lower lr_scheduler.decay_ratio to at most 0.6 or shorten the warmup",
    ),
}


def _located(problem) -> tuple:
    return (problem.key, problem.file, problem.line, problem.message)


@pytest.mark.parametrize("case", WARNING_CASES.values(), ids=WARNING_CASES.keys())
def test_what_torchtitan_adjusts_at_run_time_is_one_exact_warning(case: Case) -> None:
    validation = check(resolved(*case.layers), env=case.env)
    assert [type(w) for w in validation.warnings] == [case.error]
    (warning,) = validation.warnings
    assert warning.severity == "warning"
    assert _located(warning) == (case.key, case.file, case.line, case.message)
    if case.hint is not None:
        assert warning.hint == case.hint
    assert warning.format().splitlines()[0] == f"{case.file}:{case.line}: {case.key}: warning: {case.message}"


@pytest.mark.parametrize("case", WARNING_CASES.values(), ids=WARNING_CASES.keys())
def test_strict_turns_each_warning_into_the_same_error(case: Case) -> None:
    with pytest.raises(ConfigErrors) as caught:
        check(resolved(*case.layers), env=case.env, strict=True)
    (error,) = caught.value.errors
    assert error.severity == "error"
    assert _located(error) == (case.key, case.file, case.line, case.message)
    assert error.hint.endswith("an error because of --strict (without it this is a warning)")
    assert error.format().splitlines()[0] == f"{case.file}:{case.line}: {case.key}: {case.message}"


def test_a_valid_config_has_no_warnings() -> None:
    assert check(resolved(), env={}).warnings == []


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_invalid_config_gives_one_exact_error(case: Case) -> None:
    with pytest.raises(ConfigErrors) as caught:
        validate(resolved(*case.layers), env=case.env)
    assert [type(e) for e in caught.value.errors] == [case.error], caught.value.format()
    (error,) = caught.value.errors
    assert (error.key, error.file, error.line, error.message) == (
        case.key,
        case.file,
        case.line,
        case.message,
    )
    if case.hint is not None:
        assert error.hint == case.hint


def test_every_problem_is_reported_in_one_pass() -> None:
    layers = [
        ("overrides", {"training.stpes": 5, "training.steps": "fifty", "model.flavor": "huge"}),
        ("command line", {"lr_scheduler.decay_type": "cos", "trainig.seq_len": 8}),
    ]
    with pytest.raises(ConfigErrors) as caught:
        validate(resolved(*layers), env={})
    assert sorted(e.key for e in caught.value.errors) == [
        "lr_scheduler.decay_type",
        "model.flavor",
        "trainig",
        "training.steps",
        "training.stpes",
    ]
    assert str(caught.value).splitlines()[0] == (
        f"{EXPERIMENT}:21: training.steps: expected int, got str 'fifty'"
    )


def test_errors_are_config_errors_with_exit_code_2() -> None:
    with pytest.raises(ConfigErrors) as caught:
        validate(resolved(("overrides", {"training.steps": -1})), env={})
    assert caught.value.exit_code == 2
    (error,) = caught.value.errors
    assert isinstance(error, ValueError)
    assert error.value == -1
    assert error.format() == (
        f"{EXPERIMENT}:20: training.steps: must be a positive integer (training steps), got -1\n"
        "  hint: set training.steps to 1 or more"
    )


def test_a_rejected_section_does_not_cascade_into_checks_on_its_defaults() -> None:
    # `training: 5` replaces the whole section; checks must not fall back to training.steps' default
    # (10000) and then complain that e.g. warmup or batch sizes do not fit it.
    layers = [("overrides", {"training": 5, "lr_scheduler.warmup_steps": 20000})]
    with pytest.raises(ConfigErrors) as caught:
        validate(resolved(*layers), env={})
    assert [e.key for e in caught.value.errors] == ["training"]


def test_a_rejected_value_does_not_cascade_into_cross_field_errors() -> None:
    # tp "two" is one type error; the heads/seq_len/world-size checks that need tp are skipped.
    with pytest.raises(ConfigErrors) as caught:
        validate(
            resolved(("overrides", {"parallelism.tensor_parallel_degree": "two"})), env={"WORLD_SIZE": "3"}
        )
    assert [e.key for e in caught.value.errors] == ["parallelism.tensor_parallel_degree"]
