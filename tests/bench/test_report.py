"""The benchmark's figures: nearest-rank percentiles, throughput, ratios to the baseline."""

from __future__ import annotations

import json

import pytest

from bench import report


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    assert report.percentile(values, 50) == 50
    assert report.percentile(values, 95) == 95
    assert report.percentile(values, 99) == 99
    assert report.percentile(values, 100) == 100
    assert report.percentile([7.0], 99) == 7.0
    assert report.percentile([], 95) == 0.0


def test_a_small_sample_rounds_the_rank_up() -> None:
    # 95% of 10 values is 9.5: the 10th value is the first with at least 95% at or below it.
    assert report.percentile([float(v) for v in range(1, 11)], 95) == 10


@pytest.mark.parametrize("p", [0, -1, 101])
def test_a_percentile_outside_0_to_100_is_refused(p: float) -> None:
    with pytest.raises(ValueError):
        report.percentile([1.0], p)


def test_figures_count_errors_as_requests_but_not_as_throughput() -> None:
    fig = report.figures([10.0, 20.0, 30.0, 40.0], errors=1, seconds=2.0)
    assert (fig.requests, fig.errors, fig.p50_ms, fig.p99_ms, fig.throughput_rps) == (5, 1, 20.0, 40.0, 2.0)


def phase(target: str, p95: float, rps: float) -> report.Phase:
    fig = report.Figures(requests=100, errors=0, p50_ms=1.0, p95_ms=p95, p99_ms=p95, throughput_rps=rps)
    return report.Phase(target, 8, 10.0, fig, {"plain": fig}, 1.5, 0.5)


def test_each_phase_is_set_against_the_baseline_of_its_workers_in_the_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = report.Report("t", {"machine": "2 CPUs"})
    run.phases = [
        phase("baseline, 1 worker", 2.0, 1000.0),
        phase("catalogue, 1 worker", 10.0, 250.0),
        phase("baseline, 2 workers", 4.0, 1200.0),
        phase("catalogue, 2 workers", 6.0, 600.0),
    ]
    text = report.markdown(run)
    assert "| catalogue, 1 worker | 8 | all | 100 | 0 | 1.0 | 10.0 | 10.0 | 250.0 | 1.50 | 0.50 | 5.0× | 0.2× |" in text
    assert "| catalogue, 2 workers | 8 | all | 100 | 0 | 1.0 | 6.0 | 6.0 | 600.0 | 1.50 | 0.50 | 1.5× | 0.5× |" in text
    md, js = report.write(run, tmp_path / "out")
    assert md.read_text(encoding="utf-8") == text
    saved = json.loads(js.read_text(encoding="utf-8"))
    assert saved["phases"][1]["overall"]["p95_ms"] == 10.0
    assert saved["phases"][1]["kinds"]["plain"]["throughput_rps"] == 250.0


def test_a_report_without_load_phases_is_its_figures_only() -> None:
    run = report.Report("Status ingest end to end", {"applied": "70 records/s"})
    assert report.markdown(run) == "# Status ingest end to end\n\n- applied: 70 records/s\n"
