"""The merged OpenAPI document states every rule the server enforces, and nothing it does not.

Every operation of the gateway's document, through the real gateway in front of the real
services, once without a token and once with the token of the caller it is for
(``tests.security.routes``), with *all* of schemathesis' checks: besides the answer conforming
to the document (status, content type, headers, body, no 5xx), positive-data acceptance (a
request the document calls valid is not refused as malformed: a 4xx other than 401, 403, 404,
409 and 429 means the server enforces a rule the document does not state), negative-data
rejection (a request the document calls invalid is refused: a 2xx means the document states a
rule the server does not enforce), a required header's absence refused, an undeclared method
refused with a correct ``Allow``, a declared security requirement enforced; and every error an
RFC 9457 problem.

Two settings, each for a rule the document states but a generator cannot follow everywhere:
no NUL is generated (the document's patterns refuse NUL and lone surrogates in every string of a
request body, but inside free-form JSON, a form's data, only a description can say so: JSON Schema
would need a recursive schema, which client generators do not take; the NUL refusals are tested
on their own in ``test_fuzz_openapi``); and 410 counts as an answer to valid data, like 404: the
thing the request names is gone (a code already used), which is state, not shape.

An operation that declares no input at all has no invalid data to send: its negative run is
skipped if it reads only its token (its ``security``), or, by name, if it truly reads nothing
(``READS_NOTHING``); any other such operation fails, since it reads input its document does not
declare. Valid data never carries a ``cursor``: only one the server issued (and signed) is valid,
which no generator can make; invalid ones are still sent in the negative run.

Bounded for CI: a fixed number of valid and of invalid examples per operation and caller,
derandomized (the same requests every run), no example database, no shrinking.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from contracts.money import MAX_VND
from services.catalogue.service.importer import CSV_COLUMNS, KINDS
from services.dossier.settings import DossierSettings
from tests.security import formats  # noqa: F401  (registers the custom formats' generators)
from tests.security.conftest import problem_details
from tests.security.routes import CALL_IDS, CALLS, fuzz_settings
from tests.support.stack import Stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("fuzz_account"),
    # schemathesis' own strategies draw from `random` in places; Hypothesis warns about it on every test.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

# Per operation, caller and mode (valid data, invalid data).
EXAMPLES = 12

HYPOTHESIS = fuzz_settings(EXAMPLES)
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# What an answer to valid data may be: schemathesis' default, and 410 (see above).
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "410", "429", "5xx"]
# Operations that read no parameter, header or body of the caller's (their document declares none).
READS_NOTHING = {
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/oauth2/jwks"),
    ("GET", "/api/v1/payment/jwks"),
    ("GET", "/api/v1/catalogue/sectors"),
}


# --- FORMATS ---------------------------------------------------------------------------------
# Rules the document states that JSON Schema cannot spell, each with a generator of valid data
# for it, so that "valid data" really is valid (docs/api.md says what each means). Register a
# string ``format`` with ``schemathesis.openapi.format`` in ``register_formats``, and a body
# judged by its content (a file of the declared media type) in ``FILES``, by operationId.


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


_CELL = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=20)


@st.composite
def _statement(draw: st.DrawFn, case: Any) -> str:
    """reconcilePayments: a provider's statement, CSV with ``transaction_id, reference, amount``
    (and ``status``): each line a transaction id, any reference text, whole VND (payment.domain.statement)."""
    transaction = st.from_regex(r"[A-Za-z0-9]{1,20}", fullmatch=True)
    status = st.sampled_from(["00", "", "01"])
    lines = draw(st.lists(st.tuples(transaction, _CELL, st.integers(0, MAX_VND), status), max_size=4))
    return _csv(["transaction_id", "reference", "amount", "status"], [[t, r, str(a), s] for t, r, a, s in lines])


@st.composite
def _catalogue_import(draw: st.DrawFn, case: Any) -> str:
    """importCatalogue as CSV: a header naming columns of the ``kind`` asked (any one kind when
    none is: the server reads the kind from the header), and rows of any cells (each row is judged
    on its own, in the report)."""
    kind = (case.query or {}).get("kind") or draw(st.sampled_from(KINDS))
    columns = CSV_COLUMNS[kind]
    header = draw(st.lists(st.sampled_from(columns), min_size=1, max_size=len(columns), unique=True))
    rows = draw(st.lists(st.lists(_CELL, min_size=len(header), max_size=len(header)), max_size=3))
    return _csv(header, rows)


# Bodies judged by their content, by operationId: real files of the declared media type (as text:
# schemathesis revalidates a body set here, and a ``format: binary`` string is text to it).
FILES: dict[str, Callable[[Any], st.SearchStrategy[str]]] = {
    "reconcilePayments": _statement,
    "importCatalogue": _catalogue_import,
}


@st.composite
def _citizen(draw: st.DrawFn, case: Any) -> Any:
    """registerCitizen: the personal identification number's century digit and year digits agree
    with the date of birth, which is in the past (rules between two fields, stated in
    ``birth_date``'s description: JSON Schema cannot relate them)."""
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("personal_id"), str):
        return body
    born = draw(st.dates(date(1900, 1, 1), date.today() - timedelta(days=1)))
    sex = draw(st.integers(0, 1))
    century_and_sex = 2 * ((born.year - 1900) // 100) + sex
    number = body["personal_id"]
    return {**body, "birth_date": born.isoformat(),
            "personal_id": f"{number[:3]}{century_and_sex}{born.year % 100:02d}{number[6:]}"}  # fmt: skip


@st.composite
def _template(draw: st.DrawFn, case: Any) -> Any:
    """saveTemplate: each text a Jinja2 template whose placeholders its variables declare (stated
    in the texts' descriptions), and the variables a JSON Schema of an object: plain texts (no
    Jinja2 delimiters) and a schema with no variables are valid whatever was drawn."""
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("texts"), dict):
        return body
    plain = {k: v.replace("{", "(").replace("}", ")") if isinstance(v, str) else v for k, v in body["texts"].items()}
    properties = draw(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.just({"type": "string"}),
                                      max_size=3))  # fmt: skip
    return {**body, "texts": plain, "variables": {"type": "object", "properties": properties}}


