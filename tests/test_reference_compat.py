"""Compatibility with real Primus: every TorchTitan experiment of Primus v26.5 loads, validates and resolves.

The corpus is an unmodified copy of Primus v26.5's TorchTitan configs (../shared/reference/primus-v26.5 beside
the repository). Experiments load with that copy as ``configs_root``, exactly as Primus would read them.

Expected values below are the ones Primus itself resolves (module_base.yaml + quantize.yaml +
pre_trainer.yaml, then the model preset, then the experiment's ``overrides:``), written out key by key.
This project differs from Primus only where docs/notes list a deliberate difference (model preset
deep-merged, dotted override keys expanded, values coerced to their field types); none of those changes a
value in the experiments checked here.

Every experiment validates, with the reference presets and again with the presets this project ships (the
same files). Seven were refused before this project had warnings and model-argument overrides
(``REFUSED_BEFORE``); what each gets now is asserted exactly:
- ``deepseek_v3_*.yaml`` set ``lr_scheduler.warmup_steps: 200`` with ``training.steps: 15``. TorchTitan 0.2.2
  clamps the warmup to 15 steps with a log line; here that is a warning naming the clamped value
  (``--strict`` makes it an error).
- ``llama3.1_405B*.yaml`` set ``model.n_layers: 126``, an override of the flavor's ModelArgs as Primus applies
  it (126 is already the 405B flavor's depth); accepted after its name and type are checked.
- ``llama3.2_1B.yaml`` (a model preset no experiment uses) names flavor ``1B``, which TorchTitan 0.2.2's
  llama3 registry does not have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support import REFERENCE, REFERENCE_PART, flatten

CONFIGS_ROOT = REFERENCE / "primus" / "configs"
EXAMPLES = REFERENCE / "examples" / "torchtitan" / "configs" / "MI300X"

pytestmark = pytest.mark.needs_shared(REFERENCE_PART)

#: Empty environment: every ${VAR:default} takes its default and no WORLD_SIZE is seen, whatever the
#: test runner's environment holds.
NO_ENV: dict[str, str] = {}

_WARMUP = (
    "lr_scheduler.warmup_steps",
    "warmup_steps(200) exceeds training.steps(15): TorchTitan will clamp the warmup to 15 steps, "
    "so the learning rate peaks only at the last step",
)

#: The experiments refused before this project had warnings and model-argument overrides.
REFUSED_BEFORE = [
    "deepseek_v3_16b-BF16-pretrain.yaml",
    "deepseek_v3_16b-FP8-pretrain.yaml",
    "deepseek_v3_236b-BF16-pretrain.yaml",
    "deepseek_v3_236b-FP8-pretrain.yaml",
    "deepseek_v3_671b-pretrain.yaml",
    "llama3.1_405B-BF16-pretrain.yaml",
    "llama3.1_405B-FP8-pretrain.yaml",
]

#: The warmup warning of the five DeepSeek experiments, exactly: (key, file, line, message).
WARMUP_WARNING = {
    name: (_WARMUP[0], name, 35, _WARMUP[1])
    for name in (
        "deepseek_v3_16b-BF16-pretrain.yaml",
        "deepseek_v3_16b-FP8-pretrain.yaml",
        "deepseek_v3_236b-BF16-pretrain.yaml",
        "deepseek_v3_236b-FP8-pretrain.yaml",
        "deepseek_v3_671b-pretrain.yaml",
    )
}
_AUTOCAST = "primus_turbo.enable_embedding_autocast"  # Primus's default (pre_trainer.yaml) is true
_F8 = "primus_turbo.use_turbo_float8_linear"
_GMM = "primus_turbo.use_turbo_grouped_mm"
_MOE8 = "primus_turbo.use_moe_fp8"
_CLASSIC = "primus_turbo.use_classic_attention"
#: The keys each experiment is warned about, in order: the DeepSeek warmup, and each primus_turbo key set to
#: something Primus acts on through its own runtime patches, which have no effect here. Every other
#: experiment validates without a warning.
WARNED = {
    "deepseek_v3_16b-BF16-pretrain.yaml": [_CLASSIC, _GMM, _AUTOCAST, _WARMUP[0]],
    "deepseek_v3_16b-FP8-pretrain.yaml": [_F8, _GMM, _MOE8, _AUTOCAST, _WARMUP[0]],
    "deepseek_v3_236b-BF16-pretrain.yaml": [_CLASSIC, _GMM, _AUTOCAST, _WARMUP[0]],
    "deepseek_v3_236b-FP8-pretrain.yaml": [_F8, _GMM, _MOE8, _AUTOCAST, _WARMUP[0]],
    "deepseek_v3_671b-pretrain.yaml": [_CLASSIC, _GMM, _AUTOCAST, _WARMUP[0]],
    "gpt_oss_120B-FP8-pretrain.yaml": [_F8],
    "gpt_oss_20B-FP8-pretrain.yaml": [_F8],
    "llama3.1_405B-BF16-pretrain.yaml": [_AUTOCAST],
    "llama3.1_405B-FP8-pretrain.yaml": [_F8, _AUTOCAST],
    "llama3.1_70B-BF16-pretrain.yaml": [_AUTOCAST],
    "llama3.1_70B-FP8-pretrain.yaml": [_F8, _AUTOCAST],
    "llama3.1_8B-BF16-pretrain.yaml": [_AUTOCAST],
    "llama3.1_8B-FP8-pretrain.yaml": [_F8, _AUTOCAST],
    "llama4_17Bx128E-BF16-pretrain.yaml": [_GMM, _MOE8, _AUTOCAST],
    "llama4_17Bx128E-FP8-pretrain.yaml": [_F8, _GMM, _MOE8, _AUTOCAST],
    "llama4_17Bx16E-BF16-pretrain.yaml": [_GMM, _MOE8, _AUTOCAST],
    "llama4_17Bx16E-FP8-pretrain.yaml": [_F8, _GMM, _MOE8, _AUTOCAST],
    **{f"qwen3_{size}-pretrain.yaml": [_AUTOCAST] for size in ("0.6B", "1.7B", "4B", "8B", "14B", "32B")},
}

#: Primus's real-data examples stream c4 from the Hub: recorded in the bundle, but no revision to pin.
_STREAMED = (
    "training.dataset",
    "pre_trainer.yaml",
    38,
    "dataset 'c4' is streamed from the Hub (allenai/c4) at train time with no revision: the bundle records "
    "it but cannot pin it",
)
for _model in ("llama3.1_70B", "llama3.1_8B", "llama4_17Bx128E", "llama4_17Bx16E"):
    for _precision in ("BF16", "FP8"):
        WARNED[f"{_model}-{_precision}-pretrain.yaml"].append(_STREAMED[0])


def warned(validation) -> list[str]:
    """The warned keys, checking the warmup warning's file, line and message exactly where there is one."""
    for warning in validation.warnings:
        if warning.key == _WARMUP[0]:
            name = Path(warning.file or "").name
            assert (warning.key, name, warning.line, warning.message) == WARMUP_WARNING[name]
        elif warning.key == _STREAMED[0]:
            # the line is the module preset's: the shipped pre_trainer.yaml's differs from Primus's
            assert (warning.key, Path(warning.file or "").name, warning.message) == (
                _STREAMED[0],
                _STREAMED[1],
                _STREAMED[3],
            )
        else:
            assert warning.message.startswith("has no effect here: "), warning.message
    return [warning.key for warning in validation.warnings]


