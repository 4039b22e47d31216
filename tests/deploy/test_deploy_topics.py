"""deploy/topics.yaml, the one place partitions and retention are stated, against the code's topics
and the scaling note. The compose job and the KafkaTopic resources are checked against the same file
(test_deploy_compose, test_deploy_kubernetes)."""

from __future__ import annotations

import re

from .manifests import ROOT, SERVICES, code_topics, topic_plan


def test_every_topic_the_code_uses_is_planned_and_nothing_else():
    plan = topic_plan()
    assert set(plan["topics"]) == code_topics()
    assert {f"{s}.events" for s in SERVICES} | {f"{s}.dlq" for s in SERVICES} == set(plan["topics"])


def test_the_plan_is_complete():
    plan = topic_plan()
    assert set(plan) == {"replicas", "min_insync_replicas", "topics"}
    for name, topic in plan["topics"].items():
        assert set(topic) == {"partitions", "retention_hours"}, name
        assert isinstance(topic["partitions"], int) and topic["partitions"] >= 1, name
        # At least the outbox's retention (7 days): replay can refill no more than the broker lost.
        assert topic["retention_hours"] >= 168, name


def test_the_scaling_note_states_the_same_partitions():
    doc = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z]+\.(?:events|dlq))` \| (\d+) \|", doc, re.MULTILINE))
    plan = topic_plan()["topics"]
    assert set(rows) == set(plan), "docs/scaling.md has a row per topic"
    assert {k: int(v) for k, v in rows.items()} == {k: v["partitions"] for k, v in plan.items()}
