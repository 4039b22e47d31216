"""The notification rules with no server: templates checked and made, preferences and essential
notices, quiet hours, retries and giving up, failover order, the per-recipient limit."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from services.kit.calendar import VIETNAM_TZ
from services.notification.domain.delivery import Channel, Handed, PermanentFailure, TemporaryFailure
from services.notification.domain.messages import (
    GIVE_UP_AFTER,
    Message,
    QuietHours,
    RecipientLimit,
    Status,
    backoff,
    next_provider,
)
from services.notification.domain.notices import RULES, EssentialKind, Kind, Preferences, choose
from services.notification.domain.templates import Template, TemplateRefused, check, render
from services.notification.service.defaults import ENGLISH, VIETNAMESE
from services.notification.settings import NotificationSettings

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
SCHEMA = {"type": "object", "properties": {"code": {"type": "string", "maxLength": 40}}, "required": ["code"],
          "additionalProperties": False}  # fmt: skip
TEXTS = {"subject": "Hồ sơ {{ code }}", "email_text": "Mã hồ sơ: {{ code }}", "email_html": "<b>{{ code }}</b>",
         "sms": "Ho so {{ code }}", "push_title": "Hồ sơ", "push_body": "{{ code }}", "inbox_title": "Hồ sơ",
         "inbox_body": "Mã {{ code }}"}  # fmt: skip


def template(texts: dict[str, str] = TEXTS) -> Template:
    return Template(Kind.DOSSIER_RECEIVED, "vi", 1, texts, SCHEMA, NOW, "test")


def test_every_default_template_checks_out() -> None:
    for defaults in (VIETNAMESE, ENGLISH):
        for texts, variables in defaults.values():
            check(texts, variables)
    assert set(VIETNAMESE) == set(Kind)  # Vietnamese first: every kind has one


@pytest.mark.parametrize(
    ("texts", "variables", "field", "says"),
    [
        ({**TEXTS, "sms": "Ho so {{ cod }}"}, SCHEMA, "sms", "uses 'cod'"),
        ({**TEXTS, "subject": "{{ code "}, SCHEMA, "subject", "line 1"),
        ({k: v for k, v in TEXTS.items() if k != "inbox_body"}, SCHEMA, "inbox_body", "missing"),
        ({**TEXTS, "sms": "x" * 613}, SCHEMA, "sms", "at most 612"),
        (TEXTS, {"type": "string"}, "variables", "object"),
        ({**TEXTS, "fax": "x"}, SCHEMA, "texts", "unknown parts: fax"),
    ],
)
def test_a_template_is_refused_with_the_reason(texts, variables, field: str, says: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TemplateRefused) as refused:
        check(texts, variables)
    assert any(f == field and says in m for f, m in refused.value.problems), refused.value.problems


def test_values_are_checked_against_the_schema_and_escaped_only_in_html() -> None:
    made = render(template(), {"code": "<H22>"})
    assert made.texts["email_html"] == "<b>&lt;H22&gt;</b>"
    assert made.texts["email_text"] == "Mã hồ sơ: <H22>" and made.texts["subject"] == "Hồ sơ <H22>"
    with pytest.raises(TemplateRefused):
        render(template(), {"code": "x" * 41})
    with pytest.raises(TemplateRefused):
        render(template(), {"code": "A", "other": "B"})  # not declared


def test_the_sandbox_keeps_templates_from_reaching_python() -> None:
    texts = {**TEXTS, "inbox_body": "{{ code.__class__.__mro__ }}"}
    with pytest.raises(TemplateRefused):
        render(template(texts), {"code": "A"})


def test_essential_notices_go_by_sms_and_email_whatever_was_chosen() -> None:
    quiet = Preferences("a", channels=frozenset({Channel.PUSH}), switched_off=frozenset({Kind.PAYMENT_SUCCEEDED}))
    assert quiet.channels_for(Kind.SUPPLEMENT_REQUESTED) == {Channel.PUSH, Channel.SMS, Channel.EMAIL}
    assert quiet.channels_for(Kind.PAYMENT_SUCCEEDED) == frozenset()
    assert quiet.channels_for(Kind.DOSSIER_IN_PROCESSING) == {Channel.PUSH}
    with pytest.raises(EssentialKind):
        choose("a", {Channel.SMS}, {Kind.RESULT_RETURNED, Kind.PAYMENT_SUCCEEDED})
    assert {k for k, r in RULES.items() if r.essential} >= {Kind.SUPPLEMENT_REQUESTED, Kind.RESULT_RETURNED}


@pytest.mark.parametrize(
    ("local", "allowed"),
    [
        (time(20, 59), time(20, 59)),  # before the quiet hours
        (time(21, 0), time(7, 0)),  # from 21:00 ...
        (time(23, 30), time(7, 0)),  # ... the next morning
        (time(3, 0), time(7, 0)),  # ... or this morning
        (time(7, 0), time(7, 0)),  # they end at 07:00
    ],
)
def test_quiet_hours_hold_a_message_until_the_morning_in_vietnam(local: time, allowed: time) -> None:
    at = datetime(2026, 3, 2, local.hour, local.minute, tzinfo=VIETNAM_TZ)
    got = QuietHours().next_allowed(at).astimezone(VIETNAM_TZ)
    assert got.time() == allowed
    assert got >= at and got - at < timedelta(hours=11)


def message(**changes: object) -> Message:
    values: dict[str, object] = {"id": "m", "notice_id": "n", "account_id": "a", "channel": Channel.SMS,
                                 "status": Status.CREATED, "attempts": 0, "due_at": NOW, "created_at": NOW,
                                 "updated_at": NOW}  # fmt: skip
    return Message(**{**values, **changes})  # type: ignore[arg-type]


def test_a_temporary_failure_is_retried_with_backoff_until_72_hours_then_final() -> None:
    first = message().failed(TemporaryFailure("busy"), "a", NOW)
    assert first.status == Status.CREATED and first.due_at == NOW + backoff(1) and first.attempts == 1
    assert not first.final and first.reason is not None and "temporary-failure" in first.reason
    late = NOW + GIVE_UP_AFTER - timedelta(minutes=1)
    final = message(attempts=29).failed(TemporaryFailure("busy"), "a", late)
    assert final.status == Status.TEMPORARY_FAILURE and final.final
    assert backoff(1) < backoff(2) < backoff(6) == backoff(60)


def test_a_shortened_first_retry_changes_the_first_wait_only_and_production_refuses_it() -> None:
    five = timedelta(seconds=5)
    assert backoff(1, five) == five and backoff(2, five) == backoff(2) and backoff(6, five) == backoff(6)
    first = message().failed(TemporaryFailure("busy"), "a", NOW, first_retry=five)
    assert first.status == Status.CREATED and first.due_at == NOW + five
    sent = message().handed(Handed("a", "ref-1"), NOW)
    assert sent.receipt("temporary-failure", "absent", NOW, ("a", "b"), five).due_at == NOW + five
    second = first.failed(TemporaryFailure("busy"), "b", NOW, first_retry=five)
    assert second.due_at == NOW + backoff(2)
    assert NotificationSettings().first_retry is None
    assert NotificationSettings(dev_first_retry_seconds=5).first_retry == five
    with pytest.raises(ValueError, match="dev_first_retry_seconds"):
        NotificationSettings(environment="production", dev_first_retry_seconds=5)
    with pytest.raises(ValueError):
        NotificationSettings(dev_first_retry_seconds=0.5)


def test_a_permanent_failure_is_final_at_once_and_receipts_finish_a_message() -> None:
    assert message().failed(PermanentFailure("unknown number"), "a", NOW).status == Status.PERMANENT_FAILURE
    sent = message().handed(Handed("a", "ref-1"), NOW)
    assert sent.status == Status.SENDING and sent.reference == "ref-1" and sent.attempts == 1
    assert sent.receipt("delivered", None, NOW).status == Status.DELIVERED
    retried = sent.receipt("temporary-failure", "handset off", NOW)
    assert retried.status == Status.CREATED and retried.due_at > NOW
    delivered = sent.receipt("delivered", None, NOW)
    assert delivered.receipt("permanent-failure", "late", NOW) == delivered  # a late receipt changes nothing
    assert message().handed(Handed("smtp", "<x>", delivered=True), NOW).status == Status.DELIVERED


def test_failover_moves_to_the_next_provider_after_a_failure() -> None:
    providers = ("sms-a", "sms-b")
    assert next_provider(providers, message()) == "sms-a"
    assert next_provider(providers, message(attempts=1, provider="sms-a")) == "sms-b"
    assert next_provider(providers, message(attempts=2, provider="sms-b")) == "sms-a"
    with pytest.raises(ValueError):
        next_provider((), message())


def test_one_person_gets_at_most_the_limit_of_sms_an_hour() -> None:
    limit = RecipientLimit(count=3, per=timedelta(hours=1))
    sent = [NOW - timedelta(minutes=m) for m in (50, 20, 5)]
    assert limit.next_allowed(sent, NOW) == NOW - timedelta(minutes=50) + timedelta(hours=1)
    assert limit.next_allowed(sent[1:], NOW) == NOW
    assert limit.next_allowed([NOW - timedelta(hours=2)] * 5, NOW) == NOW


def test_a_permanent_refusal_moves_to_the_next_provider_until_every_one_refused() -> None:
    providers = ("sms-a", "sms-b")
    first = message().failed(PermanentFailure("route refused"), "sms-a", NOW, providers)
    assert first.status == Status.CREATED and first.due_at == NOW and first.refused_by == ("sms-a",)
    assert next_provider(providers, first) == "sms-b"
    sent = first.handed(Handed("sms-b", "ref-b"), NOW)
    final = sent.receipt("permanent-failure", "unknown subscriber", NOW, providers)
    assert final.status == Status.PERMANENT_FAILURE and final.final and final.refused_by == ("sms-a", "sms-b")
    alone = message().failed(PermanentFailure("unknown number"), "sms-a", NOW, ("sms-a",))
    assert alone.status == Status.PERMANENT_FAILURE  # no other provider: final at once
    # A temporary failure after a permanent one still skips the provider that refused for good.
    busy = first.handed(Handed("sms-b", "ref-b"), NOW).failed(TemporaryFailure("busy"), "sms-b", NOW, providers)
    assert next_provider(providers, busy) == "sms-b"


def test_the_officials_digest_never_goes_by_sms_whatever_was_chosen() -> None:
    everything = Preferences("official-1")
    assert Channel.SMS in everything.channels
    assert everything.channels_for(Kind.OFFICIAL_DIGEST) == {Channel.EMAIL, Channel.PUSH}
    assert Preferences("o", channels=frozenset({Channel.SMS})).channels_for(Kind.OFFICIAL_DIGEST) == frozenset()
    assert not RULES[Kind.OFFICIAL_DIGEST].essential  # an official may switch it off
    off = Preferences("o", switched_off=frozenset({Kind.OFFICIAL_DIGEST}))
    assert off.channels_for(Kind.OFFICIAL_DIGEST) == frozenset()
    # The other kinds keep every channel.
    assert all(Channel.SMS in r.channels for k, r in RULES.items() if k is not Kind.OFFICIAL_DIGEST)
