"""Success intervals and paired comparisons of the benchmark table against hand computations."""

import math

import pytest

from sfplan.eval.benchmark import MethodResult, compare_on_same_seeds, success_interval


def wilson(successes: int, episodes: int, z: float = 1.959963984540054) -> tuple[float, float]:
    rate = successes / episodes
    centre = (rate + z * z / (2 * episodes)) / (1 + z * z / episodes)
    half = z * math.sqrt(rate * (1 - rate) / episodes + z * z / (4 * episodes**2)) / (1 + z * z / episodes)
    return centre - half, centre + half


@pytest.mark.parametrize("successes, episodes", [(48, 50), (0, 50), (50, 50), (7, 13)])
def test_success_interval_is_the_wilson_interval(successes, episodes):
    assert success_interval(successes, episodes) == pytest.approx(wilson(successes, episodes), abs=1e-9)
    low, high = success_interval(successes, episodes)
    assert 0.0 <= low <= successes / episodes <= high <= 1.0


def test_success_interval_refuses_impossible_counts():
    with pytest.raises(ValueError, match="0 <= successes <= episodes"):
        success_interval(51, 50)


def test_paired_comparison_counts_discordant_seeds_and_sign_test():
    comparison = compare_on_same_seeds(failed_seeds=[5], reference_failed_seeds=[1, 2, 3, 4, 6, 7])
    # won 6 (1, 2, 3, 4, 6, 7), lost 1 (5): P(split at least 6:1 either way) = 2 * (1 + 7) / 2**7
    assert (comparison.won, comparison.lost) == (6, 1)
    assert comparison.p_value == pytest.approx(16 / 128)
    tie = compare_on_same_seeds([1, 2], [1, 2])
    assert (tie.won, tie.lost, tie.p_value) == (0, 0, 1.0)


def test_stages_reached_counts_episodes_that_completed_at_least_each_sub_goal():
    result = MethodResult(successes=[False, False, True, False], max_stages=[0, 2, 3, 1])
    assert result.stages_reached(3) == [0.75, 0.5, 0.25]
