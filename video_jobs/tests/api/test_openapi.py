"""The OpenAPI schema says what the API does: schemathesis sends the app generated requests (all its checks,
then the stateful phase that follows the schema's links), and the schema's shared parts are as declared."""

from __future__ import annotations

import ipaddress
import traceback
import zlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, transaction
from hypothesis import HealthCheck, Phase, given, settings, strategies
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.generation.stateful import run_state_machine_as_test
from schemathesis.specs.openapi.checks import positive_data_acceptance

from video_jobs.api.openapi import LINKS_FROM
from video_jobs.s3.multipart import MAX_PARTS
from video_jobs.uppy import tokens
from video_jobs.webhooks import ssrf

# Schemathesis' coverage phase (each operation's boundary and wrong-type values, undeclared methods: about
# 850 cases over the 24 operations, the same every run) runs in one of CI's two suites, the SQLite one, which
# runs fewer tests; both then fuzz 25 valid and schema-violating requests per operation (derandomized).
# About 1,450 cases in all there: 35 s of CPU. The coverage phase is what finds a number taken for a string
# (filename: 0) or a TRACE answered 403; fuzzing alone, even at 60 cases per operation, did not.
COVERAGE_PHASE = connection.vendor == "sqlite"
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


@pytest.fixture
def uppy_token(user: Any, auth: dict[str, str]) -> str:
    """The Uppy routes' credential (their ``token`` path parameter) for the same user, bound to the API token
    the calls carry (as /api/uppy/endpoint/ makes one for a script)."""
    return tokens.make_token(user, api_key=Token.objects.get(user=user).key)


def takes_uppy_token(operation: Any) -> bool:
    return "{token}" in operation.path


def mostly_with_a_valid_token(cases: Any, token: str) -> Any:
    """A generated token is only ever forged (403): four cases in five carry a real one instead, so that they
    reach the Uppy views behind it; the fifth keeps the forged one, so the 403 is checked too. Schemathesis
    re-reads a changed case, so a negative case stays negative only where it still breaks the schema."""

    def use(case: Any, forged: bool) -> Any:
        if not forged:
            case.path_parameters = {**case.path_parameters, "token": token}
        return case

    # Hypothesis draws the simplest value (0) most often: that one is the real token.
    return strategies.builds(use, cases, strategies.integers(0, 4).map(lambda draw: draw == 4))


# Checks that are wrong for one operation, with the reason. Every other check runs on every operation.
WRONG_FOR_US = {
    # A webhook URL must resolve to public addresses when it is registered: a fact about DNS at the time of
    # the call, which no schema can state, so a URL that is a valid string is refused with 400 (invalid).
    "POST /api/webhook-endpoints/": [positive_data_acceptance],
    "PATCH /api/webhook-endpoints/{id}/": [positive_data_acceptance],
    # A part number up to 10000 is valid by the schema, but a job has only the parts its size makes: a number
    # past them is refused with 400 (invalid), a fact about the job that no schema can state.
    "GET /api/uppy/{token}/s3/multipart/{upload_id}/{part_number}": [positive_data_acceptance],
    "POST /api/video-jobs/{id}/parts/": [positive_data_acceptance],
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
    # Throttling and quotas off, so that generated requests explore the endpoints rather than the 429 (which
    # the schema declares, and test_throttling and the quota tests prove): every create makes a job.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": None, "initiate": None},
    }
    settings.VIDEO_JOBS_MAX_PENDING_UPLOADS = settings.VIDEO_JOBS_MAX_ACTIVE_JOBS = 10**6
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app, headers=auth)


def forged_token(case: Any) -> Any:
    """The case with a token no server made (the Uppy routes answer 403)."""
    case.path_parameters = {**case.path_parameters, "token": "forged-token"}
    return case


