import argparse

import pytest

from sfplan.config_io import parse_key_values, parse_set_option


def test_key_values_parse_json_values_and_keep_other_text():
    assert parse_key_values(["samples=16", "prior_margin=1.5", "use_memory=false", "planner=cem"]) == {
        "samples": 16, "prior_margin": 1.5, "use_memory": False, "planner": "cem"}
    assert parse_key_values(["prior_margin=inf"]) == {"prior_margin": float("inf")}


def test_a_pair_without_equals_sign_is_named():
    with pytest.raises(ValueError, match="'samples16'"):
        parse_key_values(["samples16"])


def test_a_malformed_set_option_ends_the_script_with_a_usage_error(capsys):
    parser = argparse.ArgumentParser(prog="script")
    assert parse_set_option(parser, ["seed=1"]) == {"seed": 1}
    with pytest.raises(SystemExit):
        parse_set_option(parser, ["seed1"])
    assert "--set takes key=value pairs: expected key=value, got 'seed1'" in capsys.readouterr().err
