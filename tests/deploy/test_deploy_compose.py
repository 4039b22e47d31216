"""deploy/compose.yaml: the whole portal on one host, checked against the code it runs."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest

from services.kit.health import WORKER_PATHS
from services.kit.settings import Environment
from services.notification.adapters.providers import (
    PushProviderSettings,
    SmsProviderSettings,
    SmtpProviderSettings,
)

from .manifests import (
    COMPOSE,
    DEPLOY,
    SERVICES,
    answers,
    check_command,
    compose,
    compose_argv,
    compose_environment,
    containerfile_stages,
    env_fields,
    interpolate,
    interpolated_names,
    interpolation_names,
    is_portal_service,
    load_settings,
    required_env_names,
    secret_env_names,
    settings_classes,
    storage_services,
    topic_plan,
)

UID = 10001
WORKER_PORT = 9100
# Secrets given only during a rotation (docs/runbook.md); compose passes an empty list otherwise.
ROTATION_ONLY_SECRETS = frozenset({"PAYMENT_VNPAY_PREVIOUS_HASH_SECRETS"})

# What an operator's deploy/.env would hold, shaped as each variable must be; every other
# variable compose reads gets a random-looking value.
FAKE_DOTENV = {
    "PORTAL_OIDC_ISSUER": "https://portal.example.invalid",
    "IDENTITY_NOTIFIER_WEBHOOK_URL": "https://sms.example.invalid/messages",
    "IDENTITY_EID_ISSUER": "https://eid.example.invalid",
    "PAYMENT_VNPAY_PAY_URL": "https://vnpay.example.invalid/pay",
    "PAYMENT_VNPAY_SERVER_IP": "203.0.113.10",
    "PAYMENT_VNPAY_TMN_CODE": "MERCHANT1",
    "PAYMENT_VIETQR_BANK_BIN": "970436",
    "PAYMENT_VIETQR_ACCOUNT": "0011001234567",
    "PAYMENT_VIETQR_ACCOUNT_NAME": "KHO BAC",
    "PAYMENT_BANK_WEBHOOK_SECRETS": '["0f1e2d3c4b5a69788796a5b4c3d2e1f0"]',
    # The notification providers: each list as its model's documented example.
    **{f"NOTIFICATION_{channel}_PROVIDERS": json.dumps(model.model_json_schema()["examples"])
       for channel, model in (("EMAIL", SmtpProviderSettings), ("SMS", SmsProviderSettings),
                              ("PUSH", PushProviderSettings))},
}  # fmt: skip


def fake_dotenv() -> dict[str, str]:
    names = interpolated_names(compose())
    env = {name: f"{name.lower()}-9c1f0e7d2b3a4c5d6e7f8091a2b3c4d5" for name in names}
    env.update(FAKE_DOTENV)
    for optional in ("PORTAL_IMAGE", "GATEWAY_PUBLISH", "GATEWAY_FORWARDED_ALLOW_IPS", "GATEWAY_CORS_ORIGINS",
                     "PORTAL_LOG_LEVEL", "PAYMENT_VNPAY_API_URL", "PAYMENT_VNPAY_RETURN_URL",
                     "OTEL_EXPORTER_OTLP_ENDPOINT", "PAYMENT_VNPAY_PREVIOUS_HASH_SECRETS"):  # fmt: skip
        env.pop(optional, None)
    return env


@pytest.fixture(scope="module")
def stack() -> dict:
    return compose()


@pytest.fixture(scope="module")
def resolved(stack) -> dict:
    return interpolate(stack, fake_dotenv())


def portal_services(stack: dict) -> dict[str, dict]:
    return {name: svc for name, svc in stack["services"].items() if is_portal_service(svc)}


def module_of(service: dict) -> str:
    return compose_argv(service)[2]


def test_compose_parses_and_names_real_images(stack):
    extensions = {key for key in stack if key.startswith("x-")}
    assert set(stack) - extensions <= {"name", "services", "volumes", "networks", "secrets"}
    for name, svc in stack["services"].items():
        assert svc.get("image") or svc.get("build"), f"{name} has no image"
    builds = {svc["build"]["dockerfile"] for svc in stack["services"].values() if "build" in svc}
    assert builds == {"deploy/Containerfile"}
    for svc in stack["services"].values():
        if "build" in svc:
            assert (COMPOSE.parent / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()


def test_every_portal_process_runs(stack):
    """Each service's migrations, API and worker, and the gateway: the commands are real."""
    expected = {f"{s}-migrate": [f"services.{s}", "migrate"] for s in SERVICES}
    # Every other process serves its metrics on its own internal port (workers their health too).
    metrics = ["--metrics-port", str(WORKER_PORT)]
    expected |= {f"{s}-{role}": [f"services.{s}", role, *metrics] for s in SERVICES for role in ("api", "worker")}
    expected["gateway"] = ["gateway", *metrics]
    services = portal_services(stack)
    assert {name: svc["command"] for name, svc in services.items()} == expected
    for svc in services.values():
        check_command(compose_argv(svc))