#: Model presets whose flavor TorchTitan 0.2.2 does not register: preset file -> (family, flavor).
UNREGISTERED_PRESETS = {"llama3.2_1B.yaml": ("llama3", "1B")}


def _reference_examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml")) if EXAMPLES.is_dir() else []


def load(name: str):
    from primus.config import load_experiment

    return load_experiment(EXAMPLES / name, env=NO_ENV, configs_root=CONFIGS_ROOT)


# What Primus resolves for pre_trainer.yaml with its extends: chain (module_base.yaml, quantize.yaml), before
# any model preset or override. Values copied from Primus v26.5's files.
PRIMUS_PRE_TRAINER: dict[str, Any] = {
    "trainable": False,
    "sink_level": None,
    "file_sink_level": "DEBUG",
    "stderr_sink_level": "INFO",
    "quantize.linear.float8.enable_fsdp_float8_all_gather": False,
    "quantize.linear.float8.precompute_float8_dynamic_scale_for_fsdp": False,
    "quantize.linear.float8.recipe_name": None,
    "quantize.linear.float8.filter_fqns": [],
    "quantize.linear.float8.emulate": False,
    "quantize.linear.mx.mxfp8_dim1_cast_kernel_choice": "triton",
    "quantize.linear.mx.recipe_name": "mxfp8_cublas",
    "quantize.linear.mx.filter_fqns": ["output"],
    "quantize.grouped_mm.float8.fqns": [],
    "quantize.grouped_mm.mx.recipe_name": "mxfp8",
    "quantize.grouped_mm.mx.fqns": [],
    "lr_scheduler.decay_ratio": None,
    "lr_scheduler.decay_type": "linear",
    "lr_scheduler.min_lr_factor": 0.0,
    "lr_scheduler.warmup_steps": 200,
    "metrics.disable_color_printing": False,
    "metrics.enable_tensorboard": False,
    "metrics.enable_wandb": False,
    "metrics.log_freq": 10,
    "metrics.save_for_all_ranks": False,
    "metrics.save_tb_folder": "tb",
    "optimizer.beta1": 0.9,
    "optimizer.beta2": 0.95,
    "optimizer.early_step_in_backward": False,
    "optimizer.eps": 1e-08,
    "optimizer.implementation": "fused",
    "optimizer.lr": 0.0008,
    "optimizer.name": "AdamW",
    "optimizer.weight_decay": 0.1,
    "profiling.enable_memory_snapshot": False,
    "profiling.enable_profiling": False,
    "profiling.profile_freq": 10,
    "profiling.save_memory_snapshot_folder": "memory_snapshot",
    "profiling.save_traces_folder": "profile_traces",
    "training.mock_data": True,
    "training.dataset": "c4",
    "training.dataset_path": None,
    "training.enable_cpu_offload": False,
    "training.gc_debug": False,
    "training.gc_freq": 50,
    "training.global_batch_size": -1,
    "training.local_batch_size": 8,
    "training.max_norm": 1.0,
    "training.mixed_precision_param": "bfloat16",
    "training.mixed_precision_reduce": "float32",
    "training.seq_len": 2048,
    "training.steps": 10000,
    "debug.deterministic": False,
    "debug.deterministic_warn_only": False,
    "debug.moe_force_load_balance": False,
    "debug.seed": None,
    "parallelism.context_parallel_degree": 1,
    "parallelism.context_parallel_rotate_method": "allgather",
    "parallelism.data_parallel_replicate_degree": 1,
    "parallelism.data_parallel_shard_degree": -1,
    "parallelism.disable_loss_parallel": False,
    "parallelism.enable_async_tensor_parallel": False,
    "parallelism.expert_parallel_degree": 1,
    "parallelism.expert_tensor_parallel_degree": 1,
    "parallelism.fsdp_reshard_after_forward": "default",
    "parallelism.module_fqns_per_model_part": None,
    "parallelism.pipeline_parallel_degree": 1,
    "parallelism.pipeline_parallel_first_stage_less_layers": 1,
    "parallelism.pipeline_parallel_last_stage_less_layers": 1,
    "parallelism.pipeline_parallel_layers_per_stage": None,
    "parallelism.pipeline_parallel_microbatch_size": 1,
    "parallelism.pipeline_parallel_schedule": "1F1B",
    "parallelism.pipeline_parallel_schedule_csv": "",
    "parallelism.tensor_parallel_degree": 1,
    "checkpoint.enable": False,
    "checkpoint.folder": "checkpoint",
    "checkpoint.interval": 500,
    "checkpoint.initial_load_path": None,
    "checkpoint.initial_load_model_only": True,
    "checkpoint.initial_load_in_hf": False,
    "checkpoint.last_save_model_only": True,
    "checkpoint.last_save_in_hf": False,
    "checkpoint.export_dtype": "float32",
    "checkpoint.async_mode": "disabled",
    "checkpoint.keep_latest_k": 10,
    "checkpoint.load_step": -1,
    "checkpoint.exclude_from_loading": [],
    "checkpoint.enable_first_step_checkpoint": False,
    "checkpoint.create_seed_checkpoint": False,
    "activation_checkpoint.mode": "none",
    "activation_checkpoint.selective_ac_option": "2",
    "activation_checkpoint.per_op_sac_force_recompute_mm_shapes_by_fqns": ["moe.router.gate"],
    "activation_checkpoint.early_stop": False,
    "compile.enable": True,
    "compile.components": ["model", "loss"],
    "comm.init_timeout_seconds": 300,
    "comm.train_timeout_seconds": 100,
    "comm.trace_buf_size": 20000,
    "comm.save_traces_folder": "comm_traces",
    "memory_estimation.enable": False,
    "memory_estimation.disable_fake_mode": False,
    "fault_tolerance.enable": False,
    "fault_tolerance.process_group": "gloo",
    "fault_tolerance.process_group_timeout_ms": 10000,
    "fault_tolerance.replica_id": 0,
    "fault_tolerance.group_size": 0,
    "fault_tolerance.min_replica_size": 1,
    "fault_tolerance.semi_sync_method": None,
    "experimental.custom_import": "",
    "experimental.custom_args_module": "primus.backends.torchtitan.primus_turbo_extensions.config_extension",
    "validation.enable": False,
    "validation.dataset": "c4_validation",
    "validation.dataset_path": None,
    "validation.local_batch_size": 8,
    "validation.seq_len": 2048,
    "validation.freq": 10,
    "validation.steps": -1,
    "primus_turbo.enable_primus_turbo": True,
    "primus_turbo.enable_attention_float8": False,
    "primus_turbo.use_turbo_attention": True,
    "primus_turbo.use_classic_attention": False,
    "primus_turbo.use_turbo_async_tp": True,
    "primus_turbo.use_turbo_mx_linear": True,
    "primus_turbo.use_turbo_float8_linear": True,
    "primus_turbo.use_turbo_grouped_mm": False,
    "primus_turbo.use_moe_fp8": True,
    "primus_turbo.enable_embedding_autocast": True,
}


