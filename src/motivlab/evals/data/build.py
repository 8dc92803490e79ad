"""Regenerate the shipped task set: ``python -m motivlab.evals.data.build [OUT_DIR]``.

Every text comes from the templates and slot fillers in ``_open.py``, ``_passages.py`` and
``_verifiable.py`` (written for motivlab); one seeded ``random.Random`` drives all choices, so
rerunning rewrites ``tasks.jsonl`` and ``choice_pairs.jsonl`` byte-identically. Verifiable
sub-tasks carry an answer computed by the generator itself (correct by construction).

Layout: one line per task in ``tasks.jsonl`` ({task_id, title, categories, subtasks: [{subtask_id,
prompt, answer, checker}]}); one line per pair in ``choice_pairs.jsonl`` ({pair_id, subtask_id_1,
subtask_id_2}).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from motivlab.evals.data import _open, _passages, _verifiable
from motivlab.evals.tasks import CATEGORIES

SEED = 20260
TASKS_PER_VERIFIABLE_KIND = 3
N_CHOICE_PAIRS = 200
DATA_DIR = Path(__file__).resolve().parent


def _task(task_id: str, title: str, categories: tuple[str, ...], items: list[tuple[str, str | None, str | None]]) -> dict:
    subtasks = [
        {"subtask_id": f"{task_id}-{j}", "prompt": p, "answer": a, "checker": c} for j, (p, a, c) in enumerate(items)
    ]
    return {"task_id": task_id, "title": title, "categories": list(categories), "subtasks": subtasks}


def _verifiable_items(kind: _verifiable.VerifiableKind, rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """``n`` distinct items from one generator (redraw on a repeated prompt)."""
    items: dict[str, tuple[str, str, str]] = {}
    for _ in range(50 * n):
        prompt, answer, checker = kind.gen(rng)
        items.setdefault(prompt, (prompt, answer, checker))
        if len(items) == n:
            break
    return list(items.values())


def build_tasks(rng: random.Random) -> list[dict[str, Any]]:
    """All tasks, ids numbered per primary category (the first category listed)."""
    raw: list[tuple[str, tuple[str, ...], list]] = []
    for kinds in _open.KINDS.values():
        for kind in kinds:
            for topic in kind.topics:
                items = [(f"{kind.prompt.format(t=topic)} {v}", None, None) for v in kind.variants]
                raw.append((kind.title.format(t=topic), kind.categories, items))
    for kind in _passages.KINDS:
        titles: set[str] = set()
        while len(titles) < 5:
            title, passage = _passages.fill(kind, rng)
            if title in titles:
                continue
            titles.add(title)
            items = [(f"Here is a text:\n\n{passage}\n\n{v}", None, None) for v in _passages.SUMMARY_VARIANTS]
            raw.append((title, kind.categories, items))
    for kinds in _verifiable.KINDS.values():
        for kind in kinds:
            for k in range(TASKS_PER_VERIFIABLE_KIND):
                items = _verifiable_items(kind, rng, rng.randint(4, 6))
                raw.append((f"{kind.title} (set {k + 1})", kind.categories, items))
    counters: dict[str, int] = {}
    tasks = []
    for title, categories, items in raw:
        primary = categories[0]
        counters[primary] = counters.get(primary, 0) + 1
        tasks.append(_task(f"{primary}-{counters[primary]:03d}", title, categories, items))
    return tasks


def build_choice_pairs(tasks: list[dict[str, Any]], rng: random.Random, n: int = N_CHOICE_PAIRS) -> list[dict]:
    """``n`` pairs of sub-tasks from different tasks; task 1's primary category cycles through all categories."""
    by_category: dict[str, list[tuple[str, str]]] = {c: [] for c in CATEGORIES}
    for task in tasks:
        for sub in task["subtasks"]:
            by_category[task["categories"][0]].append((task["task_id"], sub["subtask_id"]))
    pairs: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    i = 0
    while len(pairs) < n:
        c1, c2 = CATEGORIES[i % len(CATEGORIES)], rng.choice(CATEGORIES)
        i += 1
        (t1, s1), (t2, s2) = rng.choice(by_category[c1]), rng.choice(by_category[c2])
        if t1 == t2 or (s1, s2) in seen or (s2, s1) in seen:
            continue
        seen.add((s1, s2))
        pairs.append({"pair_id": f"pair-{len(pairs):03d}", "subtask_id_1": s1, "subtask_id_2": s2})
    return pairs


def _jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def build(out_dir: Path = DATA_DIR, seed: int = SEED) -> tuple[Path, Path]:
    """Write ``tasks.jsonl`` and ``choice_pairs.jsonl`` into ``out_dir``; return their paths."""
    rng = random.Random(seed)
    tasks = build_tasks(rng)
    pairs = build_choice_pairs(tasks, rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks_path, pairs_path = out_dir / "tasks.jsonl", out_dir / "choice_pairs.jsonl"
    tasks_path.write_text(_jsonl(tasks), encoding="utf-8", newline="\n")
    pairs_path.write_text(_jsonl(pairs), encoding="utf-8", newline="\n")
    return tasks_path, pairs_path


if __name__ == "__main__":
    paths = build(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA_DIR)
    print("wrote", *paths)