def test_environment_names_are_read_by_the_settings(stack):
    for name, svc in portal_services(stack).items():
        cls = settings_classes()[module_of(svc)]
        unknown = set(compose_environment(svc)) - set(env_fields(cls))
        assert not unknown, f"{name}: {sorted(unknown)} are read by no field of {cls.__name__}"


def test_every_required_setting_is_set_and_production_accepts_them(resolved):
    for name, svc in portal_services(resolved).items():
        module = module_of(svc)
        env = compose_environment(svc)
        missing = required_env_names(settings_classes()[module]) - set(env)
        assert not missing, f"{name} does not set {sorted(missing)}"
        settings = load_settings(module, env)
        assert settings.environment is Environment.PRODUCTION, f"{name} does not run as production"


def test_secrets_come_from_the_env_file_only(stack):
    for name, svc in portal_services(stack).items():
        cls = settings_classes()[module_of(svc)]
        env = compose_environment(svc)
        for var in secret_env_names(cls) & set(env):
            value = env[var]
            names = interpolation_names(value)
            assert names, f"{name}: {var} is written in compose.yaml instead of coming from deploy/.env"
            if var.endswith("_DATABASE_URL"):
                # Only the password is secret, and it comes from deploy/.env.
                shape = r"postgresql://\w+:\$\{\w+_DB_PASSWORD:\?[^}]*\}@[\w.-]+:\d+/\w+"
                assert re.fullmatch(shape, value), f"{name}: {var} = {value}"
            elif var in ROTATION_ONLY_SECRETS:
                # Set only while a secret rotates; otherwise an empty list, which holds no secret.
                assert value == f"${{{var}:-[]}}", f"{name}: {var} = {value}"
            else:
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), f"{name}: {var} must be ${{NAME:?...}}, no default"


