"""The service registry (contracts/services.py): well formed, the one place the services are listed,
the source of what the code derives, and complete enough that registering a service shows every
place it must be added to."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import contracts.services as registry
import tests.conftest
from contracts.services import METRICS_PORT, WORKER_METRICS_OFFSET, Service, service, service_names, services
from deploy.local import run
from gateway.proxy import service_for_path
from gateway.settings import GatewaySettings, upstream_url_fields
from services.kit.kafka import SERVICE_NAMES, platform_topics
from services.kit.settings import ServiceSettings
from tests.deploy.registry_places import PLACES, gaps

ROOT = Path(__file__).resolve().parents[1]
GATEWAY_PORT = GatewaySettings.model_fields["port"].default
# A service that does not exist, registered by the last tests: on the next free ports, so that no
# place it must be added to already holds them for a real service (the Containerfile's EXPOSE).
NEWCOMER = Service(
    "permit",
    port=max(entry.port for entry in services()) + 1,
    metrics_port=max(entry.metrics_port for entry in services()) + 1,
    consumes=("dossier.events",),
)


# --- the registry itself -----------------------------------------------------------------------------


def test_names_ports_and_paths_are_each_given_once() -> None:
    names = service_names()
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z][a-z_]*", name) for name in names), names
    ports = [entry.port for entry in services()]
    assert len(set(ports)) == len(ports) and GATEWAY_PORT not in ports
    metrics = [port for entry in services() for port in (entry.metrics_port, entry.worker_metrics_port)]
    assert len(set(metrics)) == len(metrics) and METRICS_PORT not in metrics
    # The APIs' ports lie below the workers' (ten above), so the two ranges never meet.
    assert all(METRICS_PORT < entry.metrics_port < METRICS_PORT + WORKER_METRICS_OFFSET for entry in services())
    roots = [path for entry in services() for path in entry.root_paths]
    assert len(set(roots)) == len(roots)
    assert all(path.startswith("/") and path.endswith("/") and not path.startswith("/api/") for path in roots)


def test_services_consume_only_registered_topics() -> None:
    events = {entry.events_topic for entry in services()}
    for entry in services():
        assert set(entry.consumes) <= events, entry.name


def test_every_service_folder_is_registered() -> None:
    folders = {p.parent.name for p in (ROOT / "services").glob("*/__init__.py")} - {"kit"}
    assert folders == set(service_names()), "a folder under services/ needs its entry in contracts/services.py"


def test_make_run_keeps_its_ports() -> None:
    """The registry states the ports ``make run`` used before it existed."""
    ports = {entry.name: (entry.port, entry.metrics_port, entry.worker_metrics_port) for entry in services()}
    assert ports == {
        "identity": (8001, 9101, 9111),
        "catalogue": (8002, 9102, 9112),
        "dossier": (8003, 9103, 9113),
        "payment": (8004, 9104, 9114),
        "sync": (8005, 9105, 9115),
        "feedback": (8006, 9106, 9116),
        "notification": (8007, 9107, 9117),
    }


def _literal_lists_of_every_service(path: Path) -> list[int]:
    names = set(service_names())
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            values = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if names <= values:
                lines.append(node.lineno)
    return lines


def test_the_services_are_listed_in_the_registry_only() -> None:
    """No Python file writes out the list of services again: they read the registry."""
    written = {
        str(path.relative_to(ROOT)): lines
        for folder in ("services", "gateway", "contracts", "deploy", "bench", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if path != ROOT / "contracts" / "services.py" and (lines := _literal_lists_of_every_service(path))
    }
    assert written == {}, f"lists of every service outside contracts/services.py (line numbers): {written}"


# --- what the code derives ---------------------------------------------------------------------------


@pytest.fixture
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults, whatever the shell running the tests has set."""
    for name in list(os.environ):
        if name.startswith(("GATEWAY_", "PORTAL_")):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("plain_environment")
