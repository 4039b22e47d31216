"""Reading the deployment files the way their tools would, for tests/deploy.

Nothing here needs a network, a container engine or a cluster: compose files and Kubernetes
manifests are parsed with PyYAML; compose's variable interpolation, kustomize's part that this
repository uses (resources, ConfigMap generators, strategic-merge patches, images, namespace) and
the NetworkPolicy rules are evaluated in Python. Each does only what the files here need and
refuses anything else, so a file using a feature these helpers do not understand fails a test
rather than being checked wrongly.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import ipaddress
import json
import re
import sys
import typing
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings, EnvSettingsSource

from contracts.services import service_names
from services.kit.settings import SHARED_ENV, StorageSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
COMPOSE = DEPLOY / "compose.yaml"
CONTAINERFILE = DEPLOY / "Containerfile"
TOPICS = DEPLOY / "topics.yaml"

SERVICES = service_names()  # contracts/services.py
PORTAL_IMAGE = "national-portal"


# --- YAML ---------------------------------------------------------------------------------------


def load_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# --- settings classes -----------------------------------------------------------------------------


@cache
def settings_classes() -> dict[str, type[BaseSettings]]:
    """Each process's settings class, by the module that runs it (``services.dossier``, ``gateway``)."""
    import importlib

    from contracts.services import services
    from gateway.settings import GatewaySettings

    classes: dict[str, type[BaseSettings]] = {
        entry.package: importlib.import_module(entry.spec_module).SERVICE.settings_cls for entry in services()
    }
    return {**classes, "gateway": GatewaySettings}


def env_fields(cls: type[BaseSettings]) -> dict[str, str]:
    """Every environment variable ``cls`` reads, mapped to the field it sets: the prefix plus each
    field's name (or its aliases), and the unprefixed deployment-wide names, found by asking the
    class's own source for the shared variables which fields it fills."""
    prefix = (cls.model_config.get("env_prefix") or "").upper()
    names: dict[str, str] = {}
    for field_name, info in cls.model_fields.items():
        aliases = [a for a in (info.validation_alias, info.alias) if a]
        if not aliases:
            names[prefix + field_name.upper()] = field_name
        for alias in aliases:
            choices = getattr(alias, "choices", [alias])
            for choice in choices:
                if isinstance(choice, str):
                    names[choice.upper()] = field_name
    source_cls = getattr(cls, "shared_source", None)
    if source_cls is not None:
        for env_name in set(SHARED_ENV.values()):
            source = source_cls(cls)
            source.env_vars = {env_name.lower(): "x"}
            for field_name, info in cls.model_fields.items():
                value, _, _ = source.get_field_value(info, field_name)
                if value is not None:
                    names.setdefault(env_name, field_name)
    return names


def all_env_names() -> set[str]:
    return {name for cls in settings_classes().values() for name in env_fields(cls)}


def _holds_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):  # a list of providers with their keys
        return any(_holds_secret(f.annotation) for f in annotation.model_fields.values())
    return any(_holds_secret(arg) for arg in typing.get_args(annotation))


def storage_services() -> dict[str, type[BaseSettings]]:
    """The services that keep files (their settings inherit the kit's ``StorageSettings``), by name:
    each must be deployed with its store (compose: a volume; Kubernetes: S3, its keys, the egress)."""
    return {
        module.removeprefix("services."): cls
        for module, cls in settings_classes().items()
        if module.startswith("services.") and issubclass(cls, StorageSettings)
    }


# Credentials whose fields are plain strings (so the type alone does not say so), by the settings
# class that has them: the object store's access key, in every service that keeps files.
CREDENTIAL_FIELDS_TYPED_AS_TEXT: dict[type[BaseSettings], frozenset[str]] = {
    StorageSettings: frozenset({"s3_access_key"}),
}


def secret_env_names(cls: type[BaseSettings]) -> set[str]:
    """The variables of ``cls`` that carry secrets: fields typed ``SecretStr`` (alone, optional or
    in a list), and the credentials typed as text."""
    fields = env_fields(cls)
    secret_fields = {name for name, info in cls.model_fields.items() if _holds_secret(info.annotation)}
    for owner, credentials in CREDENTIAL_FIELDS_TYPED_AS_TEXT.items():
        if issubclass(cls, owner):
            secret_fields |= credentials
    return {env for env, field in fields.items() if field in secret_fields}


