"""Figures and baselines: percentiles, which way is worse, the noise floor, the message."""

from __future__ import annotations

import pytest

from jobcheck.metrics import (
    Baseline,
    before_after,
    parse_tolerance,
    percentile,
    regression,
    regressions,
    shown,
    spread,
)

RELEASE = Baseline({"p95_wait_s": 0.42, "throughput_per_s": 40.0, "error_rate": 0.0}, "v1.3.0", "")


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([3.0], 99) == 3.0
    assert spread("wait_", [0.1, 0.2, 0.3]) == {
        "p50_wait_s": 0.2, "p95_wait_s": 0.29, "p99_wait_s": 0.298, "max_wait_s": 0.3,
    }  # fmt: skip
    assert spread("wait_", []) == {}


def test_a_regression_names_the_figure_before_after_the_change_and_the_release() -> None:
    lines = regressions(
        {"p95_wait_s": 0.88, "throughput_per_s": 39.0},
        RELEASE,
        ["p95_wait_s", "throughput_per_s"],
        0.25,
    )
    assert lines == ["p95 wait 0.42s → 0.88s (+110 %, tolerance 25 %) against v1.3.0"]


def test_throughput_regresses_downwards_and_times_upwards() -> None:
    assert regression("throughput_per_s", 40.0, 20.0, 0.25)
    assert not regression("throughput_per_s", 20.0, 40.0, 0.25)
    assert not regression("p95_wait_s", 0.88, 0.42, 0.25)
    assert regression("error_rate", 0.0, 0.05, 0.25)  # from none to some: no percent excuses it


def test_changes_under_the_noise_floor_never_fail() -> None:
    assert not regression("p95_s", 0.002, 0.009, 0.25)  # +350 %, but 7 ms
    assert not regression("error_rate", 0.0, 0.005, 0.25)
    assert regression("p95_s", 0.002, 0.020, 0.25)


def test_figures_read_as_people_read_them() -> None:
    assert shown("throughput_per_s", 412.34) == "412.3/s"
    assert shown("p95_wait_s", 0.042) == "0.042s"
    assert shown("error_rate", 0.015) == "1.5 %"
    assert shown("cpu_per_job_ms", 1.234) == "1.23 ms"
    assert before_after("p95_s", 0.5, 0.75) == "0.50s → 0.75s (+50 %)"


@pytest.mark.parametrize(("given", "fraction"), [("25%", 0.25), ("2.5 %", 0.025), (10, 0.1)])
def test_tolerance_is_a_percentage(given: object, fraction: float) -> None:
    assert parse_tolerance(given) == pytest.approx(fraction)


@pytest.mark.parametrize("given", ["lots", "", True, -5, "2000%", None])
def test_a_bad_tolerance_says_what_it_expected(given: object) -> None:
    with pytest.raises(ValueError, match="percentage"):
        parse_tolerance(given)
