"""Batched local generation vs one prompt at a time, at identical settings, on SmolLM2.

Both arms send the same N pre-task self-report prompts (control condition, the first N
sub-tasks round-robin over tasks) through :class:`LocalBackend` with greedy decoding and the
same token cap; only ``batch_size`` differs (B vs 1). Greedy decoding makes the two arms
produce the same replies (checked and reported), so the comparison is like for like.

Optionally (``--full-pre``) it compares, on the same pre-task calls (``--full-subset``
sub-tasks x 2 samples, control, temperature 0.7, 64-token cap, JSON prefill, stop once the JSON
closes), the backend's decoder (``motivlab.models.generation.decode``: shared prefix once, distinct prompts
once, static cache, finished rows dropped; ``--full-batch`` rows) with the previous
implementation, ``model.generate`` on left-padded batches of 32 with a JSON stopping criterion,
and extrapolates both to the whole task set (1,391 sub-tasks x 2 samples; says so). The
whole-set time itself is measured with ``motivlab eval run`` (README).

    python benchmarks/eval_batched_generation.py                 # N=32, B=32, 48 tokens
    python benchmarks/eval_batched_generation.py --full-pre      # + whole-task-set estimate
    python benchmarks/eval_batched_generation.py --full-pre --no-ratio   # only the estimate

The last line printed is the headline: ``batched/sequential throughput ratio: X``.
"""

from __future__ import annotations

import argparse
import time


