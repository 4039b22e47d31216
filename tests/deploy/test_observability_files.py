"""deploy/grafana and deploy/prometheus: they parse, and every metric (and label) their queries
name is one the code exports — read from prometheus_client's registry once the apps, the gateway
and the workers are imported, as a running process would have them."""

from __future__ import annotations

import importlib
import json
import re
from functools import cache
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from .manifests import BASE, DEPLOY, ROOT, SERVICES, container_argv, kustomize, pod_containers, workloads

DASHBOARD = DEPLOY / "grafana" / "portal-dashboard.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
SCRAPE = DEPLOY / "prometheus" / "scrape-configs.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"

# What Prometheus adds itself: the target's health, and the labels of every series it scrapes.
PROMETHEUS_SERIES = {"up": set()}
TARGET_LABELS = {"job", "instance", "pod"}
# PromQL's words that are not metric names.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "topk", "bottomk", "quantile", "stddev", "stdvar", "group", "by",
    "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "rate", "irate", "increase", "delta", "deriv", "histogram_quantile", "label_values", "absent", "clamp_min",
    "clamp_max", "abs", "time", "vector", "scalar", "predict_linear", "changes", "resets", "max_over_time",
    "min_over_time", "avg_over_time", "inf", "nan",
}  # fmt: skip


@cache
def exported() -> dict[str, set[str]]:
    """Every sample name the code can export (counters' ``_total``, histograms' ``_bucket`` ...), with
    its labels: the registry after importing every process's modules."""
    for module in ["gateway.app", "services.kit.worker", "services.kit.metrics", "services.kit.deadletters",
                   *(f"services.{s}.app" for s in SERVICES)]:  # fmt: skip
        importlib.import_module(module)
    names: dict[str, set[str]] = {}
    collectors = REGISTRY._names_to_collectors  # the registry's own index: name -> metric
    for family in REGISTRY.collect():
        collector = collectors.get(family.name) or collectors.get(f"{family.name}_total")
        labels = set(getattr(collector, "_labelnames", ()))
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "summary": ["_sum", "_count"]}
        for suffix in suffixes.get(family.type, [""]):
            names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def metric_references(expr: str) -> list[tuple[str, set[str]]]:
    """The metric names a PromQL expression reads, each with the label names its matchers use, plus
    the labels of its ``by (...)``/``without``/``on``/``ignoring`` clauses under the name ``""``."""
    found: list[tuple[str, set[str]]] = []
    grouping: set[str] = set()
    for clause in re.finditer(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        grouping |= {label.strip() for label in clause.group(1).split(",") if label.strip()}
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges: [5m], [$__rate_interval]
    for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{([^}]*)\})?\s*(\()?", text):
        name, matchers, call = match.group(1), match.group(3), match.group(4)
        if call or name in PROMQL_WORDS or name.startswith("$") or re.fullmatch(r"\d.*", name):
            continue
        labels = {
            m.group(1)
            for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", _STRING.sub("", matchers or ""))
        }
        found.append((name, labels))
    found.append(("", grouping))
    return found


def check(expr: str, where: str) -> set[str]:
    names = exported()
    used = set()
    references = metric_references(expr)
    metric_labels: set[str] = set(TARGET_LABELS)
    for name, labels in references:
        if not name:
            continue
        known = names.get(name, PROMETHEUS_SERIES.get(name))
        assert known is not None, f"{where}: {name} is exported by no code ({expr})"
        unknown = labels - known - TARGET_LABELS
        assert not unknown, f"{where}: {name} has no label {sorted(unknown)}"
        metric_labels |= known
        used.add(name)
    grouping = next(labels for name, labels in references if not name)
    assert grouping <= metric_labels, f"{where}: grouping by {sorted(grouping - metric_labels)}, which no metric has"
    return used


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def alerts() -> dict[str, Any]:
    return yaml.safe_load(ALERTS.read_text(encoding="utf-8"))


def dashboard_exprs() -> list[tuple[str, str]]:
    board = dashboard()
    exprs = [(f"panel {p['title']!r}", t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":  # label_values(metric, label): the metric must have the label
            values = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
            assert values, f"variable {variable['name']}: {variable['definition']}"
            exprs.append((f"variable {variable['name']}", f"group by ({values.group(2)}) ({values.group(1)})"))
    return exprs


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in alerts()["groups"] for rule in group["rules"]]


# --- the checker itself ----------------------------------------------------------------------------


def test_the_reference_finder_reads_promql() -> None:
    refs = metric_references(
        'sum by (job, route) (rate(http_requests_total{status=~"5..", route!="/x"}[5m])) '
        '/ ignoring(status) histogram_quantile(0.9, rate(foo_bucket{le="1"}[$__rate_interval])) > 0.2 and up == 0'
    )
    assert refs == [("http_requests_total", {"status", "route"}), ("foo_bucket", {"le"}), ("up", set()),
                    ("", {"job", "route", "status"})]  # fmt: skip
    with pytest.raises(AssertionError, match="exported by no code"):
        check("sum(rate(http_request_totl[5m]))", "a misspelt metric")
    with pytest.raises(AssertionError, match="has no label"):
        check('outbox_backlog{servce="dossier"}', "a misspelt label")
    with pytest.raises(AssertionError, match="grouping by"):
        check("sum by (agencies) (sync_records_rejected_total)", "a misspelt grouping")


# --- the dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_parses_and_is_importable() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    datasource = next(v for v in board["templating"]["list"] if v["type"] == "datasource")
    assert datasource["query"] == "prometheus"
    for panel in board["panels"]:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${" + datasource["name"] + "}", panel["title"]


def test_every_metric_the_dashboard_shows_is_exported() -> None:
    used = set().union(*(check(expr, where) for where, expr in dashboard_exprs()))
    # What the issue asks the dashboard to show.
    assert used >= {
        "http_requests_total", "http_request_duration_seconds_bucket", "outbox_backlog",
        "outbox_oldest_unpublished_age_seconds", "consumer_lag_messages", "consumer_dead_letters_total",
        "payment_callback_verification_failures_total", "sync_records_rejected_total",
    }  # fmt: skip
    by_agency = [expr for _, expr in dashboard_exprs() if "sync_records_rejected_total" in expr]
    assert by_agency and all("by (agency)" in expr for expr in by_agency)


# --- the alert rules -------------------------------------------------------------------------------


def test_the_alert_rules_parse_and_are_complete() -> None:
    groups = alerts()["groups"]
    assert groups and all(g["name"] and g["rules"] for g in groups)
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), "alert names are unique"
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    for rule in alert_rules():
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), f"{rule['alert']}: for: {rule['for']}"
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert (ROOT / page).is_file() and anchor in headings, f"{rule['alert']}: no runbook section {anchor!r}"


