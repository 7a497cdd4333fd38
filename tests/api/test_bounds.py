"""Integers beyond the database's range, and text it cannot hold, are the caller's mistake:
404 or 422 in the common shape (pages: their HTML error), never a 500. Every id, count and
offset is bounded at the API boundary (app.core.ids); PostgreSQL's INTEGER ends at 2^31 - 1,
SQLite's at 2^63 - 1."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from app.main import ROUTERS
from app.reading.models import ReadingProject
from tests.api.world import ROLES, World, seed_world
from tests.helpers import assert_error, login

TOO_LARGE = (2**31, 2**63)


@pytest.fixture
def world(client, accounts, db) -> World:
    return seed_world(client, accounts, db)


def integer_parameters(operation: dict) -> tuple[list[str], list[str]]:
    """The operation's integer path parameters and integer query parameters."""

    def is_integer(schema: dict) -> bool:
        options = schema.get("anyOf", [schema])
        return any(option.get("type") == "integer" for option in options)

    parameters = [p for p in operation.get("parameters", []) if is_integer(p["schema"])]
    return (
        [p["name"] for p in parameters if p["in"] == "path"],
        [p["name"] for p in parameters if p["in"] == "query"],
    )


def operations_with_integers(spec: dict) -> list[tuple[str, str, bool, str]]:
    """(method, path, whether in the query, name) of every integer parameter; the path has
    ``{value}`` where that parameter goes."""
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            in_path, in_query = integer_parameters(operation)
            found += [(method, fill_path(path, operation, name), False, name) for name in in_path]
            found += [(method, fill_path(path, operation, None), True, name) for name in in_query]
    return found


def fill_path(path: str, operation: dict, too_large: str | None) -> str:
    """Path parameters filled in: the ``too_large`` one as ``{value}``, integers 1, texts x."""
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        if parameter["in"] != "path":
            continue
        is_integer = name in integer_parameters(operation)[0]
        value = "{value}" if name == too_large else ("1" if is_integer else "x")
        path = path.replace(f"{{{name}}}", value)
    return path


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("value", TOO_LARGE)
def test_too_large_integer_parameters_are_refused(app, client, world, role, value) -> None:
    operations = operations_with_integers(app.openapi())
    assert len(operations) > 30  # ids in paths, offsets, limits and id filters all over the API
    allowed = {404, 422} if role == "admin" else {403, 404, 422}
    failures = []
    for method, path, in_query, name in operations:
        url = path.replace("{value}", str(value))
        params = {name: value} if in_query else {}
        response = client.request(method, url, params=params, headers=world.headers[role])
        if response.status_code not in allowed:
            failures.append(f"{method.upper()} {url} {params}: {response.status_code}")
            continue
        error = assert_error(response, response.status_code)
        if response.status_code == 422:
            fields = {detail["field"] for detail in error["details"]}
            assert fields & {name, f"path.{name}"}, (url, error)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("put", "/api/v1/reading/projects/{reading}/pools", {"readers": [2**31]}, "readers.0"),
        ("post", "/api/v1/reading/tasks/1/reassign", {"user_id": 2**63}, "user_id"),
        (
            "post",
            "/api/v1/reading/projects/{reading}/assign",
            {"pairs": [{"study_id": "x", "readers": [1, 2**31]}]},
            "pairs.0.readers.1",
        ),
        ("put", "/api/v1/reading/tasks/1/draft", {"label": {}, "version": 2**63}, "version"),
        ("post", "/api/v1/exports", {"project_id": 2**31, "format": "vindr"}, "project_id"),
        ("put", "/api/v1/masking/projects/{masking}/readers", {"user_ids": [2**63]}, "user_ids.0"),
        (
            "post",
            "/api/v1/masking/projects",
            {"name": "Derived", "mode": "levels", "derive_seeds_from": 2**31},
            "derive_seeds_from",
        ),
    ],
)
def test_too_large_ids_in_bodies_are_refused(client, world, method, url, body, field) -> None:
    url = url.format(reading=world.reading_project_id, masking=world.masking_project_id)
    response = client.request(method, url, json=body, headers=world.headers["admin"])
    error = assert_error(response, 422, "invalid")
    assert field in {detail["field"] for detail in error["details"]}


