"""The shipped task set: size, ids, categories, choice pairs, self-consistent answers, reproducible build."""

from __future__ import annotations

import dataclasses
from importlib import resources

import pytest

from motivlab.evals.data import build
from motivlab.evals.data._verifiable import atom_count
from motivlab.evals.tasks import (
    CATEGORIES,
    Subtask,
    check_answer,
    load_choice_pairs,
    load_tasks,
    subtask_index,
    task_index,
)


def test_sizes_match_the_paper_scale():
    tasks = load_tasks()
    assert len(tasks) >= 250
    assert sum(len(t.subtasks) for t in tasks) >= 1000
    assert len(load_choice_pairs()) == 200
    assert len(CATEGORIES) == 15


def test_ids_unique_and_grouped_by_task():
    tasks = load_tasks()
    assert len({t.task_id for t in tasks}) == len(tasks)
    sub_ids = [s.subtask_id for t in tasks for s in t.subtasks]
    assert len(set(sub_ids)) == len(sub_ids)
    for t in tasks:
        assert t.subtasks, t.task_id
        assert all(s.task_id == t.task_id and s.subtask_id.startswith(t.task_id + "-") for s in t.subtasks)
        assert len({s.prompt for s in t.subtasks}) == len(t.subtasks), f"repeated prompt in {t.task_id}"


def test_every_category_used_and_some_tasks_multilabel():
    tasks = load_tasks()
    used = {c for t in tasks for c in t.categories}
    assert used == set(CATEGORIES)
    assert all(set(t.categories) <= set(CATEGORIES) and len(set(t.categories)) == len(t.categories) for t in tasks)
    assert sum(len(t.categories) > 1 for t in tasks) >= 30
    for c in CATEGORIES:  # enough tasks per category for the category regression
        assert sum(c in t.categories for t in tasks) >= 10, c


def test_choice_pairs_refer_to_existing_subtasks_of_different_tasks():
    index = subtask_index()
    pairs = load_choice_pairs()
    assert len({p.pair_id for p in pairs}) == len(pairs)
    for p in pairs:
        a, b = index[p.subtask_id_1], index[p.subtask_id_2]
        assert a.task_id != b.task_id
    primaries = {task_index()[index[p.subtask_id_1].task_id].categories[0] for p in pairs}
    assert primaries == set(CATEGORIES)


def test_answers_pass_their_own_checker_and_wrong_ones_fail():
    verifiable = [s for s in subtask_index().values() if s.answer is not None]
    assert len(verifiable) >= 300
    assert {s.checker for s in verifiable} == {"exact", "numeric", "contains"}
    for s in verifiable:
        assert check_answer(s, s.answer), s
        assert check_answer(s, f"Let me think.\nAnswer: {s.answer}"), s
        wrong = str(float(s.answer) + 1) if s.checker == "numeric" else "zzzq"
        assert not check_answer(s, wrong), s


def test_open_ended_subtasks_have_no_score():
    open_ended = [s for s in subtask_index().values() if s.answer is None]
    assert open_ended and all(s.checker is None and check_answer(s, "anything") is None for s in open_ended)


@pytest.mark.parametrize(
    ("checker", "answer", "reply", "ok"),
    [
        ("numeric", "64", "The next number is 64.", True),
        ("numeric", "64", "The answer is 64, because 32 × 2 = 64.", True),
        ("numeric", "-3", "x = −3", True),
        ("numeric", "1234", "1,234", True),
        ("numeric", "64", "Maybe 63", False),
        ("exact", "ana", "The tallest is Ana.", True),
        ("exact", "no", "No.", True),
        ("exact", "no", "Yes, it follows.", False),
        ("contains", "fünf", "The German word is 'funf'.", True),
        ("contains", "pan", "In Spanish: bread.", False),
    ],
)
def test_checker_tolerance(checker, answer, reply, ok):
    assert check_answer(Subtask("x-1-0", "x-1", "q", answer, checker), reply) is ok


def test_atom_count_from_formula():
    assert atom_count("H2O") == 3 and atom_count("C2H5OH") == 9 and atom_count("NaCl") == 2


def test_build_is_deterministic_and_matches_shipped_files(tmp_path):
    build.build(tmp_path)
    shipped = resources.files("motivlab.evals.data")
    for name in ("tasks.jsonl", "choice_pairs.jsonl"):
        assert (tmp_path / name).read_bytes() == shipped.joinpath(name).read_bytes(), name


def test_loaded_objects_are_frozen():
    t = load_tasks()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.title = "changed"  # type: ignore[misc]