def test_the_gateway_forwards_to_every_service() -> None:
    settings = GatewaySettings()
    assert list(settings.upstreams) == list(service_names())
    for entry in services():
        assert settings.upstreams[entry.name] == f"http://127.0.0.1:{entry.port}"
        assert service_for_path(f"{entry.api_prefix}/anything", SERVICE_NAMES) == entry.name
        for path in entry.root_paths:
            assert service_for_path(f"{path}anything", SERVICE_NAMES) == entry.name


@pytest.mark.usefixtures("plain_environment")
def test_the_services_look_for_the_signing_keys_at_identitys_port() -> None:
    """Written in the kit's settings, which name no service's module: held to the registry here."""
    default = ServiceSettings.model_fields["oidc_jwks_url"].default
    assert default == f"http://127.0.0.1:{service('identity').port}/oauth2/jwks"
    assert GatewaySettings().jwks_url == default


def test_topics_and_test_plugins_follow_the_registry() -> None:
    assert platform_topics() == [topic for entry in services() for topic in entry.topics]
    assert tests.conftest.pytest_plugins == [f"tests.support.{name}" for name in service_names()]


# --- registering a service ---------------------------------------------------------------------------


@pytest.fixture
def newcomer(monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.setattr(registry, "SERVICES", (*registry.SERVICES, NEWCOMER))
    return NEWCOMER


def test_a_new_entry_is_asked_for_in_every_place(newcomer: Service) -> None:
    missing = {place.where: place.check(newcomer) for place in PLACES}
    unnoticed = [where for where, found in missing.items() if not found]
    assert unnoticed == [], f"places that would not notice a new service: {unnoticed}"
    for where, found in missing.items():
        assert all(newcomer.name in gap.lower() or str(newcomer.port) in gap for gap in found), (where, found)
    # The places the checklist (docs/adding-a-service.md) names, each asked for.
    said = "\n".join(gaps(newcomer))
    for place in (
        "services/permit/",
        "tests/support/permit.py",
        "pyproject.toml",
        "deploy/topics.yaml",
        "docs/scaling.md",
        "deploy/compose.yaml",
        "deploy/compose.env.example",
        "deploy/postgres/init-databases.sh",
        "deploy/Containerfile",
        "deploy/k8s/base/kustomization.yaml",
        "deploy/k8s/base/config/gateway.env",
        "deploy/k8s/base/network-policies.yaml",
        "deploy/k8s/overlays/production/replicas.yaml",
        "deploy/k8s/overlays/production/resources.yaml",
        "docs/architecture.md",
    ):
        assert place in said, place
    # ... while the registered services still lack nothing.
    assert {entry.name: gaps(entry) for entry in services() if entry != newcomer} == {
        name: [] for name in service_names() if name != newcomer.name
    }


def test_a_new_entry_is_routed_served_and_started_without_more(newcomer: Service, tmp_path: Path) -> None:
    assert "permit_url" in upstream_url_fields()
    assert upstream_url_fields()["permit_url"] == (str, f"http://127.0.0.1:{newcomer.port}")
    assert platform_topics()[-2:] == ["permit.events", "permit.dlq"]
    assert service_for_path("/api/v1/permit/permits", service_names()) == "permit"
    real = run.load_spec

    def load_spec(name: str):  # the newcomer's folder does not exist: its settings say its port
        if name != newcomer.name:
            return real(name)
        return SimpleNamespace(settings_cls=lambda: SimpleNamespace(port=newcomer.port), seed=None)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run, "load_spec", load_spec)
        supervisor = run.Supervisor(run.RunSettings(data_dir=tmp_path))
        urls = {name: f"postgresql://postgres@127.0.0.1:55432/portal_{name}" for name in service_names()}
        children = {child.name: child for child in supervisor.plan(urls, "127.0.0.1:59092")}
    assert children["permit"].args[1:] == ["-m", "services.permit", "api", "--metrics-port", str(newcomer.metrics_port)]
    assert children["permit"].url == f"http://127.0.0.1:{newcomer.port}"
    worker = ["-m", "services.permit", "worker", "--metrics-port", str(newcomer.worker_metrics_port)]
    assert children["permit-worker"].args[1:] == worker
    assert children["permit"].env["GATEWAY_PERMIT_URL"] == f"http://127.0.0.1:{newcomer.port}"