def test_a_masking_project_derives_seeds_only_from_a_full_sort_project(client, world) -> None:
    body = {"name": "Derived", "mode": "levels", "derive_seeds_from": 999}
    response = client.post("/api/v1/masking/projects", json=body, headers=world.headers["admin"])
    error = assert_error(response, 422)
    assert "999" in error["message"]


# --- pages ----------------------------------------------------------------------------------


def page_routes_with_ids() -> list[tuple[str, str]]:
    """(method, path) of every page route with an integer path parameter."""
    found = []
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or route.include_in_schema:
                continue
            fields = route.dependant.path_params
            numbers = [field.name for field in fields if field.field_info.annotation is int]
            if not numbers:
                continue
            path = route.path
            for name in (field.name for field in fields):
                path = path.replace(f"{{{name}}}", "{value}" if name in numbers else "x")
            found.extend((method, path) for method in sorted(route.methods))
    return found


def test_pages_refuse_too_large_ids_with_their_error_page(client, world) -> None:
    routes = page_routes_with_ids()
    assert len(routes) > 15
    csrf = login(client, "admin")
    failures = []
    for method, path in routes:
        for value in TOO_LARGE:
            url = path.replace("{value}", str(value))
            data = {"csrf_token": csrf} if method == "POST" else None
            response = client.request(method, url, data=data, follow_redirects=False)
            ok = response.status_code in (404, 422) and "text/html" in response.headers.get(
                "content-type", ""
            )
            if not ok:
                failures.append(f"{method} {url}: {response.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("url", "form"),
    [
        ("/projects/{reading}/pools", {"readers": str(2**31)}),
        ("/projects/{reading}/studies/x/pair", {"reader1": str(2**63), "reader2": "1"}),
        ("/masking/projects/{masking}/readers", {"readers": str(2**31)}),
        ("/exports", {"project": f"reading:{2**31}", "format": "vindr"}),
        ("/exports", {"project": "reading:1", "format": "vindr", "split_seed": "99999999999"}),
        ("/masking/projects", {"name": "Derived", "mode": "levels", "derive_seeds_from": "9" * 20}),
    ],
)
def test_page_forms_refuse_too_large_ids(client, world, url, form) -> None:
    csrf = login(client, "admin")
    url = url.format(reading=world.reading_project_id, masking=world.masking_project_id)
    response = client.post(url, data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 422, response.text[:300]
    assert "text/html" in response.headers["content-type"]


# --- text the database cannot hold ----------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_a_nul_character_in_an_id_is_refused(client, world, role) -> None:
    for url in ("/api/v1/images/ab%00cd", "/api/v1/images/ab%00cd/raw"):
        response = client.get(url, headers=world.headers[role])
        assert_error(response, 422, "nul_character")


def test_a_nul_character_in_a_body_is_refused_and_changes_nothing(client, db, world) -> None:
    before = db.scalar(select(func.count()).select_from(ReadingProject))
    body = {"name": "Pilot\x00two"}
    response = client.post("/api/v1/reading/projects", json=body, headers=world.headers["admin"])
    assert_error(response, 422, "nul_character")
    response = client.get("/api/v1/studies", params={"q": "a\x00"}, headers=world.headers["admin"])
    assert_error(response, 422, "nul_character")
    assert db.scalar(select(func.count()).select_from(ReadingProject)) == before


def test_the_schema_documents_bounds_and_errors(app) -> None:
    """Clients see the bounds (so a fuzzer generates within them) and every error shape."""
    spec = app.openapi()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            responses = operation["responses"]
            in_path = integer_parameters(operation)[0]
            for parameter in operation.get("parameters", []):
                if parameter["name"] in in_path:
                    assert parameter["schema"]["maximum"] == 2**31 - 1, label
            if operation.get("parameters") or "requestBody" in operation:
                assert "422" in responses, label
            content = operation.get("requestBody", {}).get("content", {})
            if {"multipart/form-data", "application/x-www-form-urlencoded"} & set(content):
                assert {"400", "413"} <= set(responses), label
            for status, response in responses.items():
                if status.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, label