def coverage_test(
    schema: Any, operation: Any, token: str, auth: dict[str, str], statuses: Counter[int]
) -> Callable[[], None]:
    """Schemathesis' coverage phase for one operation, as its pytest plugin builds it (explicit examples
    only), every answer checked. Its cases are explicit, nothing to draw: one in five on an Uppy route, by a
    hash of the case (the same every run), keeps its forged token."""
    explicit = settings(HYPOTHESIS, phases=[Phase.explicit])
    excluded = WRONG_FOR_US.get(operation.label, [])

    def each(case: Any) -> None:
        said = f"{case.method} {case.path_parameters} {case.query} {case.body!r}"
        if takes_uppy_token(operation) and zlib.crc32(said.encode()) % 5 != 4:
            case.path_parameters = {**case.path_parameters, "token": token}
        response = case.call_and_validate(headers=auth, checks=CHECKS.get_all(), excluded_checks=excluded)
        statuses[response.status_code] += 1

    test: Callable[[], None] = create_test(
        operation=operation,
        test_func=explicit(each),
        config=HypothesisTestConfig(
            project=schema.config,
            modes=[HypothesisTestMode.COVERAGE],
            explicit_settings=explicit,
            feedback=FeedbackSources(),
        ),
    )
    return test


def check_operation(
    cases: Any,
    auth: dict[str, str],
    *,
    excluded: list[Any],
    statuses: Counter[int] | None = None,
    examples: int = EXAMPLES_PER_OPERATION,
) -> None:
    @given(case=cases)
    @settings(HYPOTHESIS, max_examples=examples)
    def send(case: Any) -> None:
        response = case.call_and_validate(headers=auth, checks=CHECKS.get_all(), excluded_checks=excluded)
        if statuses is not None:
            statuses[response.status_code] += 1

    send()


def test_every_operation_answers_as_its_schema_says(
    api_schema: Any, auth: dict[str, str], uppy_token: str
) -> None:
    # One loop rather than schemathesis.pytest.from_fixture: that reads a private attribute of pytest's test
    # items which pytest 9 no longer has. Each operation gets valid and schema-violating requests.
    failures = {}
    uppy_statuses: dict[str, Counter[int]] = {}
    covered: Counter[int] = Counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        cases = strategies.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )
        statuses = None
        if takes_uppy_token(operation):
            cases = mostly_with_a_valid_token(cases, uppy_token)
            statuses = uppy_statuses[operation.label] = Counter()
        try:
            if COVERAGE_PHASE:
                coverage_test(api_schema, operation, uppy_token, auth, covered)()
            check_operation(cases, auth, excluded=WRONG_FOR_US.get(operation.label, []), statuses=statuses)
            if statuses is not None:
                # Whether Hypothesis drew a forged token for this route depends on the run: one for sure.
                forged = strategies.builds(forged_token, operation.as_strategy(GenerationMode.POSITIVE))
                check_operation(
                    forged,
                    auth,
                    excluded=WRONG_FOR_US.get(operation.label, []),
                    statuses=statuses,
                    examples=1,
                )
        # Reported together below, one per operation (schemathesis' FailureGroup is a BaseExceptionGroup).
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = "".join(traceback.format_exception(exc))
    assert not failures, "\n\n".join(f"{label}:\n{said}" for label, said in failures.items())
    # The Uppy routes were exercised behind their token, not only refused at it.
    assert len(uppy_statuses) == 7
    for label, statuses in uppy_statuses.items():
        assert statuses[403], (label, statuses)
        assert set(statuses) - {403}, (label, statuses)
    assert sum(covered.values()) > (700 if COVERAGE_PHASE else -1), covered


