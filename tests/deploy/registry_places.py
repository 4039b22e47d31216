"""Every place outside the code that must name a service, checked against the service registry
(contracts/services.py).

Each place is a check of one registry entry that returns what the place lacks for it, in words that
say where to add what (``deploy/compose.yaml: no service permit-api``): an empty list when the place
is complete. tests/deploy/test_registry_places.py runs them over the registry;
tests/test_registry.py registers a service that does not exist and shows that they name every place
it would have to be added to. What the code derives from the registry at run time (the gateway's
routes and upstream settings, topic creation, ``make run``'s processes, the test plugins) is not
here: there is nothing to add.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contracts.services import Service, services

from .manifests import (
    BASE,
    CONTAINERFILE,
    DEPLOY,
    PRODUCTION,
    ROOT,
    Endpoint,
    allowed,
    compose,
    compose_environment,
    containerfile_stages,
    kustomize,
    load_documents,
    load_yaml,
    read_env_file,
    topic_plan,
)

Check = Callable[[Service], list[str]]


@dataclass(frozen=True)
class Place:
    """Where a service must be named, and the check that it is."""

    where: str
    check: Check


# --- the service's own folder ------------------------------------------------------------------------


def folder_gaps(entry: Service) -> list[str]:
    """``services/<name>/`` in the shape of the others, agreeing with its entry: its ServiceSpec
    (``app.py``'s ``SERVICE``), settings class (prefix, name, port), consumers and root paths."""
    where = f"services/{entry.name}"
    if importlib.util.find_spec(entry.package) is None:
        return [f"{where}/: no such package (copy the shape of an existing service)"]
    gaps = [
        f"{where}/{file}: missing"
        for file in ("__main__.py", "app.py", "settings.py", "migrations/env.py")
        if not (ROOT / where / file).is_file()
    ]
    if gaps:
        return gaps
    spec = importlib.import_module(entry.spec_module).SERVICE
    settings = spec.settings_cls
    if spec.name != entry.name:
        gaps.append(f"{where}/app.py: ServiceSpec(name={spec.name!r}), registered as {entry.name!r}")
    if settings.model_config.get("env_prefix") != entry.settings_prefix:
        gaps.append(f"{where}/settings.py: env_prefix must be {entry.settings_prefix!r}")
    if settings.service_name != entry.name:
        gaps.append(f"{where}/settings.py: service_name must be {entry.name!r}")
    if settings.model_fields["port"].default != entry.port:
        gaps.append(f"{where}/settings.py: port's default must be {entry.port}, the registry's")
    consumed = {topic for consumer in spec.consumers for topic in consumer.topics}
    if consumed != set(entry.consumes):
        gaps.append(f"contracts/services.py: {entry.name} consumes {sorted(consumed)} (its ConsumerSpecs' topics)")
    root = [getattr(r, "path", "") for router in spec.root_routers for r in router.routes]
    outside = [path for path in root if not path.startswith(entry.root_paths or ("\0",))]
    if outside:
        gaps.append(f"contracts/services.py: {entry.name}'s root_paths do not cover {outside}")
    return gaps


def support_plugin_gaps(entry: Service) -> list[str]:
    """The test session loads ``tests/support/<name>.py`` (its fixtures) for every service."""
    path = ROOT / "tests" / "support" / f"{entry.name}.py"
    return [] if path.is_file() else [f"tests/support/{entry.name}.py: missing (the service's test fixtures)"]


# --- import rules ------------------------------------------------------------------------------------

_SERVICE_MODULE = re.compile(r"^services\.(\w+)((?:\.\w+)*)$")


def import_rule_lists() -> dict[tuple[str, str, str], set[str]]:
    """pyproject.toml's import-linter contracts, as (contract, field, module suffix) -> the services
    whose ``services.<name><suffix>`` that field lists (the kit is not a service)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lists: dict[tuple[str, str, str], set[str]] = {}
    for contract in config["tool"]["importlinter"]["contracts"]:
        for field, value in contract.items():
            if not isinstance(value, list):
                continue
            for item in value:
                match = _SERVICE_MODULE.match(item) if isinstance(item, str) else None
                if match and match.group(1) != "kit":
                    lists.setdefault((contract["name"], field, match.group(2)), set()).add(match.group(1))
    return lists


def import_rule_gaps(entry: Service) -> list[str]:
    """Every list of the import rules that names all the other services names this one too."""
    others = {e.name for e in services()} - {entry.name}
    return [
        f"pyproject.toml: import-linter contract {contract!r}, {field}, lacks services.{entry.name}{suffix}"
        for (contract, field, suffix), names in import_rule_lists().items()
        if others and others <= names and entry.name not in names
    ]


# --- topics ------------------------------------------------------------------------------------------


def topic_plan_gaps(entry: Service) -> list[str]:
    planned = topic_plan()["topics"]
    return [
        f"deploy/topics.yaml: no topic {topic} (partitions, retention)"
        for topic in entry.topics
        if topic not in planned
    ]


def scaling_doc_gaps(entry: Service) -> list[str]:
    doc = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([a-z_]+\.(?:events|dlq))` \|", doc, re.MULTILINE))
    return [f"docs/scaling.md: no row for topic `{topic}`" for topic in entry.topics if topic not in rows]


# --- compose -----------------------------------------------------------------------------------------


def compose_gaps(entry: Service) -> list[str]:
    stack = compose()
    processes = stack["services"]
    name, upper = entry.name, entry.name.upper()
    gaps = [
        f"deploy/compose.yaml: no service {name}-{role}"
        for role in ("migrate", "api", "worker")
        if f"{name}-{role}" not in processes
    ]
    gateway = processes["gateway"]
    if f"GATEWAY_{upper}_URL" not in compose_environment(gateway):
        gaps.append(f"deploy/compose.yaml: the gateway's environment lacks GATEWAY_{upper}_URL")
    if f"{name}-api" not in (gateway.get("depends_on") or {}):
        gaps.append(f"deploy/compose.yaml: the gateway does not depend on {name}-api")
    if f"{upper}_DB_PASSWORD" not in compose_environment(processes["postgres"]):
        gaps.append(f"deploy/compose.yaml: postgres's environment lacks {upper}_DB_PASSWORD")
    created = "\n".join(processes["kafka-topics"]["command"])
    gaps += [
        f"deploy/compose.yaml: the kafka-topics job does not create {topic}"
        for topic in entry.topics
        if not re.search(rf"--topic {re.escape(topic)}\b", created)
    ]
    example = (DEPLOY / "compose.env.example").read_text(encoding="utf-8")
    if not re.search(rf"^{upper}_DB_PASSWORD=", example, re.MULTILINE):
        gaps.append(f"deploy/compose.env.example: no {upper}_DB_PASSWORD=")
    script = (DEPLOY / "postgres" / "init-databases.sh").read_text(encoding="utf-8")
    listed = re.search(r"for service in ([a-z_ ]+); do", script)
    if not listed or name not in listed.group(1).split():
        gaps.append(f"deploy/postgres/init-databases.sh: the loop does not create {name}'s role and database")
    return gaps


def containerfile_gaps(entry: Service) -> list[str]:
    exposed = {
        port
        for instruction, rest in containerfile_stages()[-1].instructions
        if instruction == "EXPOSE"
        for port in rest.split()
    }
    return [] if str(entry.port) in exposed else [f"{CONTAINERFILE.relative_to(ROOT)}: EXPOSE lacks {entry.port}"]


# --- Kubernetes --------------------------------------------------------------------------------------


def _kinds(entry: Service) -> list[tuple[str, str]]:
    name = entry.name
    return [
        ("Deployment", f"{name}-api"),
        ("Deployment", f"{name}-worker"),
        ("Job", f"{name}-migrate"),
        ("Service", name),
        ("ConfigMap", f"{name}-config"),
        *(("KafkaTopic", topic.replace(".", "-")) for topic in entry.topics),
    ]


def k8s_base_gaps(entry: Service) -> list[str]:
    where = BASE.relative_to(ROOT)
    name, upper = entry.name, entry.name.upper()
    spec = load_yaml(BASE / "kustomization.yaml")
    gaps = []
    if f"{name}.yaml" not in spec.get("resources", []):
        gaps.append(f"{where}/kustomization.yaml: resources lack {name}.yaml")
    generators = {g["name"]: g.get("envs", []) for g in spec.get("configMapGenerator", [])}
    if generators.get(f"{name}-config") != [f"config/{name}.env"]:
        gaps.append(f"{where}/kustomization.yaml: no configMapGenerator {name}-config from config/{name}.env")
    build = kustomize(BASE)
    present = {(o["kind"], o["metadata"]["name"]) for o in build.objects}
    gaps += [
        f"{where}: no {kind} {object_name}" for kind, object_name in _kinds(entry) if (kind, object_name) not in present
    ]
    gateway_env = read_env_file(BASE / "config" / "gateway.env")
    if f"GATEWAY_{upper}_URL" not in gateway_env:
        gaps.append(f"{where}/config/gateway.env: no GATEWAY_{upper}_URL=http://{name}:{entry.port}")
    return gaps + network_policy_gaps(entry, build.of_kind("NetworkPolicy"))


def network_policy_gaps(entry: Service, policies: list[dict[str, Any]]) -> list[str]:
    """The service's own traffic: the gateway to its API, and each of its pods to its database."""
    where = f"{BASE.relative_to(ROOT)}/network-policies.yaml"
    name = entry.name

    def pod(component: str) -> Endpoint:
        labels = {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": "portal",
        }
        return Endpoint(f"{name}-{component}", "portal", tuple(sorted(labels.items())))

    gateway = Endpoint(
        "gateway", "portal", (("app.kubernetes.io/component", "gateway"), ("app.kubernetes.io/name", "gateway"))
    )
    api = pod("api")
    database = Endpoint(f"{name}-db", "portal-data", (("portal/database", name),))
    gaps = []
    if allowed(policies, gateway, [api], "Egress").get(api.name) != {("TCP", entry.port)}:
        gaps.append(f"{where}: gateway-to-services does not let the gateway reach {name}'s API on {entry.port}")
    if allowed(policies, api, [gateway], "Ingress").get("gateway") != {("TCP", entry.port)}:
        gaps.append(f"{where}: no {name}-api-ingress letting the gateway in on {entry.port}")
    for component in ("api", "worker", "migrate"):
        if allowed(policies, pod(component), [database], "Egress").get(database.name) != {("TCP", 5432)}:
            gaps.append(f"{where}: no {name}-to-database letting {name}'s {component} reach its database")
            break
    return gaps


def k8s_production_gaps(entry: Service) -> list[str]:
    """Production states each process's size, and its replicas (an autoscaler's floor and ceiling,
    or the Deployment's count)."""
    where = PRODUCTION.relative_to(ROOT)
    patched = {
        file: {d["metadata"]["name"] for d in load_documents(PRODUCTION / file)}
        for file in ("replicas.yaml", "resources.yaml")
    }
    return [
        f"{where}/{file}: nothing for {entry.name}-{role} (production's {file.removesuffix('.yaml')})"
        for file in ("replicas.yaml", "resources.yaml")
        for role in ("api", "worker")
        if f"{entry.name}-{role}" not in patched[file]
    ]


# --- docs --------------------------------------------------------------------------------------------


def architecture_doc_gaps(entry: Service) -> list[str]:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    if f"`services/{entry.name}`" in doc:
        return []
    return [f"docs/architecture.md: no section on `services/{entry.name}` (what it owns, publishes, consumes)"]


PLACES = (
    Place("services/<name>/", folder_gaps),
    Place("tests/support/<name>.py", support_plugin_gaps),
    Place("pyproject.toml import-linter", import_rule_gaps),
    Place("deploy/topics.yaml", topic_plan_gaps),
    Place("docs/scaling.md", scaling_doc_gaps),
    Place("deploy/compose.yaml", compose_gaps),
    Place("deploy/Containerfile", containerfile_gaps),
    Place("deploy/k8s/base", k8s_base_gaps),
    Place("deploy/k8s/overlays/production", k8s_production_gaps),
    Place("docs/architecture.md", architecture_doc_gaps),
)


def gaps(entry: Service) -> list[str]:
    """Everything ``entry`` still lacks, place by place."""
    return [gap for place in PLACES for gap in place.check(entry)]
