"""Holm correction against hand computation, and the JSON shape the dashboard consumes."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from dashboard.stats import Comparison, compare_groups, compare_paired, correlate, holm


def comparison(p: float, name: str = "roi") -> Comparison:
    return Comparison(name=name, test="t", why="w", groups=[], statistic=0.0, p_value=p,
                      p_method="exact")


def holm_by_hand(p: list[float]) -> list[float]:
    """Textbook Holm: sort, multiply the i-th smallest by (m - i), running max, cap at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted, running = [0.0] * m, 0.0
    for step, i in enumerate(order):
        running = max(running, min(1.0, (m - step) * p[i]))
        adjusted[i] = running
    return adjusted


def test_holm_hand_computed_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max(0.06, 0.04)
    out = holm([comparison(p) for p in (0.01, 0.04, 0.03, 0.005)])
    assert [c.p_holm for c in out] == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_keeps_input_order_and_originals():
    family = [comparison(0.6, "left"), comparison(0.5, "right")]
    out = holm(family)
    assert [c.p_holm for c in out] == [1.0, 1.0]
    assert [c.name for c in out] == ["left", "right"]
    assert all(c.p_holm is None for c in family)  # copies, inputs untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        out[0].p_holm = 0.1  # type: ignore[misc]


def test_holm_matches_reference_on_random_families():
    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 12):
        p = list(rng.uniform(0, 0.2, m))
        assert [c.p_holm for c in holm([comparison(x) for x in p])] == pytest.approx(holm_by_hand(p))


def test_holm_leaves_untestable_comparisons_out_of_the_family():
    out = holm([comparison(0.01), comparison(math.nan), comparison(0.04)])
    assert out[0].p_holm == pytest.approx(0.02)
    assert math.isnan(out[1].p_holm)
    assert out[2].p_holm == pytest.approx(0.04)
    assert out[1].as_dict()["p_holm"] is None


def test_holm_on_real_comparisons_of_rois_and_sides():
    rng = np.random.default_rng(3)
    family = [compare_groups(f"{roi} {side}", rng.normal(1, 1, 6), rng.normal(0, 1, 7))
              for roi in ("motor", "control") for side in ("left", "right")]
    out = holm(family)
    assert [c.p_holm for c in out] == pytest.approx(holm_by_hand([c.p_value for c in family]))
    assert all(c.p_holm >= c.p_value for c in out)


@pytest.mark.parametrize("result", [
    compare_groups("g", [np.float32(3.5), 4, 5], [1, 2, 2, 3]),
    compare_paired("p", np.array([5, 6, 7, 8]), np.array([1, 1, 2, 9])),
    correlate("c", [1, 2, 3, 4, 5], [2, 1, 4, 3, 5], method="kendall"),
    compare_groups("untestable", [1.0], [2.0]),
])
def test_as_dict_is_plain_json_with_the_documented_keys(result):
    out = holm([result])[0].as_dict()
    text = json.dumps(out, allow_nan=False)  # fails on numpy types or NaN
    assert json.loads(text) == out
    assert set(out) == {"name", "test", "why", "groups", "statistic", "p_value", "p_method",
                        "effects", "effect", "p_holm", "warnings"}
    assert out["effect"] == out["effects"][0]
    for effect in out["effects"]:
        assert {"name", "value", "ci", "ci_level"} <= set(effect)
        assert effect["ci_level"] == 0.95
    for group in out["groups"]:
        assert isinstance(group["n"], int)
    assert out["p_value"] is None or type(out["p_value"]) is float
