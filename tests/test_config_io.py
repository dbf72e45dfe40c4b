import pytest

from sfplan.config_io import parse_key_values


def test_key_values_parse_json_values_and_keep_other_text():
    assert parse_key_values(["samples=16", "prior_margin=1.5", "use_memory=false", "planner=cem"]) == {
        "samples": 16, "prior_margin": 1.5, "use_memory": False, "planner": "cem"}


def test_a_pair_without_equals_sign_is_named():
    with pytest.raises(ValueError, match="'samples16'"):
        parse_key_values(["samples16"])