def test_the_env_file_example_lists_what_compose_reads_and_holds_no_secret(stack):
    example = {}
    for line in (DEPLOY / "compose.env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            example[key.strip()] = value.strip()
    used = interpolated_names(stack)
    assert set(example) == used, f"only in compose: {used - set(example)}; only in the example: {set(example) - used}"
    secrets = {n for n in used if n.endswith(("_PASSWORD", "_KEY", "_SECRET", "_SECRETS"))}
    assert secrets, "the example names the secrets"
    assert all(example[n] == "" for n in secrets), "the example holds secret values"
    ignored = [line.strip() for line in (DEPLOY / ".gitignore").read_text(encoding="utf-8").splitlines()]
    assert ".env" in ignored, "deploy/.env is never committed"


def test_compose_refuses_to_start_without_a_secret(stack):
    env = fake_dotenv()
    del env["IDENTITY_KEY_ENCRYPTION_KEY"]
    with pytest.raises(KeyError, match="IDENTITY_KEY_ENCRYPTION_KEY"):
        interpolate(stack, env)


def test_ports_and_health_checks_match_the_code(resolved):
    for name, svc in portal_services(resolved).items():
        module = module_of(svc)
        settings = load_settings(module, compose_environment(svc))
        role = svc["command"][1] if len(svc["command"]) > 1 else svc["command"][0]
        if role == "migrate":
            assert "healthcheck" not in svc, f"{name} serves no HTTP"
            continue
        if role == "worker":
            # Alive while its loop beats, on the port its command line names (kit WorkerHealthServer).
            command = svc["command"]
            port = int(command[command.index("--metrics-port") + 1])
            probed = re.findall(r"http://127\.0\.0\.1:(\d+)(/\w+)", svc["healthcheck"]["test"][3])
            assert probed == [(str(port), "/healthz")], f"{name}: {probed}"
            assert "/healthz" in WORKER_PATHS and "/metrics" in WORKER_PATHS
            continue
        assert settings.host == "0.0.0.0", f"{name} listens on loopback only"
        # Metrics on the internal port its command line names, never on the port it serves.
        command = svc["command"]
        assert int(command[command.index("--metrics-port") + 1]) != settings.port, name
        assert not answers(module, "/metrics"), f"{name} serves /metrics on its public port"
        test = svc["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], f"{name}: the image has no curl; use python"
        urls = re.findall(r"http://127\.0\.0\.1:(\d+)(/\w+)", test[3])
        assert urls, f"{name}: no probe URL"
        for port, path in urls:
            assert int(port) == settings.port, f"{name}: probes port {port}, listens on {settings.port}"
            assert path == "/readyz" and answers(module, path), f"{name}: {path}"
    published = resolved["services"]["gateway"]["ports"]
    gateway = load_settings("gateway", compose_environment(resolved["services"]["gateway"]))
    assert [p.rsplit(":", 1)[1] for p in published] == [str(gateway.port)]
    assert all("ports" not in svc for name, svc in resolved["services"].items() if name != "gateway")


def test_the_gateway_finds_each_api_where_it_listens(resolved):
    gateway = load_settings("gateway", compose_environment(resolved["services"]["gateway"]))
    for service, url in gateway.upstreams.items():
        parts = urlsplit(url)
        assert parts.hostname == f"{service}-api", f"{service}: {url}"
        api = resolved["services"][f"{service}-api"]
        assert parts.port == load_settings(f"services.{service}", compose_environment(api)).port
    for name, svc in portal_services(resolved).items():
        if module_of(svc) != "gateway":
            jwks = urlsplit(load_settings(module_of(svc), compose_environment(svc)).oidc_jwks_url)
            identity = load_settings("services.identity", compose_environment(resolved["services"]["identity-api"]))
            assert (jwks.hostname, jwks.port, jwks.path) == ("identity-api", identity.port, "/oauth2/jwks"), name
            assert answers("services.identity", "/oauth2/jwks")


def test_start_order(stack):
    services = stack["services"]
    for name, svc in services.items():
        for dependency, rule in (svc.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on {dependency}, which does not exist"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no health check"
            if rule["condition"] == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", f"{dependency} is a one-shot job"
    for service in SERVICES:
        migrate = services[f"{service}-migrate"]
        assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        for role in ("api", "worker"):
            depends = services[f"{service}-{role}"]["depends_on"]
            assert depends[f"{service}-migrate"] == {"condition": "service_completed_successfully"}
            assert depends["kafka-topics"] == {"condition": "service_completed_successfully"}
            assert depends["kafka"] == {"condition": "service_healthy"}
    assert services["kafka-topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert services["gateway"]["depends_on"] == {f"{s}-api": {"condition": "service_healthy"} for s in SERVICES}


def test_portal_containers_are_locked_down(stack):
    for name, svc in portal_services(stack).items():
        assert svc["user"] == f"{UID}:{UID}", name
        assert svc["read_only"] is True, name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert "/tmp" in svc["tmpfs"], name  # noqa: S108 (the container's own tmpfs)


def test_services_that_keep_files_keep_them_on_a_volume(resolved):
    """One host: each service whose settings inherit the kit's StorageSettings keeps its files in a
    folder on a named volume of its own, mounted in its API (which reads and writes them), and the
    image makes that folder, owned by the portal's user, so a new volume starts writable."""
    assert storage_services(), "no service keeps files"
    runtime = " ".join(rest for name, rest in containerfile_stages()[-1].instructions if name == "RUN")
    made = {p for m in re.finditer(r"mkdir -p ((?:/\S+ ?)+)", runtime) for p in m.group(1).split()}
    owned = re.findall(rf"chown -R {UID}:{UID} (/\S+)", runtime)
    declared = set(resolved.get("volumes") or {})
    for name in storage_services():
        folders = set()
        for role in ("migrate", "api", "worker"):
            settings = load_settings(f"services.{name}", compose_environment(resolved["services"][f"{name}-{role}"]))
            assert settings.storage == "local", f"{name}-{role}: storage {settings.storage}"
            folders.add(str(settings.storage_dir))
        assert len(folders) == 1, f"{name}: its processes name different folders {sorted(folders)}"
        folder = folders.pop()
        assert folder.startswith("/"), f"{name}: {folder} is relative to the working directory"
        mounts = [v.split(":") for v in resolved["services"][f"{name}-api"].get("volumes", [])]
        assert [f"{name}-files", folder] in [m[:2] for m in mounts], f"{name}-api does not mount {folder}"
        assert f"{name}-files" in declared, f"volume {name}-files is not declared"
        assert folder in made, f"the image does not make {folder}"
        assert any(folder.startswith(parent.rstrip("/") + "/") for parent in owned), f"{folder} is root's"


def test_one_database_per_service(resolved, stack):
    postgres = stack["services"]["postgres"]
    assert re.fullmatch(r"postgres:(\d+)", postgres["image"]) and int(postgres["image"].split(":")[1]) >= 16
    script = DEPLOY / "postgres" / "init-databases.sh"
    mounts = [v for v in postgres["volumes"] if v.startswith("./postgres/init-databases.sh:")]
    assert mounts and mounts[0].split(":")[1].startswith("/docker-entrypoint-initdb.d/")
    text = script.read_text(encoding="utf-8")
    listed = re.search(r"for service in ([a-z ]+); do", text)
    assert listed and tuple(listed.group(1).split()) == SERVICES
    assert '"${service^^}_DB_PASSWORD"' in text
    for service in SERVICES:
        assert f"{service.upper()}_DB_PASSWORD" in postgres["environment"]
        for role in ("migrate", "api", "worker"):
            env = compose_environment(resolved["services"][f"{service}-{role}"])
            url = urlsplit(env[f"{service.upper()}_DATABASE_URL"])
            assert (url.username, url.hostname, url.port, url.path) == (service, "postgres", 5432, f"/portal_{service}")
            others = {k for k in env if k.endswith("_DATABASE_URL")} - {f"{service.upper()}_DATABASE_URL"}
            assert not others, f"{service}-{role} is given another service's database"


def test_kafka_runs_in_kraft_mode(stack):
    kafka = stack["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = compose_environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_CONTROLLER_QUORUM_VOTERS" in env and env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert not any("zookeeper" in str(v).lower() for svc in stack["services"].values() for v in svc.values())
    bootstrap = {compose_environment(svc).get("KAFKA_BOOTSTRAP_SERVERS") for svc in portal_services(stack).values()}
    assert bootstrap - {None} == {"kafka:9092"}


def compose_topics(stack: dict) -> dict[str, dict[str, str]]:
    script = "\n".join(stack["services"]["kafka-topics"]["command"])
    topics = {}
    for line in script.splitlines():
        if "--create" not in line:
            continue
        found = dict(re.findall(r"--(topic|partitions|replication-factor) (\S+)", line))
        found.update(dict(re.findall(r"--config (retention\.ms)=(\d+)", line)))
        assert found["topic"] not in topics, f"{found['topic']} created twice"
        topics[found["topic"]] = found
    return topics


def test_the_topics_job_creates_every_topic_as_planned(stack):
    plan = topic_plan()
    topics = compose_topics(stack)
    assert set(topics) == set(plan["topics"])
    for name, wanted in plan["topics"].items():
        assert int(topics[name]["partitions"]) == wanted["partitions"], name
        assert int(topics[name]["retention.ms"]) == wanted["retention_hours"] * 3_600_000, name
        assert topics[name]["replication-factor"] == "1", f"{name}: one broker here"
