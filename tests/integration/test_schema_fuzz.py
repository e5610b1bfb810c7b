"""A bounded schemathesis run against the service's own OpenAPI schema: requests generated
from the schema (valid and invalid) to every operation, on the real service with the real
model and the fake upstream. No server error, every response as documented: its status code,
content type, headers and body schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.specs.openapi import checks as openapi_checks

from tests.servicekit import Service

pytestmark = [pytest.mark.model, pytest.mark.redis, pytest.mark.slow]

EXAMPLES = 40  # per operation and mode: bounded in requests and time

CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]


def test_every_operation_answers_as_documented(service: Service) -> None:
    """Each operation: valid requests and invalid ones (schemathesis' negative mode), each
    checked; every failing operation is reported, not only the first."""
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,  # the same requests on every run: failures reproduce
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def run(case: Any) -> None:
                case.call_and_validate(base_url=service.url, checks=CHECKS, timeout=60)

            try:
                run()
            except Unsatisfiable:  # nothing to generate in this mode (no invalid input exists)
                continue
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:3000]
    assert operations >= 20
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
