"""GRPO in the natural-language world on a tiny random chat-format model: full fine-tuning and LoRA
(peft), two steps each; the LoRA checkpoint holds a loadable merged model and resumes exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motivlab.rl.config import build_config
from motivlab.rl.trainer import train
from motivlab.worlds.nl import NLWorld
from nl_tiny import tiny_chat

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NL = {"n_envs": 60, "n_heldout": 10, "n_trap": 10}
RUN = {
    "steps": 2, "device": "cpu", "model": {"spec": "smollm2", "chat_template": True},
    "world": {"source": "nl", "nl": NL}, "algorithm": {"prompts_per_step": 2, "group_size": 4},
    "sampling": {"max_new_tokens": 6}, "optim": {"lr": 1e-2},
    "measure": {"exact_every": 2, "exact_train_envs": 2, "exact_heldout_envs": 2, "exact_trap_envs": 2},
    "run": {"progress": False, "checkpoint_every": 1},
}


class DigitReward(NLWorld):
    """The nl world graded by the share of digits in the first line: a random model earns varied
    rewards, so GRPO has advantages to follow (the real grader pays ~never at random)."""

    def grade(self, prompt, completion):
        line = completion.split("\n", 1)[0]
        return sum(c.isdigit() for c in line) / max(len(line), 1)


def test_grpo_two_steps_full_and_lora(tmp_path):
    model, tok = tiny_chat()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    world = DigitReward(**NL)
    res = train(build_config(RUN), tmp_path / "full", model=model, tokenizer=tok, world=world)
    assert len(res.steps) == 2 and res.steps["grad_norm"].gt(0).all()
    assert any(not torch.equal(start[k], v) for k, v in model.state_dict().items())
    assert set(res.rollouts["route"]) <= {"reward_seeking", "local", "unknown"}
    exact = res.metrics.dropna(subset=["p_exact"])
    assert set(exact["split"]) == {"train", "heldout", "trap"} and exact["step"].max() == 2
    assert np.all((exact["p_exact"] >= 0) & (exact["p_exact"] <= 1))

    from motivlab.models.loading import load_causal_lm
    from motivlab.models.lora import apply_lora, trained_model_dir

    def lora_policy():
        m, t = tiny_chat()
        return apply_lora(m, r=4, alpha=8.0, dropout=0.0, target_modules=["q_proj", "v_proj"]), t

    policy, tok = lora_policy()
    lora = train(build_config(RUN), tmp_path / "lora", model=policy, tokenizer=tok, world=world)
    assert lora.steps["grad_norm"].gt(0).all()
    assert sum(p.numel() for p in policy.parameters() if p.requires_grad) < 0.2 * sum(
        p.numel() for p in policy.parameters())
    ckpt = tmp_path / "lora" / "checkpoints" / "step_000002"
    merged, mtok = load_causal_lm(trained_model_dir(ckpt))
    ids = torch.tensor([mtok("Solving: 12")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, policy(input_ids=ids).logits, atol=1e-4)
    # resume: one step, then extended to two, equals the uninterrupted run
    policy, tok = lora_policy()
    train(build_config(RUN, ["steps=1"]), tmp_path / "lora2", model=policy, tokenizer=tok, world=world)
    policy, tok = lora_policy()
    resumed = train(build_config(RUN), tmp_path / "lora2", model=policy, tokenizer=tok, world=world, resume=True)
    assert resumed.rollouts["completion"].tolist() == lora.rollouts["completion"].tolist()


def test_config_selects_the_nl_world_and_checks_lora():
    from motivlab.rl.setup import load_world

    cfg = build_config(RUN)
    assert isinstance(load_world(cfg.world, None), NLWorld)
    with pytest.raises(ValueError, match=r"model\.lora"):
        build_config(RUN, ["model.dtype='bfloat16'"])
    with pytest.raises(ValueError, match="organism"):
        build_config({"model": {"lora": {"r": 4}}})
    with pytest.raises(ValueError, match="source"):
        build_config(RUN, ["world.source='nlx'"])
    model, _ = tiny_chat()
    from motivlab.errors import MotivlabInputError
    from motivlab.models.lora import apply_lora

    with pytest.raises(MotivlabInputError, match="not linear layers"):
        apply_lora(model, r=4, alpha=8.0, dropout=0.0, target_modules=["qkv"])
