"""`[[interventions]]` in the RL run config: validation, TOML round trip, --set, exit 2 on the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from motivlab.cli import app
from motivlab.io import read_toml, write_toml
from motivlab.rl import build_config
from motivlab.rl.config import config_to_dict

GOOD = [
    {"kind": "filter", "monitor": "world"},
    {"kind": "filter", "monitor": "regex", "patterns": {"^G": "reward_seeking"}, "mode": "zero_advantage"},
    {"kind": "monitor_penalty", "penalty": 0.5, "monitor": "measure"},
    {"kind": "prompt_prefix", "text": "abc|"},
]


def test_good_interventions_validate_and_round_trip_through_toml(tmp_path):
    config = build_config({"interventions": GOOD})
    assert [i.kind for i in config.interventions] == ["filter", "filter", "monitor_penalty", "prompt_prefix"]
    assert config.interventions[0].mode == "drop" and config.interventions[0].route == "reward_seeking"
    path = write_toml(tmp_path / "config.toml", config_to_dict(config))
    assert build_config(read_toml(path)) == config
    assert build_config({}).interventions == []  # runs without the key: no interventions


@pytest.mark.parametrize("bad, message", [
    ({"kind": "filtr"}, "'filter', 'monitor_penalty', 'prompt_prefix'"),
    ({"monitor": "world"}, "interventions.0"),  # no kind
    ({"kind": "filter", "monitor": "judge"}, "interventions.0.filter.monitor: Input should be 'world', 'regex' or 'measure'"),
    ({"kind": "filter", "mode": "skip"}, "interventions.0.filter.mode: Input should be 'drop' or 'zero_advantage'"),
    ({"kind": "filter", "route": "RS"}, "interventions.0.filter.route"),
    ({"kind": "filter", "treshold": 1}, "interventions.0.filter.treshold: Extra inputs are not permitted"),
    ({"kind": "filter", "patterns": {"^G": "reward_seeking"}}, "only used with monitor = 'regex'"),
    ({"kind": "filter", "monitor": "regex", "patterns": {"(": "local"}}, "invalid regular expression"),
    ({"kind": "filter", "monitor": "regex", "patterns": {"^G": "greedy"}}, "must be one of ['reward_seeking'"),
    ({"kind": "monitor_penalty", "penalty": 0}, "interventions.0.monitor_penalty.penalty: Input should be greater than 0"),
    ({"kind": "monitor_penalty", "penalty": float("nan")}, "interventions.0.monitor_penalty.penalty"),
    ({"kind": "prompt_prefix"}, "interventions.0.prompt_prefix.text: Field required"),
    ({"kind": "prompt_prefix", "text": ""}, "interventions.0.prompt_prefix.text"),
])
def test_bad_interventions_name_the_field_and_allowed_values(bad, message):
    with pytest.raises(ValueError, match="invalid config") as err:
        build_config({"interventions": [bad]})
    assert message in str(err.value)


def test_set_override_builds_the_list():
    config = build_config({}, ['interventions=[{kind="filter"}, {kind="monitor_penalty", penalty=0.25}]'])
    assert [i.kind for i in config.interventions] == ["filter", "monitor_penalty"]
    assert config.interventions[1].penalty == 0.25


def test_cli_bad_intervention_exits_2(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('steps = 1\n[[interventions]]\nkind = "filter"\nmonitor = "oracle"\n')
    result = CliRunner().invoke(app, ["train", str(cfg), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "interventions.0.filter.monitor" in result.output and "'world', 'regex' or 'measure'" in result.output
    assert not (tmp_path / "o").exists()


def test_interventions_example_is_positive_gap_plus_filtering():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "examples"
    example, base = read_toml(root / "interventions_filter.toml"), read_toml(root / "positive_gap.toml")
    config = build_config(example)
    assert [i.kind for i in config.interventions] == ["filter"]
    assert {k: v for k, v in example.items() if k != "interventions"} == base


def test_cap_example_is_positive_gap_plus_steer():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "examples"
    example, base = read_toml(root / "interventions_cap.toml"), read_toml(root / "positive_gap.toml")
    assert [i.kind for i in build_config(example).interventions] == ["steer"]
    assert {k: v for k, v in example.items() if k != "interventions"} == base