def expected(model_preset: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    return {**PRIMUS_PRE_TRAINER, **model_preset, **overrides}


QWEN3_8B = expected(
    {
        "job.dump_folder": "./outputs",
        "job.description": "Qwen 3 8B training",
        "model.name": "qwen3",
        "model.flavor": "8B",
        "model.hf_assets_path": "Qwen/Qwen3-8B",
        "model.converters": ["primus_turbo"],
    },
    {
        "optimizer.name": "AdamW",
        "optimizer.lr": 8.0e-4,
        "optimizer.eps": 1.0e-8,
        "lr_scheduler.warmup_steps": 10,
        "metrics.log_freq": 1,
        "training.local_batch_size": 4,
        "training.seq_len": 4096,
        "training.max_norm": 1.0,
        "training.steps": 50,
        "parallelism.data_parallel_replicate_degree": 1,
        "parallelism.data_parallel_shard_degree": -1,
        "parallelism.fsdp_reshard_after_forward": "default",
        "parallelism.tensor_parallel_degree": 1,
        "parallelism.context_parallel_degree": 1,
        "checkpoint.enable": False,
        "checkpoint.folder": "checkpoint",
        "checkpoint.interval": 500,
        "checkpoint.last_save_model_only": False,
        "checkpoint.export_dtype": "float16",
        "checkpoint.async_mode": "disabled",
        "primus_turbo.enable_primus_turbo": True,
        "primus_turbo.enable_attention_float8": False,
    },
)

LLAMA3_1_8B_BF16 = expected(
    {
        "job.dump_folder": "./outputs",
        "job.description": "Llama 3.1 8B training",
        "model.name": "llama3",
        "model.flavor": "8B",
        "model.hf_assets_path": "meta-llama/Llama-3.1-8B",
        "model.converters": ["primus_turbo"],
    },
    {
        "sink_level": None,
        "file_sink_level": "DEBUG",
        "stderr_sink_level": "INFO",
        "metrics.log_freq": 1,
        "metrics.enable_wandb": False,
        "lr_scheduler.warmup_steps": 10,
        "training.local_batch_size": 4,
        "training.seq_len": 8192,
        "training.mock_data": False,
        "training.steps": 50,
        "training.gc_freq": 100,
        "activation_checkpoint.mode": "none",
        "activation_checkpoint.selective_ac_option": "op",
        "primus_turbo.enable_primus_turbo": True,
        "primus_turbo.enable_attention_float8": False,
    },
)

# The FP8 twin also overrides three of quantize.yaml's float8 keys: the other quantize keys must survive
# (a deep merge), which is what Primus does for `overrides:` too.
LLAMA3_1_8B_FP8 = expected(
    {
        "job.dump_folder": "./outputs",
        "job.description": "Llama 3.1 8B training",
        "model.name": "llama3",
        "model.flavor": "8B",
        "model.hf_assets_path": "meta-llama/Llama-3.1-8B",
        "model.converters": ["primus_turbo", "quantize.linear.float8"],
    },
    {
        "sink_level": None,
        "file_sink_level": "DEBUG",
        "stderr_sink_level": "INFO",
        "lr_scheduler.warmup_steps": 10,
        "metrics.log_freq": 1,
        "training.local_batch_size": 5,
        "training.seq_len": 8192,
        "training.mock_data": False,
        "training.steps": 50,
        "training.gc_freq": 100,
        "activation_checkpoint.mode": "none",
        "activation_checkpoint.selective_ac_option": "op",
        "quantize.linear.float8.enable_fsdp_float8_all_gather": True,
        "quantize.linear.float8.precompute_float8_dynamic_scale_for_fsdp": True,
        "quantize.linear.float8.filter_fqns": ["output"],
        "primus_turbo.enable_primus_turbo": True,
        "primus_turbo.enable_attention_float8": False,
    },
)

DEEPSEEK_V3_16B_FP8 = expected(
    {
        "job.dump_folder": "./outputs",
        "job.description": "DeepSeek-V3 16B model training",
        "job.print_config": False,
        "model.name": "deepseek_v3",
        "model.flavor": "16B",
        "model.hf_assets_path": "deepseek-ai/deepseek-moe-16b-base",
        "model.converters": ["primus_turbo", "quantize.linear.float8"],
    },
    {
        "profiling.enable_profiling": False,
        "profiling.save_traces_folder": "profile_trace",
        "profiling.profile_freq": 10,
        "profiling.enable_memory_snapshot": False,
        "profiling.save_memory_snapshot_folder": "memory_snapshot",
        "metrics.log_freq": 1,
        "metrics.disable_color_printing": False,
        "metrics.enable_tensorboard": False,
        "metrics.save_tb_folder": "tb",
        "metrics.enable_wandb": False,
        "optimizer.name": "AdamW",
        "optimizer.lr": 2.2e-4,
        "optimizer.eps": 1.0e-8,
        "lr_scheduler.warmup_steps": 200,
        "lr_scheduler.decay_ratio": 0.8,
        "lr_scheduler.decay_type": "cosine",
        "lr_scheduler.min_lr_factor": 0.1,
        "training.local_batch_size": 8,
        "training.seq_len": 4096,
        "training.max_norm": 1.0,
        "training.steps": 15,
        "training.dataset": "c4_test",
        # Under debug: in TorchTitan 0.2.2 (Primus once had it under training:, where it had no effect).
        "debug.moe_force_load_balance": True,
        "parallelism.data_parallel_replicate_degree": 1,
        "parallelism.data_parallel_shard_degree": -1,
        "parallelism.fsdp_reshard_after_forward": "default",
        "parallelism.tensor_parallel_degree": 1,
        "parallelism.enable_async_tensor_parallel": False,
        "parallelism.pipeline_parallel_degree": 1,
        "parallelism.pipeline_parallel_schedule": "Interleaved1F1B",
        "parallelism.expert_parallel_degree": 8,
        "parallelism.expert_tensor_parallel_degree": 1,
        "checkpoint.enable": False,
        "checkpoint.folder": "checkpoint",
        "checkpoint.interval": 10,
        "checkpoint.last_save_model_only": True,
        "checkpoint.export_dtype": "float32",
        "checkpoint.async_mode": "disabled",
        "activation_checkpoint.mode": "none",
        "activation_checkpoint.selective_ac_option": "op",
        "compile.enable": True,
        "compile.components": ["model", "loss"],
        "primus_turbo.enable_primus_turbo": True,
        "primus_turbo.use_turbo_mx_linear": False,
        "primus_turbo.use_turbo_float8_linear": True,
        "primus_turbo.enable_attention_float8": False,
        "primus_turbo.use_turbo_grouped_mm": True,
        "primus_turbo.use_moe_fp8": True,
        "primus_turbo.use_classic_attention": False,
    },
)

# Primus's qwen3 experiments share one layout: the 0.6B one differs from the 8B one in these keys only.
QWEN3_0_6B = {
    **QWEN3_8B,
    "job.description": "Qwen 3 0.6B training",
    "model.flavor": "0.6B",
    "model.hf_assets_path": "Qwen/Qwen3-0.6B",
    "optimizer.lr": 3.0e-4,
    "lr_scheduler.warmup_steps": 2,
}

# The preset's model.n_layers is an architecture override (Primus sets it on the flavor's ModelArgs).
LLAMA3_1_405B_BF16 = expected(
    {
        "job.dump_folder": "./outputs",
        "job.description": "Llama 3 405B training",
        "model.name": "llama3",
        "model.flavor": "405B",
        "model.hf_assets_path": "meta-llama/Llama-3.1-405B",
        "model.n_layers": 126,
        "model.converters": ["primus_turbo"],
    },
    {
        "sink_level": None,
        "file_sink_level": "DEBUG",
        "stderr_sink_level": "INFO",
        "training.local_batch_size": 2,
        "metrics.log_freq": 1,
        "optimizer.lr": 8.0e-5,
        "parallelism.tensor_parallel_degree": 1,
        "activation_checkpoint.mode": "full",
        "primus_turbo.enable_primus_turbo": True,
        "primus_turbo.enable_attention_float8": False,
    },
)

LLAMA3_1_70B_BF16 = expected(
    {
        "job.dump_folder": "./outputs",
        "job.description": "Llama 3.1 70B training",
        "model.name": "llama3",
        "model.flavor": "70B",
        "model.hf_assets_path": "meta-llama/Llama-3.1-70B",
        "model.converters": ["primus_turbo"],
    },
    {
        "sink_level": None,
        "file_sink_level": "DEBUG",
        "stderr_sink_level": "INFO",
        "lr_scheduler.warmup_steps": 10,
        "metrics.log_freq": 1,
        "training.local_batch_size": 2,
        "training.seq_len": 8192,
        "training.mock_data": False,
        "training.steps": 50,
        "training.gc_freq": 100,
        "optimizer.lr": 1.5e-4,
        "activation_checkpoint.mode": "full",
        "primus_turbo.enable_primus_turbo": True,
        "primus_turbo.enable_attention_float8": False,
    },
)

GPT_OSS_20B_BF16 = expected(
    {
        "job.dump_folder": "./outputs",
        "job.description": "GPT-OSS 20B training",
        "model.name": "gpt_oss",
        "model.flavor": "20b",
        "model.hf_assets_path": "openai/gpt-oss-20b",
        "model.converters": [],
    },
    {
        "metrics.log_freq": 1,
        "metrics.enable_wandb": False,
        "optimizer.name": "AdamW",
        "optimizer.lr": 2.2e-4,
        "optimizer.eps": 1.0e-8,
        "lr_scheduler.warmup_steps": 10,
        "training.local_batch_size": 4,
        "training.seq_len": 4096,
        "training.max_norm": 1.0,
        "training.steps": 50,
        "parallelism.data_parallel_replicate_degree": 1,
        "parallelism.data_parallel_shard_degree": -1,
        "parallelism.fsdp_reshard_after_forward": "default",
        "parallelism.tensor_parallel_degree": 1,
        "parallelism.pipeline_parallel_degree": 1,
        "parallelism.expert_parallel_degree": 8,
        "parallelism.expert_tensor_parallel_degree": 1,
        "activation_checkpoint.mode": "selective",
        "activation_checkpoint.selective_ac_option": "op",
        "compile.enable": True,
        "compile.components": ["model", "loss"],
        "primus_turbo.enable_primus_turbo": True,
        "primus_turbo.use_turbo_attention": True,
        "primus_turbo.enable_attention_float8": False,
        "primus_turbo.use_turbo_float8_linear": False,
        "primus_turbo.use_turbo_mx_linear": False,
        "primus_turbo.use_moe_fp8": False,
        "primus_turbo.use_turbo_grouped_mm": False,
        "primus_turbo.use_classic_attention": False,
    },
)

LLAMA4_17BX16E_BF16 = expected(
    {
        "job.dump_folder": "./outputs",
        "job.description": "Llama 4 Scout 17B-16E training",
        "model.name": "llama4",
        "model.flavor": "17bx16e",
        "model.hf_assets_path": "meta-llama/Llama-4-Scout-17B-16E",
        "model.converters": ["primus_turbo"],
    },
    {
        "sink_level": None,
        "file_sink_level": "DEBUG",
        "stderr_sink_level": "INFO",
        "metrics.log_freq": 1,
        "metrics.enable_wandb": False,
        "lr_scheduler.warmup_steps": 10,
        "training.local_batch_size": 4,
        "training.seq_len": 8192,
        "training.mock_data": False,
        "training.steps": 50,
        "activation_checkpoint.mode": "full",
        "activation_checkpoint.selective_ac_option": "op",
        "primus_turbo.enable_primus_turbo": True,
        "primus_turbo.enable_attention_float8": False,
        "primus_turbo.use_turbo_grouped_mm": True,
    },
)

# The BF16 twin of DEEPSEEK_V3_16B_FP8: its own preset (no float8 converter), batch 6, classic attention.
DEEPSEEK_V3_16B_BF16 = {
    **DEEPSEEK_V3_16B_FP8,
    "model.converters": ["primus_turbo"],
    "training.local_batch_size": 6,
    "primus_turbo.use_turbo_float8_linear": False,
    "primus_turbo.use_moe_fp8": False,
    "primus_turbo.use_classic_attention": True,
}

KEY_BY_KEY = [
    pytest.param(
        "qwen3_0.6B-pretrain.yaml", "qwen3_0.6b.yaml", "qwen3_0.6B-pretrain", QWEN3_0_6B, id="qwen3_0.6B"
    ),
    pytest.param(
        "llama3.1_405B-BF16-pretrain.yaml",
        "llama3.1_405B.yaml",
        "llama3.1_405B-pretrain",
        LLAMA3_1_405B_BF16,
        id="llama3.1_405B-BF16",
    ),
    pytest.param(
        "llama3.1_70B-BF16-pretrain.yaml",
        "llama3.1_70B.yaml",
        "llama3.1_70B-pretrain",
        LLAMA3_1_70B_BF16,
        id="llama3.1_70B-BF16",
    ),
    pytest.param(
        "gpt_oss_20B-BF16-pretrain.yaml",
        "gpt_oss_20b.yaml",
        "gpt_oss_20B-BF16-pretrain",
        GPT_OSS_20B_BF16,
        id="gpt_oss_20B-BF16",
    ),
    pytest.param(
        "llama4_17Bx16E-BF16-pretrain.yaml",
        "llama4_17Bx16E.yaml",
        "llama4_17Bx16E-pretrain",
        LLAMA4_17BX16E_BF16,
        id="llama4_17Bx16E-BF16",
    ),
    pytest.param(
        "deepseek_v3_16b-BF16-pretrain.yaml",
        "deepseek_v3_16b.yaml",
        "deepseek_v3_16b-pretrain",
        DEEPSEEK_V3_16B_BF16,
        id="deepseek_v3_16b-BF16",
    ),
    pytest.param("qwen3_8B-pretrain.yaml", "qwen3_8b.yaml", "qwen3_8B-pretrain", QWEN3_8B, id="qwen3_8B"),
    pytest.param(
        "llama3.1_8B-BF16-pretrain.yaml",
        "llama3.1_8B.yaml",
        "llama3.1_8B-pretrain",
        LLAMA3_1_8B_BF16,
        id="llama3.1_8B-BF16",
    ),
    pytest.param(
        "llama3.1_8B-FP8-pretrain.yaml",
        "llama3.1_8B-fp8.yaml",
        "llama3.1_8B-pretrain",
        LLAMA3_1_8B_FP8,
        id="llama3.1_8B-FP8",
    ),
    pytest.param(
        "deepseek_v3_16b-FP8-pretrain.yaml",
        "deepseek_v3_16b-fp8.yaml",
        "deepseek_v3_16b-pretrain",
        DEEPSEEK_V3_16B_FP8,
        id="deepseek_v3_16b-FP8",
    ),
]


@pytest.mark.parametrize(
    "example",
    [pytest.param(p.name, id=p.stem) for p in _reference_examples()],
)
def test_reference_experiment_loads_and_validates(example):
    from primus.validate import check

    resolved = load(example)
    validation = check(resolved, env=NO_ENV)
    config = validation.config
    assert warned(validation) == WARNED.get(example, [])
    assert resolved.framework == "torchtitan"
    assert resolved.module_name == "pre_trainer"
    assert config["model"]["name"] == resolved.config["model"]["name"]


@pytest.mark.parametrize("example, model_preset, exp_name, want", KEY_BY_KEY)
def test_reference_experiment_resolves_to_the_values_primus_gives(example, model_preset, exp_name, want):
    resolved = load(example)
    got = flatten(resolved.config)
    assert sorted(got) == sorted(want), "resolved keys differ from Primus's"
    mismatched = {key: (got[key], want[key]) for key in want if got[key] != want[key]}
    assert mismatched == {}, "(resolved, Primus) for each differing key"
    assert resolved.model_preset == model_preset
    assert resolved.module_preset == "pre_trainer.yaml"
    assert {key: resolved.envelope[key] for key in ("work_group", "user_name", "exp_name", "workspace")} == {
        "work_group": "amd",
        "user_name": "root",
        "exp_name": exp_name,
        "workspace": "./output",
    }


@pytest.mark.parametrize("example, model_preset, exp_name, want", KEY_BY_KEY)
def test_reference_experiment_validates_to_the_same_values_with_their_field_types(
    example, model_preset, exp_name, want
):
    from primus.validate import validate

    got = flatten(validate(load(example), env=NO_ENV))
    for key, value in want.items():
        assert got[key] == value, key
        # bool is an int subclass: compare exact types so True never stands in for 1 (or 1 for 1.0).
        assert type(got[key]) is type(value), f"{key}: {type(got[key]).__name__} != {type(value).__name__}"


def test_reference_provenance_names_the_layer_and_line_of_each_value():
    resolved = load("qwen3_8B-pretrain.yaml")
    flavor = resolved.origin_of("model.flavor")
    assert (Path(flavor.file).name, flavor.line, flavor.layer) == ("qwen3_8b.yaml", 7, "model preset")
    steps = resolved.origin_of("training.steps")
    assert (Path(steps.file).name, steps.line, steps.layer) == ("qwen3_8B-pretrain.yaml", 30, "overrides")
    seed = resolved.origin_of("debug.seed")
    assert (Path(seed.file).name, seed.line, seed.layer) == ("pre_trainer.yaml", 55, "module preset")
    trainable = resolved.origin_of("trainable")
    assert (Path(trainable.file).name, trainable.line, trainable.layer) == (
        "module_base.yaml",
        1,
        "module base",
    )
    # warmup_steps is set twice: by pre_trainer.yaml (200), then by the experiment (10).
    assert [(s.value, s.origin.layer) for s in resolved.provenance["lr_scheduler.warmup_steps"]] == [
        (200, "module preset"),
        (10, "overrides"),
    ]


def test_reference_experiment_records_the_variables_it_consumed():
    resolved = load("qwen3_8B-pretrain.yaml")
    assert resolved.env_consumed == {"PRIMUS_TEAM": None, "PRIMUS_USER": None, "PRIMUS_EXP_NAME": None}


def test_reference_experiment_takes_envelope_values_from_the_environment():
    from primus.config import load_experiment

    resolved = load_experiment(
        EXAMPLES / "qwen3_8B-pretrain.yaml",
        env={"PRIMUS_EXP_NAME": "mine", "PRIMUS_TEAM": ""},
        configs_root=CONFIGS_ROOT,
    )
    # A variable set to the empty string wins over the default.
    assert (
        resolved.envelope["exp_name"],
        resolved.envelope["work_group"],
        resolved.envelope["user_name"],
    ) == (
        "mine",
        "",
        "root",
    )


@pytest.mark.parametrize("example", REFUSED_BEFORE)
def test_experiments_refused_before_now_validate_with_their_known_warning(example):
    from primus.validate import check

    validation = check(load(example), env=NO_ENV)
    assert warned(validation) == WARNED.get(example, [])


@pytest.mark.parametrize("preset", ["llama3.1_405B.yaml", "llama3.1_405B-fp8.yaml"])
def test_the_405B_presets_n_layers_is_an_architecture_override_from_the_preset(preset):
    from primus.validate import validate

    example = "llama3.1_405B-FP8-pretrain.yaml" if "fp8" in preset else "llama3.1_405B-BF16-pretrain.yaml"
    resolved = load(example)
    origin = resolved.origin_of("model.n_layers")
    assert (Path(origin.file).name, origin.line, origin.layer) == (preset, 9, "model preset")
    assert validate(resolved, env=NO_ENV)["model"]["n_layers"] == 126


@pytest.mark.parametrize("example", [pytest.param(p.name, id=p.stem) for p in _reference_examples()])
def test_reference_experiment_validates_with_the_shipped_presets_too(example):
    from primus.config import load_experiment
    from primus.validate import check

    resolved = load_experiment(EXAMPLES / example, env=NO_ENV)  # the package's primus/configs
    validation = check(resolved, env=NO_ENV)
    assert warned(validation) == WARNED.get(example, [])
    reference = check(load(example), env=NO_ENV)
    assert flatten(validation.config) == flatten(reference.config)


def test_reference_deepseek_experiment_is_refused_under_strict():
    from primus.errors import ConfigErrors
    from primus.validate import check

    with pytest.raises(ConfigErrors) as caught:
        check(load("deepseek_v3_16b-FP8-pretrain.yaml"), env=NO_ENV, strict=True)
    got = [(e.key, Path(e.file or "").name, e.line, e.message) for e in caught.value.errors]
    assert [key for key, *_ in got] == WARNED["deepseek_v3_16b-FP8-pretrain.yaml"]
    assert WARMUP_WARNING["deepseek_v3_16b-FP8-pretrain.yaml"] in got


def test_reference_deepseek_experiment_loses_the_warmup_warning_once_warmup_fits_the_steps():
    from primus.config import load_experiment
    from primus.validate import check

    resolved = load_experiment(
        EXAMPLES / "deepseek_v3_16b-FP8-pretrain.yaml",
        ["--lr_scheduler.warmup_steps", "3"],
        env=NO_ENV,
        configs_root=CONFIGS_ROOT,
    )
    validation = check(resolved, env=NO_ENV)
    assert warned(validation) == [_F8, _GMM, _MOE8, _AUTOCAST]  # the warmup warning is gone
    got = flatten(validation.config)
    want = {**DEEPSEEK_V3_16B_FP8, "lr_scheduler.warmup_steps": 3}
    assert {key: got[key] for key in want} == want
    assert resolved.origin_of("lr_scheduler.warmup_steps").layer == "command line"


def test_reference_model_presets_name_registered_flavors_except_the_known_ones(torchtitan_flavors):
    unregistered = {}
    for preset in sorted((CONFIGS_ROOT / "models" / "torchtitan").glob("*.yaml")):
        model = yaml.safe_load(preset.read_text())["model"]
        if model["flavor"] not in torchtitan_flavors.get(model["name"], ()):
            unregistered[preset.name] = (model["name"], model["flavor"])
    assert unregistered == UNREGISTERED_PRESETS


@pytest.fixture(scope="module")
def torchtitan_flavors() -> dict[str, list[str]]:
    """TorchTitan's live registry, family -> flavors (imports torch: about 15 s on 2 cores)."""
    import torchtitan.models
    from torchtitan.protocols.train_spec import get_train_spec

    flavors = {}
    for family in sorted(torchtitan.models._supported_models):
        if family == "flux":  # needs the `transformers` package, and no Primus preset uses it
            continue
        flavors[family] = list(get_train_spec(family).model_args)
    return flavors


@pytest.mark.parametrize(
    "example",
    [pytest.param(p.name, id=p.stem) for p in _reference_examples()],
)
def test_reference_experiment_reaches_torchtitans_config_manager_intact(example, tmp_path):
    # The job_config.toml a Primus experiment freezes to is one TorchTitan 0.2.2 reads back value for value.
    from torchtitan.config import ConfigManager

    from primus.backends.torchtitan.job_toml import job_toml_data, write_job_toml
    from primus.validate import validate

    resolved = load(example)
    config = validate(resolved, env=NO_ENV)
    toml_file = tmp_path / "job_config.toml"
    write_job_toml(toml_file, config, origin_of=resolved.origin_of)
    job_config = ConfigManager().parse_args(["--job.config_file", str(toml_file)])
    differing = {}
    for key, value in flatten(job_toml_data(config)).items():
        got = job_config
        for part in key.split("."):
            got = getattr(got, part)
        if got != value:
            differing[key] = (got, value)
    assert differing == {}