def required_env_names(cls: type[BaseSettings]) -> set[str]:
    """Variables for the fields that have no default: each must be set."""
    prefix = (cls.model_config.get("env_prefix") or "").upper()
    return {prefix + name.upper() for name, info in cls.model_fields.items() if info.is_required()}


def dummy_secret(cls: type[BaseSettings], env_name: str) -> str:
    """A value of the right shape for a secret that the manifests only name (never a placeholder
    that production refuses)."""
    field = env_fields(cls)[env_name]
    annotation = cls.model_fields[field].annotation
    token = "not-a-real-secret-" + "7f3c9a1e5b2d4c6a8e0f1a2b3c4d5e6f"
    if field == "database_url":
        return f"postgresql://app:{token}@db.example.invalid:5432/portal"
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):  # models documented with an example
            return json.dumps(item.model_json_schema()["examples"])
        return json.dumps([token])
    return token


def settings_from(cls: type[BaseSettings], env: dict[str, str]) -> BaseSettings:
    """``cls`` read from exactly ``env``, as a container with that environment would read it, by
    the class's own sources (prefixes, shared names, parsing, validation); the environment of the
    test process plays no part and is not touched."""
    variables = {name.lower(): value for name, value in env.items()}

    class FromEnvironment(cls):  # type: ignore[misc, valid-type]
        @classmethod
        def settings_customise_sources(
            cls_, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        ):  # type: ignore[no-untyped-def]
            sources = super().settings_customise_sources(
                settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
            )
            for source in sources:
                if isinstance(source, EnvSettingsSource):
                    source.env_vars = variables
            return sources

    FromEnvironment.__name__ = cls.__name__
    return FromEnvironment()


def load_settings(module: str, env: dict[str, str]) -> BaseSettings:
    return settings_from(settings_classes()[module], env)


# --- the image and its commands -------------------------------------------------------------------


@dataclasses.dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]]  # (INSTRUCTION, arguments), continuation lines joined


def containerfile_stages(text: str | None = None) -> list[Stage]:
    text = text if text is not None else CONTAINERFILE.read_text(encoding="utf-8")
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        rest = rest.strip()
        if instruction == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key] = default
            continue
        if instruction == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name, []))
            continue
        if not stages:
            raise AssertionError(f"instruction before FROM: {line}")
        stages[-1].instructions.append((instruction, rest))
    return stages


def exec_form(stage: Stage, instruction: str) -> list[str] | None:
    """The last ``instruction`` (ENTRYPOINT, CMD) of a stage, which must be in exec (JSON) form."""
    values = [rest for name, rest in stage.instructions if name == instruction]
    if not values:
        return None
    parsed = json.loads(values[-1])
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), f"{instruction} is not exec form"
    return parsed


def image_entrypoint() -> tuple[list[str], list[str]]:
    final = containerfile_stages()[-1]
    return exec_form(final, "ENTRYPOINT") or [], exec_form(final, "CMD") or []


class _Parsed(Exception):
    """Raised where a command would start working: its arguments were accepted."""


def _refuse_to_run(*_args: Any, **_kwargs: Any) -> Any:
    raise _Parsed


def check_command(argv: list[str]) -> str:
    """Assert that ``argv`` (what a container runs) is ``python -m <module> <arguments>`` for a real
    entry point whose command line accepts the arguments; return the module. The module's own
    argument parser decides, stopped right after parsing (before settings are read)."""
    assert argv[:2] == ["python", "-m"], f"not `python -m ...`: {argv}"
    assert len(argv) >= 3, f"no module: {argv}"
    module, arguments = argv[2], argv[3:]
    if module == "gateway":
        import gateway.__main__ as entry

        with mock.patch.object(entry, "GatewaySettings", _refuse_to_run), pytest.raises(_Parsed):
            entry.main(arguments)
        return module
    match = re.fullmatch(r"services\.(\w+)", module)
    assert match and match.group(1) in SERVICES, f"no such entry point: {module}"
    import importlib
    import importlib.util

    assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module} has no __main__"
    from services.kit.cli import main

    spec = importlib.import_module(f"{module}.app").SERVICE
    stopped = dataclasses.replace(spec, settings_cls=_refuse_to_run)
    with pytest.raises(_Parsed):
        main(stopped, arguments)
    return module


