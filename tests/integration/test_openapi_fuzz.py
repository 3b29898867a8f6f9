"""schemathesis against the gateway's own OpenAPI (GET /openapi.json) on the shared stack: no 5xx, ever.

Every operation in the schema gets a few generated requests, valid and invalid ones (schemathesis' positive and
negative modes), sent to the real gateway, which answers through the real Rasa. The only 5xx allowed is the
documented "switched off by a setting" 503 of a route whose setting the shared stack leaves empty, and it
must name that setting. The run is bounded (MAX_EXAMPLES per operation, no shrinking) to stay well under a
minute. No secret is given: the sync API and staff pages are fuzzed from outside, as an attacker would.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode

from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration
MAX_EXAMPLES = 5
# Routes whose 503 means "off here", by a setting the shared stack leaves empty, and what the error must name.
SWITCHED_OFF = {
    ("POST", "/email/inbound"): "EMAIL_INBOUND_TOKEN",
    ("GET", "/api/chat/send"): "TWILIO_ACCOUNT_SID",
    ("POST", "/api/chat/send"): "TWILIO_ACCOUNT_SID",
}


@pytest.fixture(scope="module")
def gateway_schema(stack: Stack) -> Any:
    schema = schemathesis.openapi.from_url(stack.gateway + "/openapi.json", timeout=30)
    schema.config.update(base_url=stack.gateway)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        no_shrink=True,
        deterministic=True,
    )
    return schema


schema = schemathesis.pytest.from_fixture("gateway_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx(case: Any) -> None:
    response = case.call(timeout=60)
    key = (case.method.upper(), case.operation.path)
    if response.status_code == 503 and key in SWITCHED_OFF:
        assert SWITCHED_OFF[key] in response.text, response.text
        return
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} answered {response.status_code}: {response.text[:500]}\n"
        f"reproduce: {case.as_curl_command()}"
    )
