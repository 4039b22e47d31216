"""deploy/k8s: the base and the production overlay, built here the way kustomize builds them and
checked against the code they run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from contracts.services import services
from services.kit.health import WORKER_PATHS
from services.kit.settings import Environment

from .manifests import (
    BASE,
    K8S,
    PORTAL_IMAGE,
    PRODUCTION,
    ROOT,
    SERVICES,
    Build,
    Endpoint,
    allowed,
    answers,
    check_command,
    consumed_topics,
    container_argv,
    container_env,
    env_fields,
    isolated,
    kustomize,
    load_documents,
    load_settings,
    object_key,
    pod_containers,
    pod_labels,
    pod_spec,
    quantity,
    required_env_names,
    resolve_port,
    secret_env_names,
    settings_classes,
    storage_services,
    topic_plan,
    workloads,
)

UID = 10001
WORKER_PORT = 9100
NAMESPACE = "portal"


@pytest.fixture(scope="module")
def base() -> Build:
    return kustomize(BASE)


@pytest.fixture(scope="module")
def production() -> Build:
    return kustomize(PRODUCTION)


@pytest.fixture(scope="module", params=["base", "production"])
def build(request, base, production) -> Build:
    return base if request.param == "base" else production


def portal_containers(build: Build):
    for obj in workloads(build):
        for container in pod_containers(obj):
            if container["image"].split(":")[0] == PORTAL_IMAGE:
                yield obj, container


def role(obj: dict) -> tuple[str, str]:
    labels = pod_labels(obj)
    return labels["app.kubernetes.io/name"], labels["app.kubernetes.io/component"]


# --- parsing and structure ----------------------------------------------------------------------------


def test_every_manifest_parses():
    files = sorted(K8S.rglob("*.yaml"))
    assert files
    for path in files:
        for doc in load_documents(path):
            assert isinstance(doc, dict) and "kind" in doc, f"{path}: not a Kubernetes object"
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"], f"{path}: unnamed object"


def test_every_manifest_file_is_used():
    """A manifest that no kustomization lists would never be applied."""
    used: set[Path] = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        used.add(kustomization)
        for entry in spec.get("resources", []):
            used.add((kustomization.parent / entry).resolve())
        used |= {(kustomization.parent / p["path"]).resolve() for p in spec.get("patches", [])}
        for generator in spec.get("configMapGenerator", []):
            used |= {(kustomization.parent / e).resolve() for e in generator.get("envs", [])}
    files = {p.resolve() for p in K8S.rglob("*") if p.is_file()}
    assert files - used == set(), f"not referenced by any kustomization: {sorted(files - used)}"


def test_the_overlay_builds_on_the_base(base, production):
    """kustomize(): resources exist, patches and ConfigMap merges target objects the base has,
    named containers exist, the image is used (a failing assertion names the mistake)."""
    assert {object_key(o) for o in production.objects} == {object_key(o) for o in base.objects}


def test_the_structure_check_catches_mistakes(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "app.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    metadata: {}\n"
        "    spec:\n      containers:\n        - {name: api, image: national-portal}\n"
    )
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [app.yaml]\n")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    cases = {
        "resources: [../base, missing.yaml]\n": "does not exist",
        "resources: [../base]\npatches: [{path: p.yaml}]\n": "which the resources do not have",
        "resources: [../base]\npatches: [{path: c.yaml}]\n": "no item named 'worker'",
        "resources: [../base]\nimages: [{name: other, newTag: '1'}]\n": "used by no container",
        "resources: [../base]\nconfigMapGenerator: [{name: x, behavior: merge, envs: [e.env]}]\n": "does not make",
        "resources: [../base]\nhelmCharts: []\n": "do not understand",
    }
    (overlay / "p.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: webb}\nspec: {}\n")
    (overlay / "c.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - {name: worker, image: x}\n"
    )
    (overlay / "e.env").write_text("A=1\n")
    for text, message in cases.items():
        (overlay / "kustomization.yaml").write_text(text)
        with pytest.raises(AssertionError, match=message):
            kustomize(overlay)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its built-in kustomize) is not installed")
@pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])
def test_kubectl_kustomize_builds_the_same(directory):
    """Where kubectl is at hand, the real kustomize agrees with the builder these tests use."""
    out = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=True)
    real = {}
    for obj in yaml.safe_load_all(out.stdout):
        kind, name = object_key(obj)
        if kind == "ConfigMap":
            name = re.sub(r"-[a-z0-9]{10}$", "", name)  # the content hash
        real[(kind, name)] = obj
    ours = {object_key(o): o for o in kustomize(directory).objects}
    assert set(real) == set(ours)
    for key, obj in ours.items():
        if key[0] == "ConfigMap":
            assert real[key]["data"] == obj["data"], key
        elif pod_spec(obj) is not None:
            for mine, theirs in zip(pod_containers(obj), pod_containers(real[key]), strict=True):
                assert (mine["image"], mine["resources"]) == (theirs["image"], theirs["resources"]), key
            assert obj["spec"].get("replicas") == real[key]["spec"].get("replicas"), key
        elif key[0] == "HorizontalPodAutoscaler":
            assert obj["spec"] == real[key]["spec"], key
        assert obj["metadata"].get("namespace") == real[key]["metadata"].get("namespace"), key


# --- what runs, and with what settings ----------------------------------------------------------------


def test_every_process_runs_a_real_command(build):
    seen = set()
    for obj, container in portal_containers(build):
        module = check_command(container_argv(container))
        name, component = role(obj)
        if component == "gateway":
            assert (name, module) == ("gateway", "gateway")
        else:
            assert module == f"services.{name}", f"{obj['metadata']['name']} runs {module}"
            assert container_argv(container)[3] == component, f"{obj['metadata']['name']} runs the wrong command"
        seen.add((name, component))
    expected = {(s, c) for s in SERVICES for c in ("api", "worker", "migrate")} | {("gateway", "gateway")}
    assert seen == expected


def test_environment_names_are_read_by_the_settings(build):
    for obj, container in portal_containers(build):
        module = container_argv(container)[2]
        cls = settings_classes()[module]
        env, _ = container_env(build, container)
        unknown = set(env) - set(env_fields(cls))
        assert not unknown, f"{obj['metadata']['name']}: {sorted(unknown)} are read by no field of {cls.__name__}"


def test_every_required_setting_is_set_and_production_accepts_them(build):
    for obj, container in portal_containers(build):
        module = container_argv(container)[2]
        env, _ = container_env(build, container)
        missing = required_env_names(settings_classes()[module]) - set(env)
        assert not missing, f"{obj['metadata']['name']} does not set {sorted(missing)}"
        settings = load_settings(module, env)
        assert settings.environment is Environment.PRODUCTION, obj["metadata"]["name"]


def test_secrets_are_referenced_never_written(build):
    for path in K8S.rglob("*.yaml"):
        for doc in load_documents(path):
            assert doc["kind"] != "Secret", f"{path}: a Secret in the repository"
            assert "secretGenerator" not in doc, f"{path}: Secrets generated from the repository"
    for obj, container in portal_containers(build):
        module = container_argv(container)[2]
        env, from_secrets = container_env(build, container)
        secret = secret_env_names(settings_classes()[module])
        assert secret & set(env) <= from_secrets, f"{obj['metadata']['name']}: {sorted(secret - from_secrets)}"
        for item in container.get("env", []):
            if item["name"].endswith("_DATABASE_URL"):
                key = item["valueFrom"]["secretKeyRef"]["key"]
                expected = "migrate-url" if obj["kind"] == "Job" else "url"
                assert key == expected, f"{obj['metadata']['name']}: {item['name']} from key {key}"
    for configmap in build.of_kind("ConfigMap"):
        every_secret = set().union(*(secret_env_names(c) for c in settings_classes().values()))
        assert not set(configmap["data"]) & every_secret, f"ConfigMap {configmap['metadata']['name']} holds a secret"


def test_the_scaling_doc_lists_every_secret_to_create(build):
    doc = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    pairs = {
        (item["valueFrom"]["secretKeyRef"]["name"], item["valueFrom"]["secretKeyRef"]["key"])
        for _, container in portal_containers(build)
        for item in container.get("env", [])
        if "valueFrom" in item
    }
    listed = set(re.findall(r"^\| `([a-z0-9-]+)` \| `([a-z0-9-]+)` \|", doc, re.MULTILINE))
    assert listed == pairs, f"missing from docs/scaling.md: {pairs - listed}; stale there: {listed - pairs}"


def test_services_that_keep_files_keep_them_in_the_object_store(build):
    """Every replica must see every file: each pod of a service whose settings inherit the kit's
    StorageSettings reads ``s3``, its own bucket, and the keys from that service's Secret."""
    assert storage_services(), "no service keeps files"
    seen = set()
    for obj, container in portal_containers(build):
        name, component = role(obj)
        if name not in storage_services():
            continue
        env, from_secrets = container_env(build, container)
        settings = load_settings(container_argv(container)[2], env)
        where = obj["metadata"]["name"]
        assert settings.storage == "s3", f"{where}: files kept in the pod ({settings.storage})"
        assert settings.s3_bucket == f"{name}-files", f"{where}: bucket {settings.s3_bucket}"
        prefix = name.upper()
        assert {f"{prefix}_S3_ACCESS_KEY", f"{prefix}_S3_SECRET_KEY"} <= from_secrets, where
        stores = {item["valueFrom"]["secretKeyRef"]["name"] for item in container["env"] if "_S3_" in item["name"]}
        assert stores == {f"{name}-object-store"}, f"{where}: keys from {stores}"
        seen.add((name, component))
    assert seen == {(s, c) for s in storage_services() for c in ("api", "worker", "migrate")}