@cache
def _app(module: str) -> Any:
    """The process's app, built (not started: no database, no broker)."""
    import importlib

    settings = load_settings(module, {})
    with pytest.MonkeyPatch.context() as patch:
        if module == "gateway":
            import gateway.app

            patch.setattr(gateway.app, "configure_logging", lambda *a, **k: None)
            return gateway.app.create_app(settings)
        import services.kit.app

        patch.setattr(services.kit.app, "configure_logging", lambda *a, **k: None)
        return importlib.import_module(f"{module}.app").create_app(settings)


def answers(module: str, path: str) -> bool:
    """Whether the process's app has a route of its own for ``GET path``: the first route that
    matches, unless it is a catch-all (a ``{...:path}`` route, such as the gateway's forwarding)."""
    from starlette.routing import Match

    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": [], "query_string": b""}
    for route in _app(module).router.routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            matched = child.get("route", route)
            return ":path}" not in str(getattr(matched, "path", ""))
    return False


# --- topics ---------------------------------------------------------------------------------------


def code_topics() -> set[str]:
    """Every topic the code publishes to or reads: the platform's list, each service's own topics
    (events and dead letters) and every consumer's subscriptions."""
    import importlib

    from services.kit.kafka import platform_topics

    topics = set(platform_topics())
    for name in SERVICES:
        spec = importlib.import_module(f"services.{name}.app").SERVICE
        settings = settings_from(spec.settings_cls, {})
        topics |= {settings.topic, settings.dead_letter_topic}
        for consumer in spec.consumers:
            topics |= set(consumer.topics)
    return topics


def consumed_topics(service: str) -> set[str]:
    import importlib

    spec = importlib.import_module(f"services.{service}.app").SERVICE
    return {topic for consumer in spec.consumers for topic in consumer.topics}


def topic_plan() -> dict[str, Any]:
    return load_yaml(TOPICS)


# --- compose --------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolation_names(value: str) -> set[str]:
    return {m.group(2) or m.group(5) for m in _INTERPOLATION.finditer(value) if not m.group(1)}


def interpolated_names(value: Any) -> set[str]:
    """Every variable that the strings inside ``value`` (a parsed compose file) interpolate."""
    if isinstance(value, dict):
        return set().union(set(), *(interpolated_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(interpolated_names(v) for v in value))
    return interpolation_names(value) if isinstance(value, str) else set()


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation of ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``,
    ``${NAME:?error}``, ``${NAME?error}``, ``$NAME`` and ``$$``, on strings inside ``value``."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(5)
        operator, argument = match.group(3), match.group(4)
        present = name in env
        text = env.get(name, "")
        if operator in (":-", "-"):
            use_default = (not present) or (operator == ":-" and text == "")
            return argument if use_default else text
        if operator in (":?", "?"):
            if (not present) or (operator == ":?" and text == ""):
                raise KeyError(f"compose would refuse to start: {name} ({argument})")
            return text
        return text

    return _INTERPOLATION.sub(one, value)


def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in env.items()}


def is_portal_service(service: dict[str, Any]) -> bool:
    return PORTAL_IMAGE in str(service.get("image", "")) or "build" in service


def compose_argv(service: dict[str, Any]) -> list[str]:
    """What a compose service of the portal's image runs: the image's entrypoint (or the service's)
    followed by the service's command (or the image's CMD)."""
    entrypoint, cmd = image_entrypoint()
    if "entrypoint" in service:
        entrypoint = service["entrypoint"]
        cmd = []
    command = service.get("command", cmd)
    assert isinstance(command, list), "commands are written in exec (list) form"
    return [*entrypoint, *command]


# --- kustomize ------------------------------------------------------------------------------------


def object_key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


@dataclasses.dataclass
class Build:
    """What a kustomization makes: its objects (generated ConfigMaps keep their plain names, as
    the objects that refer to them do) and the ConfigMaps' data."""

    directory: Path
    objects: list[dict[str, Any]]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for obj in self.objects:
            if object_key(obj) == (kind, name):
                return obj
        raise KeyError(f"{kind}/{name} is not in {self.directory}")

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]


KNOWN_KUSTOMIZATION_FIELDS = frozenset(
    {"apiVersion", "kind", "resources", "configMapGenerator", "generatorOptions", "patches", "images", "namespace"}
)


def read_env_file(path: Path) -> dict[str, str]:
    """A kustomize ``envs`` file: KEY=VALUE lines, ``#`` comments and blank lines skipped."""
    data: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        assert sep, f"{path}:{number}: not KEY=VALUE"
        assert key not in data, f"{path}:{number}: {key} twice"
        data[key] = value
    return data


