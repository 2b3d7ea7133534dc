"""docs/control-api.openapi.yaml tells the truth: a valid OpenAPI document, naming exactly the
routes the control API serves, whose schemas the API's real answers satisfy."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mock_server.server import MockServer
from mock_server.server.control import ROUTES, ControlApi
from tests.helpers import connected, recv_until, send, user_text
from tests.mock_server.test_control import TEXT_TURN, request

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "control-api.openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
METHODS = ("get", "post", "put", "delete", "patch", "head", "options")


def test_the_document_is_valid_openapi() -> None:
    validate(SPEC)  # type: ignore[arg-type]


def test_the_document_names_exactly_the_routes_served() -> None:
    documented = {
        (method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method in item
        if method in METHODS
    }
    served = {(route.method, route.path) for route in ROUTES}
    assert documented == served, (
        f"served, not documented: {sorted(served - documented)}; "
        f"documented, not served: {sorted(documented - served)}"
    )


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def check_answer(method: str, path: str, status: int, body: Any) -> None:
    """``body`` satisfies the document's schema for this route's ``status``."""
    route = next(r for r in ROUTES if r.method == method and r.path == path)
    responses = SPEC["paths"][route.path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, not documented"
    response = responses[str(status)]
    where = ("paths", route.path, method.lower(), "responses", str(status))
    if "$ref" in response:
        where = tuple(response["$ref"].removeprefix("#/").split("/"))
    registry: Registry[Any] = Registry().with_resource(
        "urn:control-api", Resource.from_contents(SPEC, default_specification=DRAFT202012)
    )
    pointer = _pointer(*where, "content", "application/json", "schema")
    validator = Draft202012Validator({"$ref": f"urn:control-api#/{pointer}"}, registry=registry)
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not problems, f"{method} {path} {status}: {problems}"


@pytest.fixture
async def api() -> AsyncIterator[ControlApi]:
    async with MockServer(port=0) as server:
        yield ControlApi(server).attach()


async def answer(
    api: ControlApi, method: str, template: str, target: str, *args: Any, **kwargs: Any
) -> Any:
    response = await api.handle(request(method, target, *args, **kwargs))
    body = json.loads(response.body)
    check_answer(method, template, response.status_code, body)
    return body


async def test_every_answer_satisfies_its_schema(api: ControlApi) -> None:
    mounts, one = "/_mock/mounts", "/_mock/mounts/{id}"
    mounted = await answer(api, "POST", mounts, mounts, TEXT_TURN)
    await answer(api, "POST", mounts, mounts, {"library": "text_turn", "strict": True})
    await answer(api, "POST", mounts, mounts)  # the canned model
    await answer(api, "POST", mounts, mounts, "steps: [{respnd: 1}]\n")  # 400, with problems
    await answer(api, "POST", mounts, mounts, b"x", content_type="text/plain")
    async with connected(mounted["ws_url"]) as ws:
        await send(ws, user_text("Hello"))
        await send(ws, {"type": "response.create"})
        await recv_until(ws, "response.done")
    await api.server.wait_for_sessions(0)
    await answer(api, "GET", mounts, mounts)
    await answer(api, "GET", one, "/_mock/mounts/m1")
    await answer(api, "GET", one, "/_mock/mounts/nope")  # 404
    await answer(api, "GET", one + "/verdict", "/_mock/mounts/m1/verdict")
    await answer(api, "GET", one + "/verdict", "/_mock/mounts/m2/verdict?wait=0")
    await answer(api, "GET", one + "/verdict", "/_mock/mounts/m1/verdict?wait=soon")  # 400
    await answer(api, "GET", one + "/connections", "/_mock/mounts/m1/connections")
    await answer(api, "GET", one + "/transcript", "/_mock/mounts/m1/transcript?limit=3")
    await answer(api, "GET", "/_mock/journal", "/_mock/journal")
    await answer(api, "DELETE", one, "/_mock/mounts/m1")
    await answer(api, "POST", "/_mock/reset", "/_mock/reset")
