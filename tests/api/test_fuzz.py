"""A bounded fuzz run of the whole JSON API: schemathesis generates a few requests per
operation from /api/v1/openapi.json (valid ones and invalid ones), sent in-process as an
admin and as a reader, on each database. No answer may be a server error (5xx)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.python import asgi

from tests.api.world import ROLES, World, fresh_headers, seed_world

OPENAPI = "/api/v1/openapi.json"
EXAMPLES = 3  # per operation and generation mode: a smoke run, not an exhaustive one
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
# Revoking the current token logs the fuzzing user out at its first example, so all the others
# would be 401s that test nothing (tests/api/test_auth_api.py covers it). Anything else that
# locks the user out (disabling, a password reset) is undone by a fresh token per operation.
EXCLUDED = {"DELETE /api/v1/auth/tokens/current"}
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same requests every run: a failure here is reproducible
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are collected, not raised
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def world(client, accounts, db) -> World:
    return seed_world(client, accounts, db)


@pytest.fixture
def schema(app, world) -> Iterator[schemathesis.BaseSchema]:
    loaded = schemathesis.openapi.from_asgi(OPENAPI, app)
    yield loaded
    asgi.shutdown_lifespans()  # the in-process client started the app's lifespan: end it


def fuzz_operation(operation, mode, headers: dict[str, str]) -> list[str]:
    """Up to EXAMPLES requests; the server errors they got, each with a curl line."""
    found: list[str] = []

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=[not_a_server_error], headers=headers)
        except FailureGroup as failure:
            found.append(f"{operation.label} [{mode.value}]: {str(failure)[:1500]}")

    try:
        run()
    except Unsatisfiable:
        # nothing to get wrong: an operation without parameters or body has no invalid request
        assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    return found


@pytest.mark.parametrize("role", ROLES)
def test_no_operation_answers_with_a_server_error(role, app, db, world, schema) -> None:
    user = world.admin if role == "admin" else world.reader
    failures: list[str] = []
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        if operation.label in EXCLUDED:
            continue
        for mode in MODES:
            failures += fuzz_operation(operation, mode, fresh_headers(db, app, user, role))
    assert len(labels) > 40, labels  # the whole API was walked
    assert not failures, "\n\n".join(failures)
