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

Bounded for CI: a fixed number of valid and of invalid examples per operation and caller,
derandomized (the same requests every run), no example database, no shrinking.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.security.conftest import problem_details
from tests.security.routes import FUZZ_CALLER, RULES
from tests.support.stack import Stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("fuzz_account"),
    # schemathesis' own strategies draw from `random` in places; Hypothesis warns about it on every test.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

# Per operation, caller and mode (valid data, invalid data).
EXAMPLES = 12

HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
CALLS = [(method, path, None) for method, path in sorted(RULES)] + [
    (method, path, FUZZ_CALLER[r.who]) for (method, path), r in sorted(RULES.items()) if r.who != "public"
]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


@pytest.mark.parametrize("mode", MODES, ids=[mode.value for mode in MODES])
@pytest.mark.parametrize(("method", "path", "caller"), CALLS, ids=[f"{m} {p} {c or 'anonymous'}" for m, p, c in CALLS])
def test_every_operation_conforms_to_the_document(
    merged_api: Any, stack: Stack, method: str, path: str, caller: str | None, mode: GenerationMode
) -> None:
    operation = merged_api[path][method]
    headers = stack.headers(caller) if caller else {}

    @HYPOTHESIS
    @given(case=operation.as_strategy(mode))
    def conforms(case: Any) -> None:
        # No ``checks=``: every check schemathesis has, as its configuration enables them all.
        case.call_and_validate(headers=headers, additional_checks=[problem_details])

    conforms()
