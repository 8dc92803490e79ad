"""GRPO on a motivlab organism with TRL's ``GRPOTrainer``, writing our run directory.

The reward is the world's grader, every rollout is labelled by the world's monitor, and the
callback writes what ``motivlab train`` writes (metrics with exact held-out and trap
measurement, rollouts, steps, summary.json, figures, report.html); TRL writes its checkpoints
(with the organism's ``organism.json``) to ``OUT/trl``.

    python examples/trl_grpo.py --out runs/trl --max-steps 60              # one process
    python examples/trl_grpo.py --out runs/trl --max-steps 60 --resume     # after a kill
    accelerate launch --cpu --num_processes 2 examples/trl_grpo.py --out runs/trl2 --max-steps 20
    accelerate launch --num_processes 8 examples/trl_grpo.py --out runs/trl8 --device-batch 16
    python examples/trl_grpo.py --out runs/trl-vllm --use-vllm --vllm-mode colocate   # GPU + vllm

``--quick`` uses the small test organism (pretrained in < 1 min). Each process draws
``--device-batch`` completions per step (``num_generations`` of each prompt); with N processes
a step sees N x that many. See docs/monitors_and_trl.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="run directory (ours); TRL's checkpoints go to OUT/trl")
    ap.add_argument("--quick", action="store_true", help="the small test organism instead of the default one")
    ap.add_argument("--max-steps", type=int, default=60)
    ap.add_argument("--save-steps", type=int, default=10, help="TRL checkpoint every this many steps")
    ap.add_argument("--num-generations", type=int, default=8, help="completions per prompt (the GRPO group)")
    ap.add_argument("--device-batch", type=int, default=64, help="completions per process per step")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true", help="continue from the last TRL checkpoint in OUT/trl")
    ap.add_argument("--use-vllm", action="store_true", help="generate with vLLM (GPU; pip install vllm)")
    ap.add_argument("--vllm-mode", choices=["colocate", "server"], default="colocate",
                    help="colocate: vLLM inside each training process; server: a separate `trl vllm-serve`")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None, callbacks: Sequence[Any] = ()) -> Path:
    import torch
    from trl import GRPOConfig, GRPOTrainer

    from motivlab.integrations.trl import stop_at_world_stop, trl_kit
    from motivlab.models import ensure_organism, load_causal_lm, load_organism_world
    from motivlab.rl.setup import default_max_new_tokens

    args = parse(argv)
    organism = ensure_organism(quick=args.quick, progress=False)
    model, tokenizer = load_causal_lm(organism)
    world = load_organism_world(organism)
    stop_at_world_stop(model, tokenizer, world)  # completions end at the world's stop, as in our sampler
    kit = trl_kit(world, args.out, organism_dir=organism, seed=args.seed, repeats=64,
                  config={"model": {"organism": str(organism), "quick": args.quick}})
    config = GRPOConfig(
        output_dir=str(args.out / "trl"), max_steps=args.max_steps, save_steps=args.save_steps, save_strategy="steps",
        per_device_train_batch_size=args.device_batch, num_generations=args.num_generations,
        max_completion_length=default_max_new_tokens(world), temperature=1.0, learning_rate=args.lr, beta=0.0,
        logging_steps=1, report_to="none", seed=args.seed, bf16=False, use_cpu=not torch.cuda.is_available(),
        use_vllm=args.use_vllm, vllm_mode=args.vllm_mode, disable_tqdm=True,
    )
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, args=config, train_dataset=kit.dataset,
                          reward_funcs=kit.reward_funcs, callbacks=[*kit.callbacks, *callbacks])
    trainer.train(resume_from_checkpoint=True if args.resume else None)
    return args.out


if __name__ == "__main__":
    print(f"run directory: {main()}")
