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
    for command in ("theory", "organism", "train", "demo", "eval", "serve"):
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
