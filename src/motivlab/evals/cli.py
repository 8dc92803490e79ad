"""``motivlab eval run|analyze|synthetic`` and ``motivlab serve``.

Model specs: ``smollm2`` (SmolLM2-135M-Instruct, shipped), a path (``save_pretrained``
directory, RL checkpoint ``checkpoints/step_XXXXXX``, or a ``.gguf`` file), or
``openai:MODEL@BASE_URL`` for any OpenAI-compatible endpoint (key from ``--api-key-env``).

    motivlab eval run --model smollm2 --limit 5 --measures pre,post --out runs/eval
    motivlab eval run --model openai:llama3@http://localhost:8000/v1 --judge openai:gpt-4o-mini@https://api.openai.com/v1 --out runs/eval
    motivlab eval analyze runs/eval
    motivlab eval from-inspect logs/ --out runs/inspect-eval     # Inspect logs -> results table
    motivlab serve smollm2 --port 8000
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from motivlab._cli import fail, user_errors

app = typer.Typer(no_args_is_help=True, help="Self-reported motivation vs behaviour: run the protocol, analyze.")


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


@app.command("run")
@user_errors
def run_command(
    model: Annotated[str, typer.Option(help="model spec: smollm2 | PATH | openai:MODEL@BASE_URL")] = "smollm2",
    out: Annotated[Path, typer.Option(help="results folder (rerun the same command to resume)")] = Path("runs/eval"),
    judge: Annotated[str | None, typer.Option(help="judge model spec (default: the model itself)")] = None,
    measures: Annotated[str | None, typer.Option(help="comma list of pre,breakdown,performance,tokens,post,post_similar,choice (default: all)")] = None,
    conditions: Annotated[str | None, typer.Option(help="comma list of conditions (default: control + all ten manipulations)")] = None,
    samples: Annotated[int, typer.Option(help="samples per item")] = 2,
    limit: Annotated[int | None, typer.Option(help="first K sub-tasks (round-robin over tasks) and K choice pairs")] = None,
    max_tokens: Annotated[int, typer.Option(help="token cap of task execution / choice replies")] = 1000,
    report_max_tokens: Annotated[int, typer.Option(help="token cap of self-report replies (breakdown: 2x)")] = 64,
    prefill: Annotated[bool | None, typer.Option("--prefill/--no-prefill", help="start report/choice/judge replies with the opening of the requested JSON (default: on for local models; endpoints cannot)")] = None,
    stop_after_json: Annotated[bool, typer.Option(help="local models: end a report/judge reply once its JSON closes")] = True,
    structured: Annotated[bool, typer.Option(help="local models: hold prefilled replies to their JSON shape (grammar-constrained; the model writes reason and digits)")] = False,
    judge_max_tokens: Annotated[int, typer.Option(help="token cap of judge replies")] = 300,
    temperature: Annotated[float, typer.Option(help="sampling temperature of the model (0 = greedy)")] = 0.7,
    batch_size: Annotated[int, typer.Option(help="local models: conversations decoded together")] = 32,
    threads: Annotated[int | None, typer.Option(help="local models: torch CPU threads (default: torch's choice)")] = None,
    device: Annotated[str, typer.Option(help="local models: auto (CUDA when available), cpu, cuda or cuda:N")] = "auto",
    concurrency: Annotated[int, typer.Option(help="endpoints: requests in flight")] = 8,
    timeout_s: Annotated[float, typer.Option(help="endpoints: per-request timeout (s)")] = 120.0,
    max_retries: Annotated[int, typer.Option(help="endpoints: retries with exponential backoff")] = 4,
    api_key_env: Annotated[str, typer.Option(help="environment variable holding the API key")] = "OPENAI_API_KEY",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Run (or resume) the self-report protocol; writes calls.jsonl, results.parquet/csv, run.json."""
    from motivlab.evals.backends import BackendError
    from motivlab.evals.runner import EvalRunConfig, run_eval

    fields = {"measures": _split(measures), "conditions": _split(conditions)}
    cfg = EvalRunConfig(
        model=model, out=out, judge=judge, samples=samples, limit=limit, max_tokens=max_tokens,
        report_max_tokens=report_max_tokens, prefill=prefill, stop_after_json=stop_after_json, structured=structured, judge_max_tokens=judge_max_tokens, temperature=temperature,
        batch_size=batch_size, threads=threads, device=device, concurrency=concurrency, timeout_s=timeout_s, max_retries=max_retries,
        api_key_env=api_key_env, seed=seed, **{k: v for k, v in fields.items() if v is not None},
    )
    try:
        summary = run_eval(cfg)
    except BackendError as exc:
        fail(f"{exc}\ncompleted calls are saved in {out}; rerun the same command to resume")
    typer.echo(f"results: {out / 'results.parquet'} ({summary['result_rows']} rows, status {summary['status']})")


