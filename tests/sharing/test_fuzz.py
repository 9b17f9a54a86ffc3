"""Fuzzing the sharing API from its own OpenAPI description (schemathesis) against the live
server: whatever it sends, no server error, and every answer matches what the description says."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lgsp.sharing import consumers
from lgsp.sharing.grants import add_grant
from tests.sharing.conftest import Hub


@pytest.fixture(scope="module")
def fuzz_key(live: Hub) -> str:
    consumers.add_consumer(live.settings, "FUZZER", "Fuzzing agency", "f@example.gov.vn")
    add_grant(live.settings, "FUZZER", "driving_licences", purpose="fuzz", granted_by="test",
              columns=["licence_no", "licence_class", "commune_code"])  # fmt: skip
    return consumers.issue_key(live.settings, "FUZZER")


OPERATIONS = ["POST /api/share/v1/token", "GET /api/share/v1/datasets", "GET /api/share/v1/datasets/{dataset}/rows",
              "GET /api/share/v1/datasets/{dataset}/records/{key}", "POST /api/share/v1/requests",
              "GET /api/share/v1/requests", "GET /api/share/v1/webhooks", "POST /api/share/v1/webhooks",
              "DELETE /api/share/v1/webhooks/{subscription}"]  # fmt: skip


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_server_error_and_answers_as_documented(live: Hub, fuzz_key: str, operation: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json").include(path_regex="^/api/share/")
    found = {f"{op.method.upper()} {op.path}": op for op in (r.ok() for r in schema.get_all_operations())}
    assert set(found) == set(OPERATIONS), "the sharing API's operations changed: update this test"
    headers = {} if operation.endswith("/token") else {"X-API-Key": fuzz_key}

    strategy = found[operation].as_strategy()

    def real_dataset(case: Any) -> Any:
        """Half the cases name the real dataset, so the fuzzing reaches the grant and the query."""
        if case.path_parameters and "dataset" in case.path_parameters:
            case.path_parameters["dataset"] = "driving_licences"
        if isinstance(case.body, dict) and "dataset" in case.body:
            case.body["dataset"] = "driving_licences"
        return case

    @given(case=st.one_of(strategy, strategy.map(real_dataset)))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any) -> None:
        case.call_and_validate(
            base_url=live.url,
            headers=headers,
            checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
        )

    run()
    if not operation.endswith("/token"):  # the fuzzing went past authentication
        logged = [e for e in live.logged() if e.get("consumer") == "FUZZER"]
        assert logged, "no request of the fuzzer was authenticated"
