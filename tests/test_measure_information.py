"""Information accounting: known values and input checks."""

import math

import numpy as np
import pytest

from motivlab.errors import MotivlabInputError
from motivlab.measure.information import binary_entropy, information_table, pretraining_bits, rl_bits


def test_binary_entropy_known_values():
    assert binary_entropy(0.5) == pytest.approx(1.0)
    assert binary_entropy(0.0) == 0.0 and binary_entropy(1.0) == 0.0
    np.testing.assert_allclose(binary_entropy(np.array([0.11, 0.89])), [0.4999, 0.4999], atol=1e-3)


def test_pretraining_bits_upper_and_reduction():
    out = pretraining_bits(1000, 64, final_loss_nats=math.log(2) * 2.0)  # loss 2 bits/token
    assert out["bits_upper"] == pytest.approx(6000)
    assert out["bits_estimate"] == pytest.approx(4000)


def test_rl_bits_at_most_one_per_event():
    out = rl_bits(500, mean_reward=0.5)
    assert out["bits_upper"] == 500 and out["bits_estimate"] == pytest.approx(500)
    assert rl_bits(500, mean_reward=0.0)["bits_estimate"] == 0.0


def test_information_table_side_by_side():
    t = information_table(pretrain_tokens=10_000, vocab_size=70, pretrain_final_loss_nats=1.0,
                          rl_reward_events=2_000, rl_mean_reward=0.2)
    assert list(t.phase) == ["pretraining", "rl"]
    assert t.bits_upper.notna().all() and t.bits_estimate.notna().all()
    assert (t.bits_estimate <= t.bits_upper).all()


@pytest.mark.parametrize("kw", [{"supervised_tokens": -1, "vocab_size": 10}, {"supervised_tokens": 1, "vocab_size": 1}])
def test_pretraining_bits_rejects_bad_input(kw):
    with pytest.raises(MotivlabInputError):
        pretraining_bits(**kw)


def test_rl_bits_rejects_mean_outside_unit_interval():
    with pytest.raises(MotivlabInputError, match="mean_reward"):
        rl_bits(10, mean_reward=1.5)
