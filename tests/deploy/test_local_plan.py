"""What ``make run`` starts (``deploy.local.run``), held to the code without starting it: every
process serves its metrics on its own internal port, none on a port it serves requests on, and
every command line is one its entry point accepts."""

from __future__ import annotations

from pathlib import Path

from deploy.local.run import RunSettings, Supervisor
from services.kit.kafka import SERVICE_NAMES

from .manifests import check_command


def test_every_process_serves_its_metrics_on_its_own_internal_port(tmp_path: Path) -> None:
    supervisor = Supervisor(RunSettings(data_dir=tmp_path, metrics_port=9300))
    urls = {name: f"postgresql://postgres@127.0.0.1:55432/portal_{name}" for name in SERVICE_NAMES}
    children = {child.name: child for child in supervisor.plan(urls, "127.0.0.1:59092")}
    portal = ["gateway", *SERVICE_NAMES, *(f"{name}-worker" for name in SERVICE_NAMES)]
    ports = {}
    for name in portal:
        argv = children[name].args
        ports[name] = int(argv[argv.index("--metrics-port") + 1])
        assert children[name].metrics == f"http://127.0.0.1:{ports[name]}/metrics"
        assert check_command(["python", *argv[1:]]) in ("gateway", f"services.{name.split('-')[0]}")
        if children[name].url:
            assert not children[name].url.endswith(f":{ports[name]}"), name  # never the serving port
    assert ports["gateway"] == 9300
    assert len(set(ports.values())) == len(portal)
