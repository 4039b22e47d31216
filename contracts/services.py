"""The service registry: every service of the portal, written once.

Adding a service is a folder ``services/<name>/`` in the shape of the others and one entry here
(``docs/adding-a-service.md``). From these entries the code derives, at run time: the gateway's
upstream settings (``GATEWAY_<NAME>_URL``) and routes (``/api/v1/<name>/`` and ``root_paths``), the
topics created (``<name>.events`` and ``<name>.dlq``), the processes ``make run`` starts and their
metrics ports, and the test session's fixture plugins (``tests/support/<name>.py``). What is static
text (compose, Kubernetes, the import rules in pyproject.toml, deploy/topics.yaml, the docs) is held
to them by tests that name what a new entry still lacks (``tests/test_registry.py``).

Plain data with no import beyond the standard library, so every layer may read it: the gateway and
the kit learn the services' names and ports here without importing any service's code.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Under ``make run`` the gateway's internal metrics port (``PORTAL_METRICS_PORT``); each service's
#: ``metrics_port`` is counted from it, so moving it moves them all.
METRICS_PORT = 9100
#: A worker serves its metrics this far above its API's.
WORKER_METRICS_OFFSET = 10


@dataclass(frozen=True)
class Service:
    """One service: ``services/<name>`` (its ``app.py`` defines ``SERVICE``, a ``ServiceSpec``)."""

    name: str
    #: Its API's default port (``<NAME>_PORT``): where ``make run`` starts it and the gateway looks.
    port: int
    #: Its API's internal ``/metrics`` port under ``make run`` (its worker's is ten above).
    metrics_port: int
    #: The topics its workers' consumers read (the ServiceSpec's ``ConsumerSpec.topics``, together).
    consumes: tuple[str, ...] = ()
    #: Paths it serves at the gateway's root rather than under ``/api/v1/<name>/`` (identity's OIDC).
    root_paths: tuple[str, ...] = ()

    @property
    def package(self) -> str:
        return f"services.{self.name}"

    @property
    def spec_module(self) -> str:
        """The module whose ``SERVICE`` is this service's ``ServiceSpec``."""
        return f"services.{self.name}.app"

    @property
    def settings_prefix(self) -> str:
        """Its environment variables' prefix (``DOSSIER_``)."""
        return f"{self.name.upper()}_"

    @property
    def api_prefix(self) -> str:
        """Where the gateway routes its API, and where the kit mounts its routers."""
        return f"/api/v1/{self.name}"

    @property
    def events_topic(self) -> str:
        """The topic its outbox relay publishes its events to."""
        return f"{self.name}.events"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.name}.dlq"

    @property
    def topics(self) -> tuple[str, str]:
        """The topics it owns (publishes to): its events and its dead letters."""
        return self.events_topic, self.dead_letter_topic

    @property
    def worker_metrics_port(self) -> int:
        return self.metrics_port + WORKER_METRICS_OFFSET


SERVICES: tuple[Service, ...] = (
    Service("identity", port=8001, metrics_port=9101, root_paths=("/.well-known/", "/oauth2/")),
    Service("catalogue", port=8002, metrics_port=9102, consumes=("sync.events",)),
    Service(
        "dossier",
        port=8003,
        metrics_port=9103,
        consumes=("catalogue.events", "payment.events", "sync.events", "dossier.events", "identity.events"),
    ),
    Service("payment", port=8004, metrics_port=9104, consumes=("dossier.events",)),
    Service("sync", port=8005, metrics_port=9105, consumes=("dossier.events",)),
    Service("feedback", port=8006, metrics_port=9106, consumes=("catalogue.events", "dossier.events")),
    Service(
        "notification",
        port=8007,
        metrics_port=9107,
        consumes=("dossier.events", "payment.events", "feedback.events", "identity.events"),
    ),
)


# Read ``SERVICES`` when called, not when imported: a test may register one more.


def services() -> tuple[Service, ...]:
    return SERVICES


def service_names() -> tuple[str, ...]:
    return tuple(service.name for service in SERVICES)


def service(name: str) -> Service:
    """The entry named ``name``; KeyError when no service has that name."""
    for entry in SERVICES:
        if entry.name == name:
            return entry
    raise KeyError(f"no service named {name!r} in contracts/services.py")


def platform_topics() -> list[str]:
    """Every topic the platform uses: each service's events and its dead letters."""
    return [topic for entry in SERVICES for topic in entry.topics]


def root_path_owners() -> dict[str, str]:
    """Paths served at the gateway's root, each with the service that serves them."""
    return {path: entry.name for entry in SERVICES for path in entry.root_paths}