def follow_links(schema: Any, auth: dict[str, str], uppy_token: str) -> dict[str, Counter[int]]:
    """Schemathesis' stateful phase over ``schema``, every answer checked: the statuses of each operation."""
    statuses: dict[str, Counter[int]] = {}

    class Authenticated(schema.as_state_machine()):  # type: ignore[misc]  # a class made at run time
        # Each scenario starts from the same database: Hypothesis replays scenarios' beginnings, and an answer
        # that changed meanwhile (a create retried with its id answers 200, not 201) changes which links can
        # be followed, which it reports as flaky generation.
        def setup(self) -> None:
            self.savepoint = transaction.savepoint()

        def teardown(self) -> None:
            transaction.savepoint_rollback(self.savepoint)

        def before_call(self, case: Any) -> None:
            # Flows, not credentials: every Uppy call carries the real token (the links pass it along).
            if takes_uppy_token(case.operation):
                case.path_parameters = {**case.path_parameters, "token": uppy_token}

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": auth}

        def after_call(self, response: Any, case: Any) -> None:
            statuses.setdefault(case.operation.label, Counter())[response.status_code] += 1

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
    return statuses


def test_flows_that_follow_the_schemas_links_keep_the_contract(
    api_schema: Any, auth: dict[str, str], uppy_token: str
) -> None:
    follow_links(api_schema, auth, uppy_token)


def test_uppy_flows_that_follow_the_links_keep_the_contract(
    api_schema: Any, auth: dict[str, str], uppy_token: str
) -> None:
    # On their own, so that the few scenarios of the whole API's run are not what decides whether Uppy's
    # calls after a create (which only its links can name) are ever made.
    statuses = follow_links(api_schema.include(tag="uppy"), auth, uppy_token)
    after_create = [label for label in statuses if "{upload_id}" in label]
    assert after_create, statuses
    for label in after_create:
        assert set(statuses[label]) - {404}, (label, statuses[label])


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


def test_creates_link_to_every_call_on_what_they_created(api: APIClient) -> None:
    by_id = operations(fetch_schema(api))
    for source, (codes, declared) in LINKS_FROM.items():
        for code in codes:
            links = by_id[source]["responses"][code]["links"]
            assert {link["operationId"] for link in links.values()} == {t for t, _ in declared.values()}
            for target, _ in declared.values():
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


@pytest.mark.django_db
def test_openapi_schema_describes_the_api() -> None:
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    assert "/api/video-jobs/initiate/" in paths
    assert "/api/video-jobs/{id}/upload-complete/" in paths
    initiate_op = paths["/api/video-jobs/initiate/"]["post"]
    assert "requestBody" in initiate_op
    assert {"201", "400"} <= initiate_op["responses"].keys()
    assert {"200", "409", "503"} <= paths["/api/video-jobs/{id}/upload-complete/"]["post"]["responses"].keys()
    assert "429" in initiate_op["responses"]
    assert {"204", "409", "503"} <= paths["/api/video-jobs/{id}/"]["delete"]["responses"].keys()
    assert "size_bytes" in schema["components"]["schemas"]["Initiate"]["properties"]


def test_the_schema_declares_the_ranges_the_server_enforces(api: APIClient) -> None:
    schemas = fetch_schema(api)["components"]["schemas"]
    items = schemas["PartNumbers"]["properties"]["part_numbers"]["items"]
    assert (items["minimum"], items["maximum"]) == (1, MAX_PARTS)
    for body in ("EndpointInput", "PatchedEndpointUpdate"):
        assert schemas[body]["properties"]["url"]["minLength"] == 1, body


def test_the_docs_open_on_the_video_jobs_api_with_how_to_start_and_one_token_box(api: APIClient) -> None:
    document = fetch_schema(api)
    assert [tag["name"] for tag in document["tags"]] == ["video-jobs", "webhook-endpoints", "uppy"]
    description = document["info"]["description"]
    steps = ["/api/video-jobs/initiate/", "upload.url", "upload-complete/", "GET /api/video-jobs/{id}/"]
    assert [description.index(step) for step in steps] == sorted(description.index(step) for step in steps)
    scheme = document["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["in"], scheme["name"]) == ("header", "Authorization")
    assert "`Token <key>`" in scheme["description"]