def kustomize(directory: Path) -> Build:
    """Build a kustomization the way kustomize would, for the features used here."""
    path = directory / "kustomization.yaml"
    assert path.is_file(), f"{directory} has no kustomization.yaml"
    spec = load_yaml(path)
    unknown = set(spec) - KNOWN_KUSTOMIZATION_FIELDS
    assert not unknown, f"{path}: fields these tests do not understand: {sorted(unknown)}"
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        assert target.exists(), f"{path}: resource {entry} does not exist"
        if target.is_dir():
            objects += kustomize(target).objects
        else:
            objects += copy.deepcopy(load_documents(target))
    options = spec.get("generatorOptions") or {}
    for generator in spec.get("configMapGenerator", []):
        data: dict[str, str] = {}
        for env_file in generator.get("envs", []):
            env_path = directory / env_file
            assert env_path.is_file(), f"{path}: envs file {env_file} does not exist"
            data.update(read_env_file(env_path))
        assert set(generator) <= {"name", "envs", "behavior"}, f"{path}: unknown generator fields"
        behavior = generator.get("behavior", "create")
        existing = [o for o in objects if object_key(o) == ("ConfigMap", generator["name"])]
        if behavior == "merge":
            assert existing, f"{path}: merges into ConfigMap {generator['name']}, which the base does not make"
            existing[0]["data"].update(data)
        else:
            assert behavior == "create" and not existing, f"{path}: ConfigMap {generator['name']} made twice"
            labels = dict(options.get("labels") or {})
            objects.append(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"], "labels": labels},
                 "data": data}
            )  # fmt: skip
    for patch in spec.get("patches", []):
        assert set(patch) == {"path"}, f"{path}: only strategic-merge patches from files are understood"
        patch_path = directory / patch["path"]
        assert patch_path.is_file(), f"{path}: patch {patch['path']} does not exist"
        for document in load_documents(patch_path):
            matches = [o for o in objects if object_key(o) == object_key(document)]
            assert matches, f"{patch_path}: patches {object_key(document)}, which the resources do not have"
            strategic_merge(matches[0], document, f"{patch_path}:{object_key(document)}")
    for image in spec.get("images", []):
        containers = [c for obj in objects for c in pod_containers(obj) if c["image"].split(":")[0] == image["name"]]
        assert containers, f"{path}: image {image['name']} is used by no container"
        for container in containers:
            name = image.get("newName", image["name"])
            container["image"] = f"{name}:{image['newTag']}" if "newTag" in image else name
    if "namespace" in spec:
        for obj in objects:
            obj["metadata"]["namespace"] = spec["namespace"]
    return Build(directory, objects)