# --- ports, probes and routing --------------------------------------------------------------------------


def test_ports_and_probes_match_the_code(build):
    for obj, container in portal_containers(build):
        _, component = role(obj)
        module = container_argv(container)[2]
        env, _ = container_env(build, container)
        settings = load_settings(module, env)
        if component == "migrate":
            assert not container.get("ports"), f"{obj['metadata']['name']} serves nothing"
            assert not any(p in container for p in ("readinessProbe", "livenessProbe", "startupProbe"))
            continue
        if component == "worker":
            # Its own port, as its command line names it: metrics, liveness (the loop) and readiness.
            argv = container_argv(container)
            port = int(argv[argv.index("--metrics-port") + 1])
            assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [("metrics", port)]
            assert port == WORKER_PORT
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = container[probe]["httpGet"]
                assert (get["path"], resolve_port(container, get["port"])) == (path, port), obj["metadata"]["name"]
                assert path in WORKER_PATHS
            # Liveness allows a loop stalled for the worker's own threshold before it counts failures.
            assert container["livenessProbe"]["initialDelaySeconds"] >= 5
            assert settings.host == "0.0.0.0", f"{obj['metadata']['name']} serves its metrics on loopback only"
            continue
        assert settings.host == "0.0.0.0", f"{obj['metadata']['name']} listens on loopback only"
        # Metrics on the internal port its command line names, never on the port it serves.
        argv = container_argv(container)
        metrics = int(argv[argv.index("--metrics-port") + 1])
        assert metrics == WORKER_PORT != settings.port
        assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [
            ("http", settings.port), ("metrics", metrics)
        ], obj["metadata"]["name"]  # fmt: skip
        assert not answers(module, "/metrics"), f"{module} serves /metrics on its public port"
        # Services: ready when their database and broker are; the gateway: see gateway.yaml.
        wanted = {
            "readinessProbe": "/healthz" if component == "gateway" else "/readyz",
            "livenessProbe": "/healthz",
            "startupProbe": "/healthz",
        }
        for probe, path in wanted.items():
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{obj['metadata']['name']}: {probe} on {get['path']}"
            assert resolve_port(container, get["port"]) == settings.port
            assert answers(module, path), f"{module} does not serve {path}"
        assert answers(module, "/readyz"), f"{module} has no /readyz"


