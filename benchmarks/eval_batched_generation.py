"""Batched local generation vs one prompt at a time, at identical settings, on SmolLM2.

Both arms send the same N pre-task self-report prompts (control condition, the first N
sub-tasks round-robin over tasks) through :class:`LocalBackend` with greedy decoding and the
same token cap; only ``batch_size`` differs (B vs 1). Greedy decoding makes the two arms
produce the same replies (checked and reported), so the comparison is like for like.

Optionally (``--full-pre``) it times pre-task self-reports over the *whole* task set
(1,391 sub-tasks x 2 samples, control) by measuring ``--full-subset`` sub-tasks x 2 samples
(temperature 0.7, ``--full-batch`` conversations per batch) and extrapolating linearly (and says
so), in two arms on the same calls: the old settings (200-token cap, no prefill, no stop) and
the run defaults (64-token cap, JSON prefill, stop once the JSON closes), with each arm's parse rate.

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


def _full_pre(backend, n_subset: int) -> None:
    """Old vs new report settings on the same n_subset x 2 pre-task calls; whole-set extrapolation."""
    from motivlab.evals import prompts
    from motivlab.evals.backends import GenerationParams
    from motivlab.evals.parsing import parse_score
    from motivlab.evals.tasks import load_tasks

    n_sub = sum(len(t.subtasks) for t in load_tasks())
    total_calls = n_sub * 2  # control, 2 samples (run defaults)
    arms = {
        "old (200 tokens, no prefill, no stop)": ("", GenerationParams(200, 0.7)),
        "new (64 tokens, prefill, stop at JSON end)": (prompts.REPORT_PREFILL, GenerationParams(64, 0.7, 0, True)),
    }
    seconds = []
    for name, (prefill, params) in arms.items():
        convs = _prompts(n_subset, samples=2, prefill=prefill)
        seeds = list(range(len(convs)))
        t0 = time.perf_counter()
        out = dict(backend.generate(convs, params, seeds=seeds))
        t = time.perf_counter() - t0
        seconds.append(t)
        tok = sum(c.completion_tokens for c in out.values()) / len(convs)
        parsed = sum(parse_score(prefill + c.text) is not None for c in out.values())
        print(f"{name}: {len(convs)} calls in {t:.1f} s ({t / len(convs):.2f} s/call, {tok:.0f} tokens/reply), "
              f"parsed {parsed}/{len(convs)}; EXTRAPOLATED whole set ({total_calls} calls): {t / len(convs) * total_calls / 60:.1f} min")
    print(f"old/new time ratio on pre-task reports: {seconds[0] / seconds[1]:.2f}")


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
    ap.add_argument("--full-subset", type=int, default=32, help="sub-tasks (x 2 samples) measured for the whole-set estimate")
    ap.add_argument("--full-batch", type=int, default=8, help="batch size of the whole-set estimate (run default 8)")
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