def strategic_merge(target: dict[str, Any], patch: dict[str, Any], where: str) -> None:
    """Strategic merge as far as these manifests use it: maps merge; lists of named items (such
    as containers) merge by name and the name must exist (kustomize would silently add a second,
    broken container for a misspelt one); other lists and values replace."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            strategic_merge(target[key], value, f"{where}.{key}")
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
            current = target.get(key)
            assert isinstance(current, list), f"{where}.{key}: nothing to merge into"
            for item in value:
                named = [c for c in current if c.get("name") == item["name"]]
                assert named, f"{where}.{key}: no item named {item['name']!r} to patch"
                strategic_merge(named[0], item, f"{where}.{key}[{item['name']}]")
        else:
            assert key in target or key in ("replicas",), f"{where}: patches {key}, which the target does not set"
            target[key] = copy.deepcopy(value)


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return obj["spec"]["template"]["spec"]
    return None


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    return obj["spec"]["template"]["metadata"].get("labels", {})


def pod_containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(obj)
    return [] if spec is None else [*spec.get("initContainers", []), *spec["containers"]]


def workloads(build: Build) -> list[dict[str, Any]]:
    return [obj for obj in build.objects if pod_spec(obj) is not None]


def container_argv(container: dict[str, Any]) -> list[str]:
    """What a container of the portal's image runs: ``command`` replaces the image's entrypoint,
    ``args`` its CMD (and a ``command`` alone drops the CMD)."""
    entrypoint, cmd = image_entrypoint()
    if "command" in container:
        return [*container["command"], *container.get("args", [])]
    return [*entrypoint, *container.get("args", cmd)]


def container_env(build: Build, container: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    """The container's environment with secrets replaced by dummies of the right shape, and the
    names that came from Secrets."""
    env: dict[str, str] = {}
    from_secrets: set[str] = set()
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, f"{container['name']}: only ConfigMaps are read whole"
        env.update(build.get("ConfigMap", source["configMapRef"]["name"])["data"])
    module = check_module(container)
    cls = settings_classes()[module]
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            ref = item["valueFrom"]
            assert set(ref) == {"secretKeyRef"}, f"{item['name']}: only secretKeyRef is expected"
            assert item["name"] in env_fields(cls), f"{item['name']} is read by no field of {cls.__name__}"
            env[item["name"]] = dummy_secret(cls, item["name"])
            from_secrets.add(item["name"])
    return env, from_secrets


def check_module(container: dict[str, Any]) -> str:
    argv = container_argv(container)
    return argv[2]


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert named, f"{container['name']}: no port named {port}"
    return named[0]


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti)?$")


def quantity(value: str | int | float) -> float:
    match = _QUANTITY.match(str(value))
    assert match, f"not a quantity this test reads: {value}"
    number, unit = float(match.group(1)), match.group(2)
    return number * {None: 1, "m": 0.001, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}[unit]


# --- network policies -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Something that sends or receives traffic: a pod (namespace and labels) or an address."""

    name: str
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    address: str | None = None

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    assert selector is not None
    unknown = set(selector) - {"matchLabels"}
    assert not unknown, f"selectors these tests do not understand: {sorted(unknown)}"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _peer_matches(peer: dict[str, Any], endpoint: Endpoint, own_namespace: str) -> bool:
    unknown = set(peer) - {"podSelector", "namespaceSelector", "ipBlock"}
    assert not unknown, f"peers these tests do not understand: {sorted(unknown)}"
    if "ipBlock" in peer:
        if endpoint.address is None:
            return False
        address = ipaddress.ip_address(endpoint.address)
        block = peer["ipBlock"]
        network = ipaddress.ip_network(block["cidr"])
        if address.version != network.version or address not in network:
            return False
        return not any(
            address in ipaddress.ip_network(e)
            for e in block.get("except", [])
            if ipaddress.ip_network(e).version == address.version
        )
    if endpoint.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": endpoint.namespace}):
            return False
    elif endpoint.namespace != own_namespace:
        return False
    return _selects(peer.get("podSelector", {}), endpoint.label_map)


def _ports(rule: dict[str, Any]) -> set[tuple[str, int]] | None:
    if "ports" not in rule:
        return None
    ports = set()
    for port in rule["ports"]:
        assert isinstance(port["port"], int), "policies name ports by number"
        ports.add((port.get("protocol", "TCP"), port["port"]))
    return ports


def allowed(
    policies: list[dict[str, Any]], pod: Endpoint, others: list[Endpoint], direction: str
) -> dict[str, set[tuple[str, int]] | None]:
    """Whom ``pod`` may reach (``Egress``) or be reached by (``Ingress``): endpoint name -> the
    (protocol, port) pairs allowed, ``None`` for every port. Only policies that select the pod count,
    and once any does, what none of them allows is denied."""
    assert pod.namespace is not None
    result: dict[str, set[tuple[str, int]] | None] = {}
    key = "egress" if direction == "Egress" else "ingress"
    peers_key = "to" if direction == "Egress" else "from"
    for policy in policies:
        spec = policy["spec"]
        if direction not in spec.get("policyTypes", ["Ingress"]):
            continue
        if not _selects(spec["podSelector"], pod.label_map):
            continue
        for rule in spec.get(key, []):
            ports = _ports(rule)
            for other in others:
                peers = rule.get(peers_key)
                if peers is None or any(_peer_matches(p, other, pod.namespace) for p in peers):
                    if ports is None or result.get(other.name, set()) is None:
                        result[other.name] = None
                    else:
                        result[other.name] = (result.get(other.name) or set()) | ports
    return result


def isolated(policies: list[dict[str, Any]], pod: Endpoint, direction: str) -> bool:
    return any(
        direction in p["spec"].get("policyTypes", ["Ingress"]) and _selects(p["spec"]["podSelector"], pod.label_map)
        for p in policies
    )


# --- source ---------------------------------------------------------------------------------------


def third_party_imports(packages: tuple[str, ...] = ("services", "gateway", "contracts")) -> set[str]:
    """Top-level names imported by the code that runs in the image, minus the standard library
    and the repository's own packages."""
    own = {*packages, "deploy", "tests", "bench"}
    names: set[str] = set()
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in own and n != "__future__"}
