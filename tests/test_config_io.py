import argparse
import json
import math

import pytest

from sfplan.config_io import parse_key_values, parse_set_option, strict_json


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


def test_strict_json_writes_infinities_as_strings_and_nan_as_null():
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    text = strict_json({"b": [math.nan, -math.inf], "a": math.inf, "c": (1.5, 2)}, sort_keys=True)
    assert json.loads(text, parse_constant=refuse) == {"a": "inf", "b": [None, "-inf"], "c": [1.5, 2]}
    assert text.index('"a"') < text.index('"b"')
