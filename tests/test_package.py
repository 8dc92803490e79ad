"""The package imports and the command line mounts every pillar."""

import subprocess
import sys

import numpy as np
import pytest

from motivlab.errors import MotivlabInputError, check_range
from motivlab.io import append_jsonl, read_jsonl


def test_cli_help_lists_pillars():
    out = subprocess.run([sys.executable, "-m", "motivlab.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("theory", "organism", "world", "train", "demo", "eval", "serve"):
        assert command in out.stdout


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.1, 1.5])
def test_check_range_names_parameter(value):
    with pytest.raises(MotivlabInputError, match="p0"):
        check_range("p0", value, low=0, high=1, low_inclusive=False, high_inclusive=False)


def test_check_range_accepts_inside():
    assert check_range("p0", np.float32(0.25), low=0, high=1) == 0.25


def test_jsonl_survives_torn_line(tmp_path):
    log = tmp_path / "log.jsonl"
    append_jsonl(log, [{"a": 1}])
    with open(log, "a") as fh:  # a writer killed mid-record
        fh.write('{"a": 2, "b"')
    append_jsonl(log, [{"a": 3}])
    assert [r["a"] for r in read_jsonl(log)] == [1, 3]


def test_wilson_interval_known_value_and_empty():
    from motivlab.measure.stats import wilson_interval

    est, lo, hi = wilson_interval(np.array([5, 0]), np.array([10, 0]))
    assert est[0] == 0.5 and abs(lo[0] - 0.2366) < 1e-3 and abs(hi[0] - 0.7634) < 1e-3
    assert np.isnan(est[1]) and np.isnan(lo[1])
    _, lo0, hi0 = wilson_interval(0, 400)
    assert lo0 < 1e-12 and 0 < hi0 < 0.01


def test_theory_public_api_resolves():
    import motivlab.theory as theory

    for name in theory.__all__:
        assert getattr(theory, name) is not None, name
