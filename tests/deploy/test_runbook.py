"""docs/runbook.md: every command it names exists and takes the arguments written there (the
service's own parser decides), and is one the integration tests run for real."""

from __future__ import annotations

import importlib
import re
import shlex

from .manifests import ROOT, check_command

RUNBOOK = ROOT / "docs" / "runbook.md"

# (module, command[, action]) -> the test that runs it against the real database and broker.
RUNBOOK_TESTS = "tests.observability.test_runbook_commands"
EXERCISED = {
    ("services.*", "replay"): f"{RUNBOOK_TESTS}:test_replay_marks_published_events_for_publishing_again",
    ("services.*", "dead-letters", "list"): f"{RUNBOOK_TESTS}:test_a_real_services_dead_letters_are_listed_and_retried",
    ("services.*", "dead-letters", "retry"): "tests.observability.test_dead_letters:"
    "test_dead_letters_are_listed_and_each_retried_once",
    ("services.*", "worker"): "tests.observability.test_worker_health:test_a_worker_runs_only_the_parts_named",
    ("services.identity", "rotate-keys"): f"{RUNBOOK_TESTS}:test_identity_keys_and_client_secrets_rotate",
    ("services.identity", "clients", "rotate-secret"): f"{RUNBOOK_TESTS}:test_identity_keys_and_client_secrets_rotate",
    (
        "services.sync",
        "deliveries",
        "failing",
    ): f"{RUNBOOK_TESTS}:test_sync_deliveries_are_listed_shown_and_redelivered",
    ("services.sync", "deliveries", "show"): f"{RUNBOOK_TESTS}:test_sync_deliveries_are_listed_shown_and_redelivered",
    (
        "services.sync",
        "deliveries",
        "redeliver",
    ): f"{RUNBOOK_TESTS}:test_sync_deliveries_are_listed_shown_and_redelivered",
}
WITH_ACTIONS = {"dead-letters", "clients", "deliveries"}


def runbook_commands() -> list[list[str]]:
    """Every ``python -m ...`` the runbook writes out in full (code spans and blocks); templates with
    ``<...>`` or ``...`` are prose, not commands."""
    text = RUNBOOK.read_text(encoding="utf-8")
    found = re.findall(r"python -m [^`\n]+", text)
    return [shlex.split(command.strip()) for command in found if "<" not in command and "..." not in command]


def key(argv: list[str]) -> tuple[str, ...]:
    module, command = argv[2], argv[3]
    generic = ("services.*", command) if ("services.*", command) in {k[:2] for k in EXERCISED} else None
    named = (module, command)
    base = generic or named
    return (*base, argv[4]) if command in WITH_ACTIONS else base


def test_the_runbook_names_commands() -> None:
    commands = runbook_commands()
    assert len(commands) >= 15
    named = {key(argv) for argv in commands}
    assert named == set(EXERCISED), f"named but not run by a test: {named - set(EXERCISED)}"


def test_every_runbook_command_exists_with_its_arguments() -> None:
    for argv in runbook_commands():
        assert check_command(argv) == argv[2], argv


def test_every_runbook_command_is_run_by_an_integration_test() -> None:
    for where in set(EXERCISED.values()):
        module, _, function = where.partition(":")
        assert callable(getattr(importlib.import_module(module), function, None)), where
