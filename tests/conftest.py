"""Shared pytest fixtures. Each block is owned by the pillar named in its banner; add yours in
your own block rather than editing another's."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# ---------------------------------------------------------------------------------------------
# hypothesis (owner: lead). In CI the examples are derandomised: a red build must be
# reproducible by rerunning it, and property tests should not fail on one run in a hundred.
# Locally they stay random to keep finding new cases.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# ---------------------------------------------------------------------------------------------
# torch threads (owner: lead). Tiny models run fastest on one thread, which is also immune to an
# oversubscribed CI machine; a module opts in with
# ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
@pytest.fixture(scope="module")
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# organism fixtures (owner: models/organism + measure, helper D2)
# One --quick organism per test session (pretrained once, < 60 s on 2 cores, then reused from
# the motivlab cache by every test and by later sessions).


@pytest.fixture(scope="session")
def organism_quick_dir():
    """Directory of the cached ``--quick`` organism (default persona knobs)."""
    from motivlab.models.pretrain import ensure_organism

    return ensure_organism(quick=True, progress=False)


@pytest.fixture(scope="session")
def organism_quick(organism_quick_dir):
    """``(model, tokenizer, world)`` of the quick organism, model in eval mode."""
    from motivlab.models.loading import load_causal_lm
    from motivlab.models.organism import load_organism_world

    model, tokenizer = load_causal_lm(organism_quick_dir)
    return model, tokenizer, load_organism_world(organism_quick_dir)


# ---------------------------------------------------------------------------------------------
# tiny model directory (owner: rl). A random tiny Llama + character tokenizer for the hint world
# of rl_tiny_run.TINY_HINT_WORLD, saved once per session for the CLI, trust and sweep tests.
@pytest.fixture(scope="session")
def tiny_hint_model_dir(tmp_path_factory):
    import torch

    from motivlab.rl.tiny import char_tokenizer, tiny_llama
    from motivlab.worlds.hint import HintWorld, HintWorldConfig
    from rl_tiny_run import TINY_HINT_WORLD

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    world = HintWorld(HintWorldConfig(**TINY_HINT_WORLD))
    tok = char_tokenizer(world.alphabet)
    path = tmp_path_factory.mktemp("tiny-model")
    tiny_llama(tok).save_pretrained(path)
    tok.save_pretrained(path)
    torch.set_num_threads(before)
    return path