def service_for(build: Build, name: str, component: str) -> dict:
    matches = [
        s
        for s in build.of_kind("Service")
        if s["spec"]["selector"] == {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component}
    ]
    assert len(matches) == 1, f"{len(matches)} Services select {name} {component}"
    return matches[0]


def test_services_route_to_the_container_ports(build):
    for obj, container in portal_containers(build):
        name, component = role(obj)
        if component in ("worker", "migrate"):
            continue
        service = service_for(build, name, component)
        for port in service["spec"]["ports"]:
            target = resolve_port(container, port["targetPort"])
            assert target == port["port"] == container["ports"][0]["containerPort"], service["metadata"]["name"]


def test_the_gateway_and_the_services_find_each_other(build):
    gateway = next(c for o, c in portal_containers(build) if role(o) == ("gateway", "gateway"))
    env, _ = container_env(build, gateway)
    settings = load_settings("gateway", env)
    for service, url in settings.upstreams.items():
        target = service_for(build, service, "api")
        parts = urlsplit(url)
        assert parts.hostname == target["metadata"]["name"], f"GATEWAY_{service.upper()}_URL={url}"
        assert parts.port == target["spec"]["ports"][0]["port"], f"GATEWAY_{service.upper()}_URL={url}"
    identity = service_for(build, "identity", "api")
    for _, container in portal_containers(build):
        env, _ = container_env(build, container)
        jwks = urlsplit(load_settings(container_argv(container)[2], env).oidc_jwks_url or settings.jwks_url)
        assert (jwks.hostname, jwks.port) == (identity["metadata"]["name"], identity["spec"]["ports"][0]["port"])
        assert answers("services.identity", jwks.path), jwks.path


