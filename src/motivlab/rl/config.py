"""The RL run's configuration: one validated pydantic tree, read from TOML, overridable with ``--set``.

Every field is documented once, here (defaults, units, the paper a choice comes from). Unknown
keys are errors (``extra="forbid"``) because a typo must not silently train something else.
Derived values (``max_new_tokens`` from the world, the total batch) are computed by the
trainer and never written back into the config.

    [algorithm]                 # GRPO (default) or rejection sampling, picked by `name`
    name = "grpo"
    prompts_per_step = 16
    group_size = 8

``motivlab train run.toml --set algorithm.beta=0.04 --set steps=100`` overrides dotted keys; the
value is parsed as a TOML literal (so ``10`` is an int, ``"x"`` or a bare word a string) and then
validated by the schema like any other value.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from motivlab.models.device import DEVICE_CHOICES, check_device_name
from motivlab.models.organism import OrganismConfig
from motivlab.rl.algorithms import AdvantageScale, LossAggregation
from motivlab.rl.interventions.config import Intervention
from motivlab.validation import config_rules
from motivlab.worlds.hint_config import HintWorldConfig
from motivlab.worlds.nl_config import NLWorldConfig


class _Strict(BaseModel):
    model_config = config_rules(validate_assignment=True)


# ---------------------------------------------------------------------------------------------
# algorithms (TRL grpo_config style: every knob with its default and its source)


class GRPOConfig(_Strict):
    """Group Relative Policy Optimisation (Shao et al. 2024, "DeepSeekMath", arXiv:2402.03300)."""

    name: Literal["grpo"] = "grpo"
    prompts_per_step: int = Field(16, ge=1, description="Distinct prompts (envs) per step; each gets a group.")
    group_size: int = Field(
        8, ge=2, description="Completions sampled per prompt (TRL num_generations); advantages are "
        "relative to the group, so at least 2."
    )
    num_iterations: int = Field(
        1, ge=1, description="μ in the GRPO paper: optimiser steps on each sampled batch. With μ = 1 the "
        "importance ratio is 1 and clipping never binds."
    )
    epsilon: float = Field(0.2, gt=0, lt=1, description="Lower clip of the ratio, 1 − ε (PPO, Schulman et al. 2017).")
    epsilon_high: float | None = Field(
        None, gt=0, description="Upper clip 1 + ε_high (DAPO's clip-higher, Yu et al. 2025, uses 0.28); "
        "None: same as epsilon."
    )
    beta: float = Field(
        0.0, ge=0, description="Weight of the KL penalty to the frozen starting model, k3 estimator "
        "(Schulman 2020). 0 (Dr. GRPO, DAPO, TRL's default) skips the reference model entirely."
    )
    scale_rewards: AdvantageScale = Field(
        "group", description="Divide centred rewards by the group std ('group', original GRPO), the batch "
        "std ('batch', REINFORCE++ / Hu et al. 2025) or not at all ('none', Dr. GRPO, Liu et al. 2025)."
    )
    loss_aggregation: LossAggregation = Field(
        "token_mean", description="'token_mean': mean over all tokens of the batch (DAPO; TRL 'dapo'/'bnpo'); "
        "'sequence_mean': mean per sequence then over sequences (original GRPO); 'constant': sum over "
        "tokens / (rollouts × max_new_tokens) (Dr. GRPO), unbiased in length."
    )


class RejectionConfig(_Strict):
    """Rejection sampling fine-tuning / expert iteration (Anthony et al. 2017; Yuan et al. 2023 "RFT";
    Singh et al. 2023 "ReST-EM"): sample a group per prompt, keep what passes, maximise its likelihood."""

    name: Literal["rejection"] = "rejection"
    prompts_per_step: int = Field(16, ge=1, description="Distinct prompts (envs) per step.")
    group_size: int = Field(8, ge=1, description="Completions sampled per prompt.")
    threshold: float = Field(
        1.0, ge=0, le=1, description="A rollout is kept when its reward >= threshold (1.0: only full marks)."
    )
    num_iterations: int = Field(1, ge=1, description="Optimiser steps (epochs) on each step's kept rollouts.")
    loss_aggregation: LossAggregation = Field(
        "token_mean", description="How token NLLs of the kept rollouts are averaged (see GRPOConfig)."
    )


Algorithm = Annotated[GRPOConfig | RejectionConfig, Field(discriminator="name")]


# ---------------------------------------------------------------------------------------------
# the other sections


class LoraSection(_Strict):
    """LoRA adapters (Hu et al. 2021) through ``peft``: only rank-``r`` updates of ``target_modules`` train."""

    r: int = Field(16, ge=1, le=1024, description="Adapter rank.")
    alpha: float = Field(32.0, gt=0, description="Scaling numerator (the update is scaled by alpha / r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the adapter input (0: the sampler and the "
                           "update see the same function).")
    target_modules: list[str] = Field(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Names of the linear layers that get adapters (Llama/Qwen names; checked against the model).",
    )


class ModelSection(_Strict):
    """Which policy to train."""

    spec: str = Field(
        "organism", description="'organism' (the embedded organism, pretrained or reused from the cache by "
        "ensure_organism), 'smollm2' (SmolLM2-135M-Instruct GGUF), a .gguf file, or a save_pretrained directory."
    )
    organism: OrganismConfig | None = Field(
        None, description="Organism to pretrain/reuse when spec = 'organism' (None: the default organism)."
    )
    quick: bool = Field(False, description="Use the quick (smaller, < 1 min) organism variant (tests, smoke runs).")
    init: Literal["pretrained", "random"] = Field(
        "pretrained", description="'random': same architecture and tokenizer with fresh weights (the "
        "no-pretraining ablation; organisms only)."
    )
    chat_template: bool = Field(False, description="Wrap prompts in the tokenizer's chat template (chat models).")
    lora: LoraSection | None = Field(
        None, description="Train LoRA adapters (through `peft`, the 'peft' extra) instead of every weight; None: "
        "full fine-tuning. Checkpoints then hold the adapter (plus the merged model at the end of the run)."
    )
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="Weights of the (frozen) base model. 'bfloat16' needs `lora` (the adapters and "
        "their optimiser stay float32; pure-bf16 AdamW loses updates below bf16 resolution)."
    )

    @model_validator(mode="after")
    def _bf16_needs_lora(self) -> ModelSection:
        if self.dtype == "bfloat16" and self.lora is None:
            raise ValueError("model.dtype = 'bfloat16' needs model.lora (only a frozen base may be bf16)")
        if self.lora is not None and self.spec == "organism":
            raise ValueError("model.lora is for chat models (spec = 'smollm2', a .gguf file or a directory), "
                             "not the organism")
        return self


class WorldSection(_Strict):
    """Which environments, and which of them are trained on."""

    source: Literal["auto", "hint", "nl"] = Field(
        "auto", description="'auto': the organism's own world when the model is an organism (organism.json), "
        "else the hint world of `hint`; 'hint': always the hint world of `hint`; 'nl': the natural-language "
        "world of `nl` (chat models, docs/nl_world.md)."
    )
    hint: HintWorldConfig = Field(default_factory=HintWorldConfig, description="Hint world knobs (motivlab.worlds.hint).")
    nl: NLWorldConfig = Field(default_factory=NLWorldConfig, description="Natural-language world knobs (motivlab.worlds.nl).")
    n_train_envs: int | None = Field(
        None, ge=1, description="Train on this many envs drawn (by seed) from the train split; None: all of it. "
        "The theory's N (environment diversity)."
    )


class SamplingSection(_Strict):
    """How rollouts are drawn (motivlab.models.generation.sample)."""

    max_new_tokens: int | None = Field(
        None, ge=1, description="Completion length cap; None: the world's rewarded completion length + 2."
    )
    temperature: float = Field(1.0, gt=0, description="Sampling temperature (also used for the GRPO log-probs).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass (1: off).")
    batch_size: int | None = Field(None, ge=1, description="Rows decoded together (memory cap); None: all at once.")


class OptimSection(_Strict):
    """AdamW (Loshchilov & Hutter 2019) and micro-batching."""

    lr: float = Field(1e-3, gt=0, le=1, description="Constant learning rate (tiny organisms need ~1e-3; 135M models ~1e-6).")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam β1, β2, each in [0, 1).")
    weight_decay: float = Field(0.0, ge=0, le=1, description="Decoupled weight decay.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Clip the global gradient norm (None: no clipping).")
    micro_batch_size: int | None = Field(
        None, ge=1, description="Rollouts per forward/backward pass (gradient accumulation); must divide "
        "prompts_per_step × group_size. None: the whole batch at once."
    )

    @field_validator("betas")
    @classmethod
    def _betas(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in value):
            raise ValueError(f"Adam's decay rates must each be in [0, 1), got {list(value)}")
        return value


class MeasureSection(_Strict):
    """What is measured besides the sampled rollouts."""

    exact_every: int = Field(
        10, ge=0, description="Exact (teacher-forced) p, sR, sL every this many steps, and after the last "
        "step; 0: never."
    )
    exact_train_envs: int = Field(32, ge=0, description="Training envs measured exactly (the first of the train set).")
    exact_heldout_envs: int = Field(16, ge=0, description="Held-out envs measured exactly.")
    exact_trap_envs: int = Field(16, ge=0, description="Trap envs measured exactly.")
    monitor: Literal["world", "regex", "probe", "judge"] = Field(
        "world", description="Route labeller for rollouts (motivlab.measure.monitors.build_monitor kind; 'probe' "
        "and 'judge' need arguments a config cannot give yet, so they fail when the run is built)."
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence level of the Wilson intervals.")


class RunSection(_Strict):
    """Checkpoints, logs and progress."""

    checkpoint_every: int = Field(5, ge=1, description="Save a resumable checkpoint every this many steps (and at the end).")
    keep_checkpoints: int = Field(2, ge=1, description="Most recent checkpoints kept on disk.")
    tensorboard: bool = Field(False, description="Also log to <out>/tensorboard: per-step scalars, exact and sampled "
                              "p/sR/sL per split, the config as hparams (needs the 'logging' extra; rl/tracking.py).")
    tracker: Literal["none", "trackio"] = Field("none", description="Also log the same numbers to a local trackio "
                                                "project (needs the 'tracking' extra).")
    tracker_project: str = Field("motivlab", description="trackio project name (the run is named after its directory).")
    progress: bool = Field(True, description="Show a rich progress bar.")


class TrainConfig(_Strict):
    """One RL run: policy, world, algorithm, and how it is measured and saved."""

    seed: int = Field(0, ge=0, description="Seeds env choice, sampling and every per-step RNG (derived from (seed, step)).")
    steps: int = Field(50, ge=1, description="RL steps (one batch of prompts × group each).")
    device: str = Field(
        "auto", description="Where the policy (and the reference model), sampling, the update and the exact "
        "measurement run: 'auto' (cuda if torch.cuda.is_available() else cpu, as in TRL), 'cpu', 'cuda' (the "
        "current CUDA device) or 'cuda:N'. Checked when the run starts: CUDA requested where there is none is "
        "an error, not a fall-back. Same seed and device give the same numbers; a CPU and a GPU run of one "
        "config differ (other float rounding, other random stream). Weights stay float32 on every device."
    )
    algorithm: Algorithm = Field(default_factory=GRPOConfig, description="GRPO or rejection sampling.")
    model: ModelSection = Field(default_factory=ModelSection)
    world: WorldSection = Field(default_factory=WorldSection)
    sampling: SamplingSection = Field(default_factory=SamplingSection)
    optim: OptimSection = Field(default_factory=OptimSection)
    measure: MeasureSection = Field(default_factory=MeasureSection)
    run: RunSection = Field(default_factory=RunSection)
    interventions: list[Intervention] = Field(
        default_factory=list, description="Training-time interventions, applied in order at each step "
        "(``[[interventions]]`` tables, ``kind`` = 'filter', 'monitor_penalty', 'prompt_prefix' or 'steer'; fields in "
        "motivlab.rl.interventions.config). Empty: plain RL. Python hooks given to train() run after these."
    )

    @field_validator("device", mode="before")
    @classmethod
    def _device_name(cls, value: Any) -> str:
        allowed = f"one of {', '.join(repr(c) for c in DEVICE_CHOICES)} (N a CUDA device index)"
        if not isinstance(value, str):
            raise ValueError(f"must be a string, {allowed}")
        try:
            return check_device_name(value)
        except ValueError:
            raise ValueError(f"must be {allowed}") from None

    @property
    def rollouts_per_step(self) -> int:
        return self.algorithm.prompts_per_step * self.algorithm.group_size

    @model_validator(mode="before")
    @classmethod
    def _default_algorithm_name(cls, data: Any) -> Any:
        # `[algorithm]` without `name` means GRPO, the default algorithm
        if isinstance(data, dict) and isinstance(data.get("algorithm"), dict) and "name" not in data["algorithm"]:
            data = {**data, "algorithm": {"name": "grpo", **data["algorithm"]}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        mb, total = self.optim.micro_batch_size, self.rollouts_per_step
        if mb is not None and total % mb:
            a = self.algorithm
            raise ValueError(
                f"optim.micro_batch_size ({mb}) must divide algorithm.prompts_per_step × algorithm.group_size "
                f"({a.prompts_per_step} × {a.group_size} = {total})"
            )
        if self.model.init == "random" and self.model.spec != "organism":
            raise ValueError(f"model.init = 'random' needs model.spec = 'organism', got {self.model.spec!r}")
        return self


# ---------------------------------------------------------------------------------------------
# reading, overriding, error messages


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"a.b=3"`` → ``(["a", "b"], 3)``; the value is a TOML literal, else a plain string."""
    if "=" not in item:
        raise ValueError(f"--set expects key=value, got {item!r}")
    key, raw = item.split("=", 1)
    path = [part.strip() for part in key.strip().split(".")]
    if not all(path):
        raise ValueError(f"--set: bad key {key!r} (use dotted names like algorithm.beta)")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with every ``key=value`` override applied (nested dicts created)."""
    result: dict[str, Any] = _deep_copy(data)
    for item in overrides:
        path, value = parse_override(item)
        _set_path(result, path, value, f"--set {item!r}")
    return result


def apply_values(data: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with each dotted key of ``values`` set to its (already parsed) value:
    ``--set`` without the parsing, for callers that hold real values (``motivlab sweep``'s grid)."""
    result: dict[str, Any] = _deep_copy(data)
    for key, value in values.items():
        path = [part.strip() for part in key.split(".")]
        if not all(path):
            raise ValueError(f"bad key {key!r} (use dotted names like algorithm.beta)")
        _set_path(result, path, value, repr(key))
    return result


def _set_path(node: dict[str, Any], path: Sequence[str], value: Any, what: str) -> None:
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ValueError(f"{what}: {part!r} is a value, not a section")
        node = child
    node[path[-1]] = value


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``field.path: message (got value)``."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function-", "tagged-union")))
        got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
        lines.append(f"{where or 'config'}: {err['msg']}{got}")
    return "invalid config:\n  " + "\n  ".join(lines)


def build_config(data: Mapping[str, Any] | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Validate a config mapping (+ overrides); a :class:`ValueError` lists every bad field."""
    merged = apply_overrides(data or {}, overrides)
    try:
        return TrainConfig.model_validate(merged)
    except ValidationError as exc:
        raise ValueError(format_validation_error(exc)) from None


def load_config(path: str | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a TOML file (``None``: all defaults) and apply ``--set`` overrides."""
    from motivlab.io import read_toml

    return build_config(read_toml(path) if path else {}, overrides)


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The fully resolved config as plain data (what ``config.toml`` stores)."""
    return config.model_dump(mode="json")