@st.composite
def _client(draw: st.DrawFn, case: Any) -> Any:
    """createClient: a name holding more than whitespace. The document states it (a pattern), but
    under this schema's ``allOf`` of conditional rules schemathesis draws a blank name now and then
    as valid data (a generator limit, like the NUL above, not a rule the document leaves out)."""
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or body["name"].strip():
        return body
    return {**body, "name": draw(st.from_regex(r"[A-Za-z][A-Za-z ]{0,20}", fullmatch=True))}


@st.composite
def _status_mapping(draw: st.DrawFn, case: Any) -> Any:
    """putStatusMapping: local statuses holding more than whitespace. The document states it
    (``propertyNames`` with a pattern), but in a full run schemathesis now and then draws a blank
    key as valid data (a generator limit, as for createClient's name, not a rule left unsaid)."""
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("mapping"), dict):
        return body
    kept = {key: value for key, value in body["mapping"].items() if not isinstance(key, str) or key.strip()}
    return {**body, "mapping": kept}


MAX_FILES = DossierSettings.model_fields["max_attachments_per_dossier"].default


def _files(*names: str, paired: str | None = None) -> Callable[[Any], st.SearchStrategy[Any]]:
    """Multipart bodies whose file parts are judged by their first bytes: each file part a PDF
    (``%PDF-`` and some text; kit.files.sniff), the other parts as generated, except
    ``paired``: one item per file, in order (the file's document component code)."""

    @st.composite
    def parts(draw: st.DrawFn, case: Any) -> Any:
        body = case.body
        if not isinstance(body, dict):
            return body
        pdf = st.builds(lambda text: "%PDF-1.7\n" + text, _CELL)
        made = dict(body)
        for name in names:
            if isinstance(made.get(name), list):
                made[name] = [draw(pdf) for _ in made[name]]
            elif name in made:
                made[name] = draw(pdf)
        if paired is not None and isinstance(made.get(names[0]), list) and isinstance(made.get(paired), list):
            given = made[paired] or ["code"]
            made[paired] = [given[i % len(given)] for i in range(len(made[names[0]]))]
            dossier = made.get("dossier")
            if isinstance(dossier, dict) and isinstance(dossier.get("attachments"), list):
                # The files sent and the files named before count together against one limit.
                room = max(0, MAX_FILES - len(made[names[0]]))
                made["dossier"] = {**dossier, "attachments": dossier["attachments"][:room]}
        return made

    return parts