def test_only_the_gateway_is_exposed(build):
    ingresses = build.of_kind("Ingress")
    assert len(ingresses) == 1
    gateway = service_for(build, "gateway", "gateway")
    for rule in ingresses[0]["spec"]["rules"]:
        assert rule["host"]
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == gateway["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in gateway["spec"]["ports"]}
    assert ingresses[0]["spec"]["tls"], "TLS at the ingress"
    for service in build.of_kind("Service"):
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]


# --- how the pods run -------------------------------------------------------------------------------------


def test_pods_run_locked_down(build):
    for obj in workloads(build):
        spec, where = pod_spec(obj), obj["metadata"]["name"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == UID and pod["runAsGroup"] == UID, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        # Services named identity, dossier, gateway... would give every container IDENTITY_PORT=tcp://...,
        # GATEWAY_PORT=tcp://..., which the settings read as their ports and refuse.
        assert spec["enableServiceLinks"] is False, where
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in pod_containers(obj):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]  # noqa: S108
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{where}: no writable /tmp"


def test_every_container_has_requests_and_limits(build):
    for obj in workloads(build):
        for container in pod_containers(obj):
            resources = container["resources"]
            for kind in ("cpu", "memory"):
                request, limit = resources["requests"][kind], resources["limits"][kind]
                assert quantity(request) <= quantity(limit), f"{obj['metadata']['name']}: {kind} {request} > {limit}"


def test_production_is_bigger_than_the_base(base, production):
    for obj in production.of_kind("Deployment"):
        theirs = base.get("Deployment", obj["metadata"]["name"])
        for mine, small in zip(pod_containers(obj), pod_containers(theirs), strict=True):
            for kind in ("cpu", "memory"):
                assert quantity(mine["resources"]["requests"][kind]) >= quantity(small["resources"]["requests"][kind])
                assert quantity(mine["resources"]["limits"][kind]) >= quantity(small["resources"]["limits"][kind])
    for hpa in production.of_kind("HorizontalPodAutoscaler"):
        small = base.get("HorizontalPodAutoscaler", hpa["metadata"]["name"])["spec"]
        assert hpa["spec"]["minReplicas"] >= small["minReplicas"], hpa["metadata"]["name"]
        assert hpa["spec"]["maxReplicas"] > small["maxReplicas"], hpa["metadata"]["name"]


def test_production_sets_the_namespace_and_the_image_tag(production):
    for obj in production.objects:
        assert obj["metadata"].get("namespace") == NAMESPACE, object_key(obj)
    images = {c["image"] for _, c in portal_containers(production)}
    assert len(images) == 1, images
    name, _, tag = images.pop().partition(":")
    assert name.endswith(PORTAL_IMAGE) and tag and tag != "latest"