def test_every_metric_the_alerts_use_is_exported() -> None:
    used = set().union(*(check(rule["expr"], f"alert {rule['alert']}") for rule in alert_rules()))
    assert used >= {
        "http_requests_total", "outbox_oldest_unpublished_age_seconds", "outbox_backlog", "consumer_lag_messages",
        "consumer_dead_letters_total", "payment_callback_verification_failures_total", "sync_records_rejected_total",
    }  # fmt: skip


def test_the_scrape_config_names_jobs_as_the_dashboard_and_alerts_expect() -> None:
    config = yaml.safe_load(SCRAPE.read_text(encoding="utf-8"))
    [job] = config["scrape_configs"]
    relabels = job["relabel_configs"]
    ports = next(r for r in relabels if r["source_labels"] == ["__meta_kubernetes_pod_container_port_name"])
    # Only the port every process serves its metrics on (`--metrics-port`), never the public one.
    assert ports["regex"] == "metrics"
    build = kustomize(BASE)
    for obj in workloads(build):
        for container in pod_containers(obj):
            if "--metrics-port" in container_argv(container):
                assert [p["name"] for p in container["ports"]][-1:] == ["metrics"], obj["metadata"]["name"]
            else:
                assert "ports" not in container, obj["metadata"]["name"]  # serves nothing (migrations)
    naming = next(r for r in relabels if r.get("target_label") == "job" and r.get("separator") == "-")
    assert naming["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name",
                                       "__meta_kubernetes_pod_label_app_kubernetes_io_component"]  # fmt: skip
    jobs = [r for r in alert_rules() if "job=~" in r["expr"]]
    assert jobs and all("gateway" in r["expr"] and ".+-api" in r["expr"] and ".+-worker" in r["expr"] for r in jobs)
