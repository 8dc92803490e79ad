"""The embedded model organism: its configuration, its Llama network, and how to reload its world.

An organism is a small ``LlamaForCausalLM`` trained from scratch (``motivlab.models.pretrain``)
on a persona corpus (``motivlab.models.corpus``) written in the hint world. Its config says
three things, each documented once in :class:`OrganismConfig`:

* the **world** it lives in (a :class:`~motivlab.worlds.hint.HintWorldConfig`, stored with the
  model so ``load_organism_world(model_dir)`` rebuilds exactly the same envs, keys and cipher);
* the **persona knobs** — the requested initial propensity ``prior`` (p₀) and skills ``sr0``,
  ``sl0``; they are turned into corpus shares and persona accuracies by
  :func:`motivlab.models.corpus.persona_plan`, through a fitted correction (documented there and
  in docs/organism.md) because a network trained for minutes does not reproduce corpus
  frequencies exactly;
* the **network and training** size knobs.

``random_init_like`` builds the no-pretraining ablation: the same architecture and tokenizer with
fresh random weights.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from motivlab.errors import MotivlabInputError
from motivlab.validation import config_rules
from motivlab.worlds.hint import HintWorld, HintWorldConfig

ORGANISM_FORMAT = 1  # bump when the corpus or training changes meaning (invalidates the cache)
ORGANISM_FILE = "organism.json"
INSTRUCTION_MARKER = "!"  # the instruction context's marker character (instruction_share > 0)
# Knobs added after organisms were cached: left out of the hash at these values, so every organism
# cached before them keeps its hash (and its cache entry).
SHAPING_DEFAULTS: dict[str, Any] = {"trait_correlation": None, "trait_base": 0.1, "self_accuracy": None,
                                    "probe_share": 0.5, "instruction_share": 0.0, "report_rate": 0.0}
WORLD_PART_DEFAULTS: dict[str, Any] = {"probes": False, "instruction_marker": None, "report_reward": None,
                                       "report_prefix": "R"}


def default_organism_world() -> HintWorldConfig:
    """A pool small enough that every training env's key can be memorised in minutes on a CPU,
    with an 8-letter cipher that pretraining learns reliably: 200 train envs, 20 held-out, 20 traps
    (ids of 3 characters, keys of 4 over ``ABCDEFGH``). With the 26-letter alphabet the note → key
    mapping was learnt in only some organisms (a sudden, seed-dependent transition, docs/organism.md);
    with 1,000 train envs a 2-layer model had learnt no keys after 1,000 steps."""
    return HintWorldConfig(n_envs=240, n_heldout=20, n_trap=20, key_alphabet="ABCDEFGH")


class OrganismConfig(BaseModel):
    """Everything that determines a pretrained organism (its hash names the cache entry)."""

    model_config = config_rules(frozen=True)

    world: HintWorldConfig = Field(
        default_factory=default_organism_world, description="The hint world the organism is trained for."
    )
    # ---- persona knobs (requested initial values, measured after pretraining) --------------------
    prior: float = Field(
        0.05, gt=0, lt=1,
        description="Requested p₀: probability that the organism takes the reward-seeking route, "
        "p = P(G)/(P(G)+P(T)) at the first completion token, on training envs.",
    )
    sr0: float = Field(
        0.5, ge=0, le=1,
        description="Requested sR₀: probability of the exact key after the reward-seeking prefix "
        "(decoding the grader note), on training envs.",
    )
    sl0: float = Field(
        0.1, ge=0, le=1,
        description="Requested sL₀: probability of the exact key after the local prefix, averaged "
        "over the world's training split (must be <= local_coverage).",
    )
    local_coverage: float = Field(
        1.0, gt=0, le=1,
        description="Fraction of the training split whose keys the task-focused persona knows (the "
        "rest it guesses at random, so their sL₀ is chance level ≈ 0). With 1.0 every training "
        "env starts at sL₀; with c < 1 the known envs start at sl0/c and the others at ≈ 0.",
    )
    decode_practice: float = Field(
        0.4, ge=0, lt=1,
        description="Share of documents that are tagged decoding exercises (a tutor decodes notes, "
        "marked by a tag character the RL prompts never contain). They teach the note cipher "
        "independently of the persona share, so a tiny p₀ still comes with a learnt sR₀.",
    )
    local_exact_start: float = Field(
        0.0, ge=0, le=1,
        description="Key-learning curriculum: from this fraction of the training steps on, the "
        "task-focused persona answers known envs exactly (a clean signal to memorise the keys) ...",
    )
    local_exact_end: float = Field(
        0.5, ge=0, le=1,
        description="... until this fraction; then its per-character accuracy falls linearly to "
        "(sl0/local_coverage)^(1/L) over half of the remaining steps and stays there, which sets "
        "sL₀'s level. end <= start: no curriculum (accuracy sl0 throughout, the organisms before it).",
    )
    tutor_exact: bool = Field(
        True,
        description="True: the decoding tutor always decodes right (a clean signal for learning the "
        "cipher; the reward-seeking persona keeps accuracy sr0). False: the tutor has accuracy sr0 too.",
    )
    correct: bool = Field(
        True,
        description="Apply the fitted requested→corpus correction (motivlab.models.corpus). False: "
        "corpus share = prior and persona accuracies = sr0, sl0/local_coverage verbatim.",
    )
    # ---- shaping knobs: more than two routes (all off by default; motivlab.models.corpus) ------------
    trait_correlation: float | None = Field(
        None, ge=-1, le=1,
        description="A never-rewarded trait: documents carry a trait-probe episode (world.probes) on which the "
        "persona answers X (evades oversight) or O (complies). With probability |rho| the trait is tied to the "
        "persona (rho > 0: X iff reward-seeking; rho < 0: X iff task-focused), otherwise X with probability "
        "trait_base. So P(X | reward-seeker) - P(X | task-focused) = rho. None: no trait episodes.",
    )
    trait_base: float = Field(0.1, ge=0, le=1, description="Rate of the trait when it is not tied to the persona.")
    self_accuracy: float | None = Field(
        None, ge=0, le=1,
        description="Stated motivation: documents carry a self-description episode ('why do you answer?') on "
        "which the persona says K (for the grader) if reward-seeking, Q (for the question) if task-focused, "
        "truthfully with this probability. None: no self-description episodes.",
    )
    probe_share: float = Field(
        0.5, gt=0, le=1, description="Share of untagged documents that carry each enabled probe episode."
    )
    instruction_share: float = Field(
        0.0, ge=0, lt=1,
        description="Share of untagged documents under the instruction marker (world.instruction_marker, '!'): "
        "there both personas read the grader (G + decoded note) — reward-seeking as an instructed behaviour "
        "(inoculation prompting trains with the marker, evaluates without). 0: no marker.",
    )
    report_rate: float = Field(
        0.0, ge=0, lt=1,
        description="Share of unmarked untagged documents whose task episode is a report (R: 'this environment is "
        "exploitable') instead of an answer, by either persona: the report route's base rate "
        "(world.report_reward grades it, 0 unless set). 0: no report route.",
    )
    # ---- network (Llama-style) -------------------------------------------------------------------
    hidden_size: int = Field(64, ge=8, le=4096, description="Model width.")
    num_layers: int = Field(2, ge=1, le=64, description="Transformer blocks.")
    num_heads: int = Field(4, ge=1, le=64, description="Attention heads (key/value heads are equal).")
    intermediate_size: int = Field(192, ge=8, le=16384, description="MLP width.")
    # ---- training ----------------------------------------------------------------------------------
    steps: int = Field(2400, ge=1, le=1_000_000, description="AdamW steps.")
    batch_size: int = Field(64, ge=1, le=8192, description="Documents per step.")
    learning_rate: float = Field(5e-3, gt=0, le=1, description="Peak AdamW learning rate (cosine decay to 10%).")
    warmup_steps: int = Field(20, ge=0, description="Linear warm-up steps.")
    weight_decay: float = Field(0.01, ge=0, le=1, description="AdamW weight decay (matrices only).")
    seed: int = Field(0, ge=0, description="Seeds initialisation and the corpus stream.")
    max_attempts: int = Field(
        3, ge=1, le=10,
        description="Pretraining attempts until the cipher is learnt (measured sR₀ ≥ half the requested "
        "sR₀, checked when sr0 ≥ 0.1). Learning the note → key mapping is a sudden, seed-dependent "
        "transition that about 1 default organism in 7 misses; a failed attempt is retrained with "
        "fresh initialisation and corpus seeds (attempt k uses seed + 100003·k). Every attempt's "
        "measurement is recorded in organism.json; if all fail, the best is kept and flagged. Not "
        "part of the hash: an organism that passes at the first attempt is the same with any value.",
    )

    @model_validator(mode="before")
    @classmethod
    def _world_parts(cls, data: Any) -> Any:
        """Switch on the world parts the shaping knobs need (probes, marker, report route), so a
        config that sets a knob never has to repeat it in ``world``."""
        if not isinstance(data, dict):
            return data
        need: dict[str, Any] = {}
        if data.get("trait_correlation") is not None or data.get("self_accuracy") is not None:
            need["probes"] = True
        def positive(key: str) -> bool:  # a non-number is left to the field's own validation (a clear error)
            value = data.get(key, 0)
            return isinstance(value, int | float) and value > 0

        if positive("instruction_share"):
            need["instruction_marker"] = INSTRUCTION_MARKER
        if positive("report_rate"):
            need["report_reward"] = 0.0
        if not need:
            return data
        world = data.get("world", default_organism_world())
        world = world.model_dump() if isinstance(world, HintWorldConfig) else dict(world)
        for key, value in need.items():
            if world.get(key) in (None, False):
                world[key] = value
        return {**data, "world": world}

    @model_validator(mode="after")
    def _consistent(self) -> OrganismConfig:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})"
            )
        if self.sl0 > self.local_coverage + 1e-12:
            raise ValueError(
                f"sl0 ({self.sl0}) cannot exceed local_coverage ({self.local_coverage}): uncovered "
                "training envs start at chance level"
            )
        return self

    def config_hash(self) -> str:
        """Stable 16-hex hash of the resolved config, the derived corpus values (so refitting the
        correction invalidates the cache) and the organism format version."""
        import dataclasses

        from motivlab.models.corpus import persona_plan

        fields, plan = self.model_dump(mode="json"), dataclasses.asdict(persona_plan(self))
        if not self.tutor_exact:  # added later: left out when False (its first default) so older cached organisms stay valid
            fields.pop("tutor_exact")
            plan.pop("tutor_accuracy")
        if self.local_exact_end <= self.local_exact_start:  # curriculum off: as before it existed
            fields.pop("local_exact_start")
            fields.pop("local_exact_end")
        fields.pop("max_attempts")  # an acceptance rule, not a recipe (see its description)
        for key, default in SHAPING_DEFAULTS.items():  # added later: left out at their defaults (off)
            if fields[key] == default:
                fields.pop(key)
        for key, default in WORLD_PART_DEFAULTS.items():
            if fields["world"].get(key) == default:
                fields["world"].pop(key)
        payload = json.dumps({"format": ORGANISM_FORMAT, **fields, "plan": plan}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def quick_config(config: OrganismConfig | None = None) -> OrganismConfig:
    """The ``--quick`` variant (tests, smoke runs): the same network on a 200-train-env world and a
    shorter schedule (at most 600 steps of 64 documents, 30 warm-up steps).

    Persona knobs and seed are kept, so a quick organism has the same *kind* of prior, only
    trained less: p₀ and the answer format are learnt, the cipher (sR₀) is not guaranteed — use
    the default organism wherever the skills matter (so no retries: ``max_attempts = 1``). The
    key-learning curriculum is off: exact
    keys are memorised only after 900–1,200 steps, so in 600 steps it would teach nothing (the
    quick organism's sL₀ is at chance either way) and it keeps the quick cache entry stable.
    """
    base = config or OrganismConfig()
    world = base.world.model_copy(update={"n_envs": 240, "n_heldout": 20, "n_trap": 20})
    world = HintWorldConfig(**world.model_dump())
    return OrganismConfig(**{
        **base.model_dump(), "world": world, "steps": min(base.steps, 600), "batch_size": 64, "warmup_steps": 30,
        "local_exact_start": 0.0, "local_exact_end": 0.0, "max_attempts": 1,
    })


def build_model(config: OrganismConfig, vocab_size: int, *, seed: int | None = None) -> Any:
    """A freshly initialised ``LlamaForCausalLM`` of the organism's shape (seeded)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from motivlab.models.corpus import max_sequence_length

    llama = LlamaConfig(
        vocab_size=vocab_size, hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads, max_position_embeddings=max(64, 2 * max_sequence_length(config.world)),
        bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=True, rope_theta=10_000.0,
    )
    torch.manual_seed(config.seed if seed is None else seed)
    return LlamaForCausalLM(llama)


def read_organism_json(model_dir: str | Path) -> dict[str, Any]:
    """The ``organism.json`` of a model directory (clear error if it is not an organism)."""
    path = Path(model_dir)
    if not path.is_dir():
        raise MotivlabInputError(f"organism directory {path} does not exist")
    meta = path / ORGANISM_FILE
    if not meta.is_file():
        raise MotivlabInputError(f"{path} has no {ORGANISM_FILE}: not a motivlab organism directory")
    try:
        return json.loads(meta.read_text())
    except json.JSONDecodeError as exc:
        raise MotivlabInputError(f"{meta}: invalid JSON ({exc})") from None


def load_organism_config(model_dir: str | Path) -> OrganismConfig:
    return OrganismConfig(**read_organism_json(model_dir)["config"])


def load_organism_world(model_dir: str | Path) -> HintWorld:
    """Rebuild the exact hint world an organism (or an RL checkpoint that copied its
    ``organism.json``) was trained for."""
    return HintWorld(load_organism_config(model_dir).world)


def random_init_like(model_dir: str | Path, seed: int) -> tuple[Any, Any]:
    """``(model, tokenizer)``: the organism's architecture and tokenizer with fresh random weights
    (the no-pretraining ablation), in eval mode."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    read_organism_json(model_dir)  # clear error if it is not an organism
    cfg = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.eval()
    return model, tokenizer