def test_autoscalers_and_disruption_budgets(build):
    plan = topic_plan()["topics"]
    autoscaled = {}
    for hpa in build.of_kind("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        deployment = build.get("Deployment", target["name"])
        autoscaled[target["name"]] = hpa
        assert "replicas" not in deployment["spec"], f"{target['name']}: the autoscaler owns the replica count"
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], hpa["metadata"]["name"]
        name, component = role(deployment)
        if component == "worker":
            topics = consumed_topics(name)
            assert topics, f"{name}'s worker consumes nothing, so it has nothing to scale"
            ceiling = max(plan[t]["partitions"] for t in topics)
            assert hpa["spec"]["maxReplicas"] <= ceiling, f"{name}-worker: replicas beyond {ceiling} partitions idle"
    for deployment in build.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        if name not in autoscaled:
            assert deployment["spec"]["replicas"] >= 2, f"{name}: one pod is an outage"
        labels = pod_labels(deployment)
        budgets = [
            p
            for p in build.of_kind("PodDisruptionBudget")
            if all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())
        ]
        assert len(budgets) == 1, f"{name}: {len(budgets)} disruption budgets"
        assert deployment["spec"]["selector"]["matchLabels"] == budgets[0]["spec"]["selector"]["matchLabels"]


# --- migrations before the rollout ------------------------------------------------------------------------


def test_a_migration_job_per_service_applied_first(build):
    jobs = {job["metadata"]["name"]: job for job in build.of_kind("Job")}
    assert set(jobs) == {f"{s}-migrate" for s in SERVICES}
    first = {
        object_key(o) for o in build.objects if o["metadata"].get("labels", {}).get("portal/apply-first") == "true"
    }
    for job in jobs.values():
        assert ("Job", job["metadata"]["name"]) in first
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert job["spec"]["backoffLimit"] <= 3
        for container in pod_containers(job):
            for source in container.get("envFrom", []):
                assert ("ConfigMap", source["configMapRef"]["name"]) in first, "a Job's settings are applied with it"
        # The network policies its pod needs are applied with it too.
        pod = Endpoint(job["metadata"]["name"], NAMESPACE, tuple(pod_labels(job).items()))
        policies = [p for p in build.of_kind("NetworkPolicy") if ("NetworkPolicy", p["metadata"]["name"]) in first]
        database = Endpoint("database", "portal-data", (("portal/database", role(job)[0]),))
        assert allowed(policies, pod, [database], "Egress") == {"database": {("TCP", 5432)}}
    for deployment in build.of_kind("Deployment"):
        assert ("Deployment", deployment["metadata"]["name"]) not in first, "Deployments roll out after migrations"


# --- network policies --------------------------------------------------------------------------------------

EXTERNAL = [
    Endpoint("ingress-controller", "ingress-nginx", (("app.kubernetes.io/name", "ingress-nginx"),)),
    Endpoint("dns", "kube-system", (("k8s-app", "kube-dns"),)),
    Endpoint("kafka", "kafka", (("strimzi.io/cluster", "portal-kafka"), ("strimzi.io/kind", "Kafka"))),
    *(Endpoint(f"{s}-db", "portal-data", (("portal/database", s),)) for s in SERVICES),
    Endpoint("internet", address="203.0.113.7"),
    Endpoint("internet-v6", address="2001:db8::7"),
    Endpoint("private-network", address="10.20.30.40"),
    Endpoint("cloud-metadata", address="169.254.169.254"),
    Endpoint("another-namespace", "default", (("app.kubernetes.io/name", "gateway"),)),
    Endpoint("prometheus", "monitoring", (("app.kubernetes.io/name", "prometheus"),)),
]
# The SMS gateway, VNPay's querydr, agencies' systems; and the object store, from the API of every
# service that keeps files (a new one is held to it by its settings class).
INTERNET_CLIENTS = {("identity", "worker"), ("payment", "worker"), ("sync", "worker")} | {
    (name, "api") for name in storage_services()
}
# Workers that hand messages to providers (HTTPS, SMTP submission) and ask identity for contacts.
PROVIDER_CLIENTS = {("notification", "worker")}
PORTS = {**{entry.name: entry.port for entry in services()}, "gateway": 8000}


def tcp(port: int) -> set[tuple[str, int]]:
    return {("TCP", port)}


def expected_egress(pod: str, name: str, component: str) -> dict[str, set[tuple[str, int]]]:
    want = {"dns": {("UDP", 53), ("TCP", 53)}}
    if name in SERVICES:
        want[f"{name}-db"] = tcp(5432)
        if component in ("api", "worker"):
            want["kafka"] = tcp(9092)
    if component in ("api", "gateway"):
        want["identity-api"] = tcp(8001)
    if component == "gateway":
        want |= {f"{s}-api": tcp(PORTS[s]) for s in SERVICES}
    if (name, component) in INTERNET_CLIENTS:
        want |= {"internet": tcp(443), "internet-v6": tcp(443)}
    if (name, component) in PROVIDER_CLIENTS:
        submission = tcp(443) | tcp(587) | tcp(465)
        want |= {"internet": submission, "internet-v6": submission, "identity-api": tcp(8001)}
    want.pop(pod, None)  # a pod's traffic to itself is not the network's business
    return want


