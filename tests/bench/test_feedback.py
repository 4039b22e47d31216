"""The feedback search scenario's pure parts: word lists whose folded words are what publishing
stores, the request plan with its page-2 cursors, and the verdict against the target."""

from __future__ import annotations

import itertools
import re
from urllib.parse import parse_qs, urlsplit

from bench import feedback, report
from services.feedback.domain.text import fold


def test_each_item_is_kept_with_its_folded_words_and_the_lists_have_the_planned_sizes() -> None:
    words = feedback.vocabulary()
    for name, items in words.texts.items():
        assert words.folded[name] == [fold(item) for item in items], name
        assert all(words.folded[name]), name  # no item folds to nothing: the SQL joins them with one space
    assert len(words.agency_codes) == len(set(words.agency_codes)) == 60
    assert len(words.procedure_codes) == len(set(words.procedure_codes)) == 2000
    assert len(words.sector_codes) == 30
    # As the API accepts them in its filters.
    assert all(re.fullmatch(r"[0-9A-Za-z.]+", code) for code in words.agency_codes)
    assert all(re.fullmatch(r"[0-9A-Za-z.-]+", code) for code in words.procedure_codes)
    assert all(re.fullmatch(r"[0-9A-Za-z._-]+", code) for code in words.sector_codes)


def test_folded_pieces_joined_by_a_space_are_the_fold_of_the_pieces_joined() -> None:
    # What the generating SQL relies on to write ``words`` without folding in PostgreSQL.
    words = feedback.vocabulary()
    pieces = [items[:3] + items[-3:] for items in words.texts.values()]
    for a, b in itertools.product(itertools.chain(*pieces), repeat=2):
        assert fold(f"{a} {b}") == f"{fold(a)} {fold(b)}"


def test_published_words_are_the_text_folded_without_a_missing_procedure() -> None:
    folded = feedback.published_words("Hỏi về Hộ chiếu", "Xin hỏi?", "Trả lời.", None)
    assert folded == "hoi ve ho chieu xin hoi tra loi"
    assert feedback.published_words("A", "B", "C", "Cấp đổi") == "a b c cap doi"


def test_a_second_page_is_asked_with_the_first_pages_cursor_or_left_out() -> None:
    queries = [("plain", {"q": "ho so"}), ("page 2", {"q": "ho so"}), ("page 2", {}), ("no words", {})]
    cursors = {f"{feedback.SEARCH}?q=ho+so": "abc"}
    plan = feedback.request_plan(queries, lambda path: cursors.get(path))
    assert [kind for kind, _ in plan] == ["plain", "page 2", "no words"]  # the one-page browse is left out
    assert parse_qs(urlsplit(plan[1][1]).query) == {"q": ["ho so"], "cursor": ["abc"]}
    assert plan[2][1] == feedback.SEARCH


def phase(target: str, clients: int, p95: float, rps: float, errors: int = 0) -> report.Phase:
    fig = report.Figures(requests=100, errors=errors, p50_ms=p95 / 2, p95_ms=p95, p99_ms=p95 * 2, throughput_rps=rps)
    return report.Phase(target, clients, 10.0, fig, {}, 1.0, 1.0)


def test_the_verdict_reads_p95_at_8_clients_against_the_target_and_the_baseline() -> None:
    run = report.Report("t", {})
    run.phases = [phase("baseline, 1 worker", 8, 4.0, 2000.0), phase("feedback search, 1 worker", 1, 30.0, 100.0),
                  phase("feedback search, 1 worker", 8, 18.0, 400.0)]  # fmt: skip
    verdict = feedback.verdict(run, "feedback search, 1 worker")
    assert verdict.startswith("p95 18.0 ms ≤ 20 ms at 8 clients ✔")
    assert "baseline p95 4.0 ms, 2000 req/s (ratio p95 4.5×, req/s 0.2×)" in verdict
    run.phases[2] = phase("feedback search, 1 worker", 8, 18.0, 400.0, errors=1)
    assert "✘" in feedback.verdict(run, "feedback search, 1 worker")  # an error fails it too
    run.phases[2] = phase("feedback search, 1 worker", 8, 20.5, 400.0)
    assert feedback.verdict(run, "feedback search, 1 worker").startswith("p95 20.5 ms > 20 ms at 8 clients ✘")
    assert feedback.verdict(run, "feedback search, 1 worker", clients=4) == "not measured at 4 clients"
