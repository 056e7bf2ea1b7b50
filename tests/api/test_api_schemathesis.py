"""Schema-driven tests: generated requests against the served schema on a live server, as a coordinator.

Every operation of /api/schema is exercised (nothing excluded) with a few seeded, derandomized examples
each. Path ids and the patient/scan a body refers to are pinned to the seeded study's objects so the
requests reach the views' real work instead of stopping at 404; the access tests cover other ids.
Checks: no server error, and status code, content type, headers and body as the schema declares.
Schemathesis' positive-data-acceptance check is not among them: the clinical rules (dates in the
future or before onset, categories that do not fit the diagnosis, one exam a day) cannot be written
in a schema, so a schema-valid body is rightly refused with a documented 400 now and then.
"""
from __future__ import annotations

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase

from clinical.models import Patient
from recon.models import ReconRun
from tests.api.conftest import path_values, token_client

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = 10
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_headers_conformance,
          schemathesis.checks.response_schema_conformance]
PINNED_BODY_FIELDS = {"patient", "scan"}


def pinned(schema: dict, seeded: dict) -> dict:
    """The schema with path ids and body references fixed to the seeded objects."""
    for path, item in schema["paths"].items():
        values = path_values(seeded, path)
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"].endswith("_id"):
                    parameter["schema"] = {"type": "integer", "enum": [values[parameter["name"]]]}
    ids = {"patient": seeded["patient"].pk, "scan": seeded["scan"].pk}
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request"):
            for field in PINNED_BODY_FIELDS & set(component.get("properties", {})):
                component["properties"][field] = {"type": "integer", "enum": [ids[field]]}
    return schema


def test_the_api_answers_as_its_schema_says(live_server, seeded, coordinator):
    token = token_client(coordinator)._credentials["HTTP_AUTHORIZATION"]
    served = requests.get(f"{live_server.url}/api/schema?format=json", headers={"Authorization": token}, timeout=30)
    schema = schemathesis.openapi.from_dict(pinned(served.json(), seeded))
    session = requests.Session()
    failures, tried = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
                             phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @hypothesis.given(case=operation.as_strategy())
        def exercise(case):
            case.call_and_validate(base_url=live_server.url, session=session, headers={"Authorization": token},
                                   checks=CHECKS)

        try:
            exercise()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
        tried += 1
    assert tried >= 25
    # The generated requests reached the views' work, not only their refusals.
    assert Patient.objects.count() > 1 and ReconRun.objects.count() > 1
    assert not failures, "\n\n".join(failures)