def expected_ingress(pod: str, name: str, component: str, pods: list[Endpoint]) -> dict[str, set[tuple[str, int]]]:
    # Prometheus scrapes every process on its internal metrics port, and only there.
    if component == "gateway":
        return {"ingress-controller": tcp(8000), "prometheus": tcp(WORKER_PORT)}
    if component == "worker":
        return {"prometheus": tcp(WORKER_PORT)}
    if component != "api":
        return {}
    want = {"gateway": tcp(PORTS[name]), "prometheus": tcp(WORKER_PORT)}
    if name == "identity":
        want |= {p.name: tcp(8001) for p in pods if p.name.endswith("-api") and p.name != pod}
        want |= {f"{s}-{c}": tcp(8001) for s, c in PROVIDER_CLIENTS}
    return want


def test_everything_is_denied_unless_allowed(build):
    denials = [
        p["spec"]
        for p in build.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] and "egress" not in p["spec"]
    ]
    assert any(set(d["policyTypes"]) == {"Ingress", "Egress"} for d in denials), "no default-deny policy"


def test_network_policies(build):
    policies = build.of_kind("NetworkPolicy")
    pods = [
        Endpoint(
            obj["metadata"]["name"], NAMESPACE, tuple(sorted(pod_labels(obj).items()))
        )  # Deployments and Jobs, named after their objects
        for obj in workloads(build)
    ]
    others = pods + EXTERNAL
    for pod in pods:
        name, component = pod.label_map["app.kubernetes.io/name"], pod.label_map["app.kubernetes.io/component"]
        assert isolated(policies, pod, "Ingress") and isolated(policies, pod, "Egress"), f"{pod.name}: not isolated"
        egress = allowed(policies, pod, [o for o in others if o.name != pod.name], "Egress")
        assert egress == expected_egress(pod.name, name, component), f"{pod.name} may reach {egress}"
        ingress = allowed(policies, pod, [o for o in others if o.name != pod.name], "Ingress")
        assert ingress == expected_ingress(pod.name, name, component, pods), f"{pod.name} may be reached by {ingress}"
    for policy in policies:
        selected = [p for p in pods if isolated([policy], p, "Ingress") or isolated([policy], p, "Egress")]
        assert selected, f"NetworkPolicy {policy['metadata']['name']} selects no pod"


def test_the_policy_evaluator_denies_what_no_policy_allows():
    pod = Endpoint("p", NAMESPACE, (("app", "a"),))
    deny = {"spec": {"podSelector": {}, "policyTypes": ["Egress"]}}
    assert allowed([deny], pod, EXTERNAL, "Egress") == {}
    allow_all = {"spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}}
    assert set(allowed([deny, allow_all], pod, EXTERNAL, "Egress")) == {e.name for e in EXTERNAL}
    with pytest.raises(AssertionError, match="do not understand"):
        allowed([{"spec": {"podSelector": {"matchExpressions": []}, "policyTypes": ["Egress"]}}], pod, [], "Egress")


# --- topics --------------------------------------------------------------------------------------------------


def test_kafka_topics_follow_the_plan(build):
    plan = topic_plan()
    topics = {t["spec"]["topicName"]: t for t in build.of_kind("KafkaTopic")}
    assert set(topics) == set(plan["topics"])
    for name, wanted in plan["topics"].items():
        topic = topics[name]
        assert topic["apiVersion"].startswith("kafka.strimzi.io/")
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "portal-kafka"
        assert topic["spec"]["partitions"] == wanted["partitions"], name
        assert topic["spec"]["replicas"] == plan["replicas"], name
        assert topic["spec"]["config"]["retention.ms"] == wanted["retention_hours"] * 3_600_000, name
        assert topic["spec"]["config"]["min.insync.replicas"] == plan["min_insync_replicas"], name
    assert plan["min_insync_replicas"] < plan["replicas"], "a broker may be down while producers write"
