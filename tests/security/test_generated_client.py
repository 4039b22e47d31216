"""Web and mobile teams generate their clients from the gateway's merged ``/openapi.json``. Here a
standard generator (openapi-python-client, through its command line) builds a Python client from
the document the running portal serves, with no warning and no operation left out; then part of
the journey runs through that client: search the catalogue, upload a file and submit a dossier,
read it back with its receipt and QR code, look it up by its receipt's secret, and read the
public statistics.

Here rather than in ``tests/e2e`` to share the session's running portal with the other tests of
the document (``test_fuzz_openapi``, API9). The generator's configuration maps the binary media
types to ``application/octet-stream``, the one it reads as a file: the document names the real
ones (``image/png``, ``text/csv``…) with ``format: binary``, as docs/api.md tells client teams.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from services.kit.openapi import HTTP_METHODS
from tests.support.dossier import PDF
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

PACKAGE = "portal_client"
GENERATOR_CONFIG = {
    "package_name_override": PACKAGE,
    "project_name_override": "portal-client",
    "post_hooks": [],  # no formatter run over the generated code: its output is what is judged
    "content_type_overrides": {media: "application/octet-stream"
                               for media in ("image/png", "image/jpeg", "application/pdf", "text/csv")},
}  # fmt: skip


# The merged document, the generated package's directory, and what the generator said.
Generated = tuple[dict[str, Any], Path, str]


def snake(operation_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


@pytest.fixture(scope="module")
def generated(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """A client generated from the running portal's document, importable while the module runs."""
    document: dict[str, Any] = httpx.get(f"{stack.url}/openapi.json", timeout=30).json()
    assert "x-unavailable-services" not in document, document["x-unavailable-services"]
    workdir = tmp_path_factory.mktemp("generated-client")
    (workdir / "openapi.json").write_text(json.dumps(document))
    (workdir / "config.json").write_text(json.dumps(GENERATOR_CONFIG))
    generator = Path(sys.executable).with_name("openapi-python-client")
    run = subprocess.run(
        [str(generator), "generate", "--path", "openapi.json", "--config", "config.json", "--meta", "none",
         "--output-path", PACKAGE, "--fail-on-warning"],
        cwd=workdir, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    said = run.stdout + run.stderr
    assert run.returncode == 0, said
    sys.path.insert(0, str(workdir))
    try:
        yield document, workdir / PACKAGE, said
    finally:
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_the_generator_warns_of_nothing_and_leaves_no_operation_out(
    generated: Generated,
) -> None:
    document, package, said = generated
    assert not re.search(r"warning|unable|cannot|unsupported|error", said, re.IGNORECASE), said
    operations = [(op["tags"][0], op["operationId"]) for item in document["paths"].values()
                  for method, op in item.items() if method in HTTP_METHODS]  # fmt: skip
    assert len(operations) > 80
    missing = [(tag, op) for tag, op in operations if not (package / "api" / tag / f"{snake(op)}.py").is_file()]
    assert not missing, missing


def api(operation: str, tag: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{snake(operation)}")


def test_a_citizen_finds_files_and_follows_a_dossier_through_the_generated_client(
    generated: Generated, stack: Stack
) -> None:
    client_module = importlib.import_module(PACKAGE)
    models = importlib.import_module(f"{PACKAGE}.models")
    file_type = importlib.import_module(f"{PACKAGE}.types").File
    # Anonymous calls come from an address of their own: the public lookup's per-address budget
    # of wrong tries is shared with the other tests of the session (the conformance run spends it).
    elsewhere = httpx.HTTPTransport(local_address="127.0.0.2")
    anonymous = client_module.Client(base_url=stack.url, raise_on_unexpected_status=True,
                                     httpx_args={"transport": elsewhere})  # fmt: skip
    citizen = client_module.AuthenticatedClient(base_url=stack.url, token=stack.token("citizen_a"),
                                                raise_on_unexpected_status=True)  # fmt: skip

    found = api("searchServices", "catalogue").sync_detailed(client=anonymous, limit=5)
    assert found.status_code == 200
    first = json.loads(found.content)["items"][0]
    service = api("getService", "catalogue").sync_detailed(client=anonymous, service_id=first["id"])
    assert service.status_code == 200 and json.loads(service.content)["id"] == first["id"]

    refs = []
    for component in ("TP01", "TP02"):
        upload = models.UploadAttachmentForm(file=file_type(payload=BytesIO(PDF), file_name="a.pdf",
                                                            mime_type="application/pdf"))  # fmt: skip
        uploaded = api("uploadAttachment", "dossier").sync_detailed(client=citizen, body=upload)
        assert uploaded.status_code == 201, uploaded.content
        refs.append({"id": json.loads(uploaded.content)["id"], "component_code": component})
    submission = models.DossierCreate.from_dict({
        "service_id": stack.service_id, "attachments": refs,
        "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
        "form": {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789"},
    })  # fmt: skip
    filed = api("submitDossier", "dossier").sync_detailed(client=citizen, body=submission)
    assert filed.status_code == 201, filed.content
    receipt = json.loads(filed.content)

    dossier = api("getDossier", "dossier").sync_detailed(client=citizen, dossier_id=receipt["dossier_id"])
    assert dossier.status_code == 200 and json.loads(dossier.content)["code"] == receipt["code"]
    qr = api("getReceiptQrCode", "dossier").sync(client=citizen, dossier_id=receipt["dossier_id"])
    assert isinstance(qr, file_type) and qr.payload.read().startswith(b"\x89PNG")

    looked_up = api("lookupDossier", "dossier").sync_detailed(
        client=anonymous, code=receipt["code"], verifier=receipt["lookup_secret"]
    )
    assert looked_up.status_code == 200 and json.loads(looked_up.content)["code"] == receipt["code"]
    assert "Nguyễn" not in looked_up.content.decode()

    today = date.today()
    statistics = api("getStatistics", "dossier")
    figures = statistics.sync_detailed(client=anonymous, from_=today.replace(day=1), days=today.day)
    assert figures.status_code == 200 and "items" in json.loads(figures.content)

    refused = api("getDossier", "dossier").sync_detailed(
        client=client_module.Client(base_url=stack.url), dossier_id=receipt["dossier_id"]
    )
    assert refused.status_code == 401 and refused.parsed.status == 401  # the Problem model, parsed
