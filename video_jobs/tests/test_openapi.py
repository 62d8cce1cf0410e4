"""The OpenAPI schema says what the API does: schemathesis sends the app generated requests (all its checks,
then the stateful phase that follows the schema's links), and the schema's shared parts are as declared."""

from __future__ import annotations

import ipaddress
import traceback
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, Phase, given, settings, strategies
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.generation.stateful import run_state_machine_as_test
from schemathesis.specs.openapi.checks import positive_data_acceptance

from video_jobs.openapi import JOB_LINKS, LINKS_FROM
from video_jobs.webhooks import ssrf

# Bounded so that the whole contract run stays well under a minute on CI's two cores.
EXAMPLES_PER_OPERATION = 25
STATEFUL_SCENARIOS = 15
STATEFUL_STEPS = 6
HYPOTHESIS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    # Explicit examples and generation; shrinking a failure would cost minutes, and the database is not
    # reset between examples, so a failure is reported as found.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def auth(user: Any) -> dict[str, str]:
    token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


# Checks that are wrong for one operation, with the reason. Every other check runs on every operation.
WRONG_FOR_US = {
    # A webhook URL must resolve to public addresses when it is registered: a fact about DNS at the time of
    # the call, which no schema can state, so a URL that is a valid string is refused with 400 (invalid).
    "POST /api/webhook-endpoints/": [positive_data_acceptance],
    "PATCH /api/webhook-endpoints/{id}/": [positive_data_acceptance],
}


def resolve_no_names(host: str, port: int) -> tuple[ssrf.IPAddress, ...]:
    """Tests talk only to 127.0.0.1: generated host names are not looked up; IP literals are themselves."""
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        raise OSError("names are not resolved in this test") from None


@pytest.fixture
def api_schema(
    db: None, auth: dict[str, str], settings: Any, monkeypatch: pytest.MonkeyPatch, wsgi_app: WSGIHandler
) -> Any:
    monkeypatch.setattr(ssrf, "resolve", resolve_no_names)
    # Throttling off, so that generated requests explore the endpoints rather than the 429 (which the schema
    # declares, and test_throttling proves).
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": None, "initiate": None},
    }
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app, headers=auth)


def check_operation(cases: Any, auth: dict[str, str], *, excluded: list[Any]) -> None:
    @given(case=cases)
    @HYPOTHESIS
    def send(case: Any) -> None:
        case.call_and_validate(headers=auth, checks=CHECKS.get_all(), excluded_checks=excluded)

    send()


def test_every_operation_answers_as_its_schema_says(api_schema: Any, auth: dict[str, str]) -> None:
    # One loop rather than schemathesis.pytest.from_fixture: that reads a private attribute of pytest's test
    # items which pytest 9 no longer has. Each operation gets valid and schema-violating requests.
    failures = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        cases = strategies.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        try:
            check_operation(cases, auth, excluded=WRONG_FOR_US.get(operation.label, []))
        except Exception as exc:  # reported together below, one per operation
            failures[operation.label] = "".join(traceback.format_exception(exc))
    assert not failures, "\n\n".join(f"{label}:\n{said}" for label, said in failures.items())


def test_flows_that_follow_the_schemas_links_keep_the_contract(api_schema: Any, auth: dict[str, str]) -> None:
    machine = api_schema.as_state_machine()
    reached: set[str] = set()

    class Authenticated(machine):  # type: ignore[misc,valid-type]  # a class made at run time
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": auth}

        def after_call(self, response: Any, case: Any) -> None:
            if response.status_code != 404:
                reached.add(case.operation.label)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(
                response,
                checks=CHECKS.get_all(),
                excluded_checks=WRONG_FOR_US.get(case.operation.label, []),
                headers=auth,
                transport_kwargs=kwargs,
            )

    run_state_machine_as_test(
        Authenticated,
        settings=settings(HYPOTHESIS, max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS),
    )


def fetch_schema(api: APIClient) -> dict[str, Any]:
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for path_item in document["paths"].values()
        for operation in path_item.values()
    }


def test_initiate_links_to_every_call_on_its_job(api: APIClient) -> None:
    by_id = operations(fetch_schema(api))
    for source, codes in LINKS_FROM.items():
        for code in codes:
            links = by_id[source]["responses"][code]["links"]
            assert {link["operationId"] for link in links.values()} == set(JOB_LINKS.values())
            for target in JOB_LINKS.values():
                assert target in by_id, f"the link names {target}, which is not an operation"


def test_every_error_response_has_the_shared_body_with_its_error_code(api: APIClient) -> None:
    document = fetch_schema(api)
    for operation_id, operation in operations(document).items():
        for code, response in operation["responses"].items():
            if not code.startswith(("4", "5")) or "/Job'" in str(response.get("content")):
                continue  # 409s of the job calls answer the job itself, which holds its error_code
            schemas = document["components"]["schemas"]
            body = schemas[response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
            # One of several bodies (upload-complete's 409: the job, or upload_incomplete): each has its code.
            for each in [schemas[one["$ref"].rsplit("/", 1)[1]] for one in body.get("oneOf", [])] or [body]:
                assert "error_code" in each["required"], (operation_id, code)


def test_a_job_without_an_error_says_null_and_the_schema_allows_it(api: APIClient) -> None:
    job = api.post(
        "/api/video-jobs/initiate/",
        {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 10},
        format="json",
    ).json()
    assert job["error_code"] is None
    error_code = fetch_schema(api)["components"]["schemas"]["Job"]["properties"]["error_code"]
    assert {"$ref": "#/components/schemas/NullEnum"} in error_code["oneOf"]