# Bodies whose fields obey a rule JSON Schema cannot state, by operationId: valid data made valid.
BODIES: dict[str, Callable[[Any], st.SearchStrategy[Any]]] = {
    "registerCitizen": _citizen,
    "createClient": _client,
    "putStatusMapping": _status_mapping,
    "saveTemplate": _template,
    "uploadAttachment": _files("file"),
    "uploadFeedbackAttachment": _files("file"),
    "submitDossierWithFiles": _files("files", paired="components"),
}


def register_formats(schema: Any) -> None:
    """Register this module's generators on ``schema`` (only there: other tests fuzz freely)."""

    def flatmap_case(context: Any, case: Any) -> st.SearchStrategy[Any]:
        operation_id = case.operation.definition.raw.get("operationId", "")
        bodies = BODIES.get(operation_id)
        if bodies is not None and case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:

            def with_json(body: Any) -> Any:
                case.body = body
                return case

            return bodies(case).map(with_json)
        files = FILES.get(operation_id)
        if files is None or case.media_type not in FILE_MEDIA_TYPES or case.meta is None:
            return st.just(case)
        if case.meta.generation.mode is not GenerationMode.POSITIVE:
            return st.just(case)  # invalid data stays as schemathesis makes it

        def with_body(body: str) -> Any:
            case.body = body
            return case

        return files(case).map(with_body)

    schema.hook(flatmap_case)


# Media types of the bodies FILES makes.
FILE_MEDIA_TYPES = {"text/csv"}


@pytest.fixture(scope="module")
def conformance_api(stack: Stack, merged_document: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_dict(merged_document)
    schema.config.update(base_url=stack.url, request_timeout=30)
    schema.config.generation.update(allow_x00=False)
    schema.config.checks.positive_data_acceptance.expected_statuses = ACCEPTED
    register_formats(schema)
    return schema


def declares_input(operation: dict[str, Any]) -> bool:
    return bool(operation.get("parameters") or operation.get("requestBody"))


@pytest.mark.parametrize("mode", MODES, ids=[mode.value for mode in MODES])
@pytest.mark.parametrize(("method", "path", "caller"), CALLS, ids=CALL_IDS)
def test_every_operation_conforms_to_the_document(
    conformance_api: Any,
    merged_document: dict[str, Any],
    stack: Stack,
    method: str,
    path: str,
    caller: str | None,
    mode: GenerationMode,
) -> None:
    declared = merged_document["paths"][path][method.lower()]
    if mode is GenerationMode.NEGATIVE and not declares_input(declared):
        if declared.get("security"):
            pytest.skip("the operation reads only its token (checked by ignored_auth), so there is no invalid data")
        if (method, path) in READS_NOTHING:
            pytest.skip("the operation reads no input, so there is no invalid data to send")
        pytest.fail(f"{method} {path} declares no parameter and no body, but reads input: its document must state it")
    operation = conformance_api[path][method]
    headers = stack.headers(caller) if caller else {}

    @HYPOTHESIS
    @given(case=operation.as_strategy(mode))
    def conforms(case: Any) -> None:
        if mode is GenerationMode.POSITIVE and case.query:
            # Only a cursor the server issued is valid (it is signed): no generator can make one.
            case.query.pop("cursor", None)
        # No ``checks=``: every check schemathesis has, as its configuration enables them all.
        case.call_and_validate(headers=headers, additional_checks=[problem_details])

    conforms()
