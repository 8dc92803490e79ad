"""`motivlab world show` (the sub-app, mounted or not)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from motivlab.worlds.cli import app

runner = CliRunner()


def test_show_prints_sizes_and_envs():
    res = runner.invoke(app, ["show", "--set", "n_envs=200", "--set", "n_heldout=10", "--set", "n_trap=5",
                              "--split", "trap", "-n", "2"])
    assert res.exit_code == 0, res.output
    assert "n_key_regions=" in res.output and "fingerprint=" in res.output
    assert res.output.count("reward 0)") == 2  # note-followers fail on traps


def test_show_json_and_none_override():
    res = runner.invoke(app, ["show", "--json", "--set", "n_envs=100", "--set", "n_heldout=5", "--set", "n_trap=5",
                              "--set", "local_transfer_length=none"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["n_key_regions"] == 100


def test_show_bad_field_exits_2_naming_it():
    res = runner.invoke(app, ["show", "--set", "key_lenght=3"])
    assert res.exit_code == 2 and "key_lenght" in res.output
    res = runner.invoke(app, ["show", "--set", "key_length=0"])
    assert res.exit_code == 2 and "key_length" in res.output