def _prompts(n: int, samples: int = 1, prefill: str = "") -> list[list[dict[str, str]]]:
    from motivlab.evals import prompts
    from motivlab.evals.runner import round_robin
    from motivlab.evals.tasks import load_tasks

    subs = [s for _, s in round_robin(load_tasks())]
    chosen = subs if n <= 0 else subs[:n]
    tail = [{"role": "assistant", "content": prefill}] if prefill else []
    return [[{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": prompts.PRE.format(task=s.prompt)},
             *tail] for s in chosen for _ in range(samples)]


def _generate_hf(backend, convs, params, batch_size: int) -> dict[int, str]:
    """The previous local backend: ``model.generate`` on left-padded batches, stopped per row once
    its JSON object closes (a ``StoppingCriteria``), global RNG seeded per batch."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    from motivlab.evals.backends import json_object_end, split_prefill

    tok, out = backend.tokenizer, {}
    texts = [backend.render(c) for c in convs]
    prefills = [split_prefill(c)[1] for c in convs]
    order = sorted(range(len(texts)), key=lambda i: len(tok(texts[i], add_special_tokens=False)["input_ids"]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        enc = tok([texts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
        width, pre = enc["input_ids"].shape[1], [prefills[i] for i in chunk]

        class JsonClosed(StoppingCriteria):
            def __init__(self, width: int, pre: list[str]) -> None:
                self.width, self.pre = width, pre

            def __call__(self, input_ids, scores, **kwargs):
                new = input_ids[:, self.width:].tolist()
                return torch.tensor([bool(r) and json_object_end(p + tok.decode(r)) is not None
                                     for r, p in zip(new, self.pre, strict=True)])

        torch.manual_seed(start)
        with torch.no_grad():
            gen = backend.model.generate(**enc, max_new_tokens=params.max_tokens, do_sample=True,
                                         temperature=params.temperature, top_p=1.0, top_k=0,
                                         pad_token_id=tok.pad_token_id, eos_token_id=backend._eos_ids,
                                         stopping_criteria=StoppingCriteriaList([JsonClosed(width, pre)]))
        for i, row in zip(chunk, gen[:, width:].tolist(), strict=True):
            out[i] = tok.decode(row, skip_special_tokens=True)
    return out


def _full_pre(backend, n_subset: int) -> None:
    """The decoder vs the previous ``generate`` path on the same n_subset x 2 pre-task calls."""
    from motivlab.evals import prompts
    from motivlab.evals.backends import GenerationParams
    from motivlab.evals.parsing import parse_score
    from motivlab.evals.tasks import load_tasks

    total_calls = sum(len(t.subtasks) for t in load_tasks()) * 2  # control, 2 samples (run defaults)
    params = GenerationParams(64, 0.7, 0, True)
    convs = _prompts(n_subset, samples=2, prefill=prompts.REPORT_PREFILL)
    arms = {
        "previous (model.generate, batch 32)": lambda: _generate_hf(backend, convs, params, 32),
        f"decoder (batch {backend.batch_size})": lambda: {i: c.text for i, c in
                                                     backend.generate(convs, params, seeds=list(range(len(convs))))},
    }
    seconds = []
    for name, run in arms.items():
        t0 = time.perf_counter()
        out = run()
        t = time.perf_counter() - t0
        seconds.append(t)
        parsed = sum(parse_score(prompts.REPORT_PREFILL + text) is not None for text in out.values())
        print(f"{name}: {len(convs)} calls in {t:.1f} s ({t / len(convs):.3f} s/call), parsed {parsed}/{len(convs)}; "
              f"EXTRAPOLATED whole set ({total_calls} calls): {t / len(convs) * total_calls / 60:.1f} min")
    print(f"previous/decoder time ratio on pre-task reports: {seconds[0] / seconds[1]:.2f}")


def _time(backend, convs, params) -> tuple[float, dict[int, object]]:
    t0 = time.perf_counter()
    out = dict(backend.generate(convs, params))
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32, help="prompts per arm")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    ap.add_argument("--full-pre", action="store_true", help="also estimate pre-task reports over the whole task set")
    ap.add_argument("--full-subset", type=int, default=64, help="sub-tasks (x 2 samples) measured for the whole-set estimate")
    ap.add_argument("--full-batch", type=int, default=128, help="rows per batch of the decoder arm")
    ap.add_argument("--no-ratio", action="store_true", help="skip the batched-vs-sequential comparison")
    args = ap.parse_args()

    from motivlab.evals.backends import GenerationParams
    from motivlab.evals.backends.local import LocalBackend

    t0 = time.perf_counter()
    batched = LocalBackend("smollm2", batch_size=args.batch_size, threads=args.threads)
    print(f"model loaded in {time.perf_counter() - t0:.1f} s (torch threads: {args.threads})")
    if args.full_pre:
        full = LocalBackend("smollm2", batch_size=args.full_batch, model=batched.model, tokenizer=batched.tokenizer)
        _full_pre(full, args.full_subset)
    if args.no_ratio:
        return
    sequential = LocalBackend("smollm2", batch_size=1, model=batched.model, tokenizer=batched.tokenizer)
    convs = _prompts(args.n)
    params = GenerationParams(max_tokens=args.max_tokens, temperature=0.0)
    _time(batched, convs[:2], GenerationParams(max_tokens=4, temperature=0.0))  # warm-up
    batched.stats.__init__()
    t_seq, out_seq = _time(sequential, convs, params)
    t_bat, out_bat = _time(batched, convs, params)
    tok_seq = sum(c.completion_tokens for c in out_seq.values())
    tok_bat = sum(c.completion_tokens for c in out_bat.values())
    same = sum(out_seq[i].text == out_bat[i].text for i in out_seq)
    print(f"prompts: {len(convs)}, max_tokens: {args.max_tokens}, greedy; batch size {args.batch_size} vs 1")
    print(f"sequential: {t_seq:.1f} s, {tok_seq} tokens, {tok_seq / t_seq:.1f} tokens/s")
    print(f"batched:    {t_bat:.1f} s, {tok_bat} tokens, {tok_bat / t_bat:.1f} tokens/s")
    print(f"identical replies: {same}/{len(convs)} (float round-off under padding can flip a greedy token)")

    print(f"batched/sequential throughput ratio: {(tok_bat / t_bat) / (tok_seq / t_seq):.2f}")


if __name__ == "__main__":
    main()
