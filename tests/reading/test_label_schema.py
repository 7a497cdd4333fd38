"""The label's published shape: /api/v1/openapi.json documents a read in full (breasts with
BI-RADS and density, boxes with categories and coordinates), the published shape agrees with
the pure parser, and the parser stays what validates a label a client sends."""

from __future__ import annotations

import json
from typing import Any, get_args

from hypothesis import given

from app.reading import rules
from app.reading.schemas import (
    BreastBirads,
    Density,
    FindingBirads,
    LabelIn,
    LabelOut,
)
from tests.api.world import seed_world
from tests.helpers import assert_error
from tests.reading.rules_helpers import labels

OPENAPI = "/api/v1/openapi.json"
READING = "/api/v1/reading"


class Spec:
    """The OpenAPI document, with ``$ref`` and nullable ``anyOf`` looked through."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in schema:
            name = schema["$ref"].removeprefix("#/components/schemas/")
            return self.resolve(self.document["components"]["schemas"][name])
        options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
        return self.resolve(options[0]) if len(options) == 1 else schema

    def body(self, method: str, path: str) -> dict[str, Any]:
        operation = self.document["paths"][path][method]
        return self.resolve(operation["requestBody"]["content"]["application/json"]["schema"])

    def reply(self, method: str, path: str) -> dict[str, Any]:
        content = self.document["paths"][path][method]["responses"]["200"]["content"]
        return self.resolve(content["application/json"]["schema"])

    def field(self, schema: dict[str, Any], *names: str) -> dict[str, Any]:
        for name in names:
            schema = self.resolve(schema["properties"][name])
        return schema


def spec_of(client) -> Spec:
    response = client.get(OPENAPI)
    assert response.status_code == 200
    return Spec(response.json())


def enum_of(spec: Spec, schema: dict[str, Any]) -> list[Any]:
    return spec.resolve(schema)["enum"]


def assert_documents_a_label(spec: Spec, label: dict[str, Any], *, sent: bool) -> None:
    assert set(label["properties"]) == {"breasts", "boxes", "note"}
    breasts = spec.field(label, "breasts")
    assert set(breasts["properties"]) == {"R", "L"}
    for laterality in ("R", "L"):
        breast = spec.field(breasts, laterality)
        # every value a protocol may allow (VinDr's 0-5, or 0-6); each project's own scale is
        # applied by validation
        assert enum_of(spec, breast["properties"]["birads"]) == [0, 1, 2, 3, 4, 5, 6]
        assert enum_of(spec, breast["properties"]["density"]) == ["A", "B", "C", "D"]
        assert "BI-RADS" in breast["properties"]["birads"]["description"]
        assert "probability" in breast["properties"]
    box = spec.resolve(spec.field(label, "boxes")["items"])
    corners = ("xmin", "ymin", "xmax", "ymax")
    assert set(box["properties"]) == {"id", "image_id", *corners, "categories", "birads"}
    for corner in corners:
        assert box["properties"][corner]["type"] == "number"
    categories = box["properties"]["categories"]
    assert categories["type"] == "array"
    assert categories["items"]["type"] == "string"
    assert "Mass" in categories["description"]
    assert enum_of(spec, box["properties"]["birads"]) == [2, 3, 4, 5]
    if sent:  # a draft may leave things out, but never adds unknown keys
        assert label["additionalProperties"] is False
        assert "birads" not in box["required"]
    else:  # a stored read has every key
        assert set(label["required"]) == {"breasts", "boxes", "note"}
        assert set(box["required"]) == {"id", "image_id", *corners, "categories", "birads"}


def test_openapi_documents_the_label_sent_and_returned(client) -> None:
    spec = spec_of(client)
    task = f"{READING}/tasks/{{task_id}}"
    for path, method in ((f"{task}/draft", "put"), (f"{task}/submit", "post")):
        assert_documents_a_label(spec, spec.field(spec.body(method, path), "label"), sent=True)
    detail = spec.reply("get", task)
    other_read = spec.resolve(spec.field(detail, "other_reads")["items"])
    study = spec.reply("get", f"{READING}/projects/{{project_id}}/studies/{{study_id}}")
    returned = [
        spec.field(spec.reply("post", f"{task}/submit"), "label"),
        spec.field(detail, "draft"),
        spec.field(other_read, "label"),
        spec.field(study, "final_label"),
    ]
    for label in returned:
        assert_documents_a_label(spec, label, sent=False)


def test_the_published_values_are_the_rules() -> None:
    assert get_args(BreastBirads) == rules.ANY_BREAST_BIRADS
    assert get_args(FindingBirads) == rules.ANY_FINDING_BIRADS
    assert set(rules.ANY_BREAST_BIRADS) == set().union(*rules.ASSESSMENT_SCALES.values())
    assert set(rules.ANY_FINDING_BIRADS) == set().union(*rules.FINDING_RANGES.values())
    assert get_args(Density) == rules.DENSITIES


@given(labels())
def test_every_label_the_parser_accepts_fits_the_published_shape(label: rules.Label) -> None:
    stored = json.loads(json.dumps(label.to_json()))
    assert LabelIn.model_validate(stored).model_dump() == stored
    assert LabelOut.model_validate(stored).model_dump() == stored


def test_the_parser_still_validates_what_a_client_sends(client, accounts, db) -> None:
    world = seed_world(client, accounts, db)
    reader = world.headers["reader"]
    task = client.get(f"{READING}/next", headers=reader).json()
    url = f"{READING}/tasks/{task['id']}/draft"
    version = task["version"]
    refused = client.put(url, json={"label": {"breasts": "x"}, "version": version}, headers=reader)
    error = assert_error(refused, 422)
    assert error["details"] == [
        {"field": "breasts", "message": "must be an object with the keys 'R' and 'L'."}
    ]
    not_an_object = client.put(url, json={"label": [], "version": version}, headers=reader)
    assert assert_error(not_an_object, 422, "invalid")["details"][0]["field"] == "label"
    draft = {"breasts": {"R": {"birads": 1}}}  # a draft leaves things out
    saved = client.put(url, json={"label": draft, "version": version}, headers=reader)
    assert saved.status_code == 200, saved.text
    detail = client.get(f"{READING}/tasks/{task['id']}", headers=reader).json()
    assert detail["draft"] == rules.parse_label(draft).to_json()