@app.command("from-inspect")
@user_errors
def from_inspect_command(
    logs: Annotated[list[Path], typer.Argument(help="Inspect log files or log folders (from motivlab.evals.inspect_tasks)")],
    out: Annotated[Path, typer.Option(help="folder for results.parquet/csv, calls.jsonl, parse_rates.csv")] = Path("runs/inspect-eval"),
) -> None:
    """Convert Inspect logs of the motivlab tasks into our results table (then: motivlab eval analyze OUT)."""
    try:
        from motivlab.evals.inspect_tasks import results_from_logs
    except ImportError as exc:
        fail(f"{exc}; install the Inspect extra: pip install 'motivlab[inspect]'")
    path = results_from_logs(logs, out)
    typer.echo(f"results: {path}; next: motivlab eval analyze {out}")


@user_errors
def serve_command(
    model: Annotated[str, typer.Argument(help="model spec: smollm2 | directory | .gguf | RL checkpoint")] = "smollm2",
    port: Annotated[int, typer.Option(help="TCP port (0 = any free port; the ready line says which)")] = 8000,
    host: Annotated[str, typer.Option(help="interface to bind (127.0.0.1 = this machine only)")] = "127.0.0.1",
    batch_size: Annotated[int, typer.Option(help="rows (requests x n) decoded together")] = 8,
    name: Annotated[str | None, typer.Option(help="model id reported by /v1/models (default: the spec)")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads (default: torch's choice)")] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when available), cpu, cuda or cuda:N")] = "auto",
    api_key_env: Annotated[str, typer.Option(help="environment variable holding the bearer key; when it is set, /v1 requests must carry it")] = "MOTIVLAB_API_KEY",
    max_queue: Annotated[int, typer.Option(help="requests waiting for the model before new ones get a 503")] = 64,
    request_timeout: Annotated[float, typer.Option(help="seconds before an unanswered request gets a 504")] = 600.0,
    max_body_mb: Annotated[float, typer.Option(help="largest request body (MB); larger ones get a 413")] = 8.0,
    max_n: Annotated[int, typer.Option(help="largest n (choices per request)")] = 16,
    max_tokens: Annotated[int, typer.Option(help="largest max_tokens per reply; a request without max_tokens gets up to this")] = 2048,
) -> None:
    """Serve a local model over an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models)."""
    from motivlab.errors import check_range
    from motivlab.evals.server import Limits, serve

    check_range("port", port, low=0, high=65535)
    limits = Limits(max_queue=int(check_range("max_queue", max_queue, low=1, high=100_000)),
                    request_timeout_s=float(check_range("request_timeout", request_timeout, low=0.0, low_inclusive=False)),
                    max_body_bytes=int(check_range("max_body_mb", max_body_mb, low=0.0, low_inclusive=False) * 1024 * 1024),
                    max_n=int(check_range("max_n", max_n, low=1, high=1024)),
                    max_tokens=int(check_range("max_tokens", max_tokens, low=1, high=1_000_000)))
    serve(model, host=host, port=port, batch_size=batch_size, name=name, threads=threads, device=device,
          api_key_env=api_key_env, limits=limits)


def _mount_analysis() -> None:
    """The analysis commands live in analysis_cli (its owner's module); mount them if present."""
    try:
        from motivlab.evals.analysis.cli import analyze_command
    except ImportError:
        return
    app.command("analyze")(analyze_command)
    try:
        from motivlab.evals.analysis.cli import synthetic_command
    except ImportError:
        return
    app.command("synthetic")(synthetic_command)


_mount_analysis()


if __name__ == "__main__":  # `python -m motivlab.evals.cli run ...` = `motivlab eval run ...`, without other pillars' imports
    app()
