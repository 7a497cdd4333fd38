"""One exam in a reading project read by rd1 and rd2, arbitrated by arb, set up through the API
of the live server; shared by the browser tests of the reading screen and the study review."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from tests.helpers import PASSWORD
from tests.imaging.helpers import exam_files


@dataclass
class Case:
    http: httpx.Client
    tokens: dict[str, dict[str, str]]
    project_id: int
    study_id: str
    images: dict[str, str]  # "R-CC" -> image id
    tasks: dict[str, int]  # reader -> task id


def bearer(http: httpx.Client, username: str) -> dict[str, str]:
    response = http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@contextmanager
def reading_case(
    live_server: str,
    accounts,
    *,
    name: str,
    seed: int,
    size: tuple[int, int] | None = None,
    mirrored: str | None = None,
    override_reason: str | None = None,
) -> Iterator[Case]:
    """Upload exam ``seed`` (``size`` = (rows, columns), ``mirrored`` = the view stored flipped),
    add it to a new project ``name`` (with ``override_reason`` when it leaves an open flag) and
    assign it to rd1 and rd2; arb is the project's arbiter."""
    users = {user: accounts.add(user).id for user in ("rd1", "rd2", "arb")}
    options: dict[str, object] = {}
    if size is not None:
        options["rows"], options["columns"] = size
    if mirrored is not None:
        options["flip_view"] = mirrored
    with httpx.Client(base_url=live_server, timeout=30) as http:
        tokens = {user: bearer(http, user) for user in ("admin", *users)}
        uploaded = http.post(
            "/api/v1/images",
            files=[
                ("files", (file, data, "application/dicom"))
                for file, data in exam_files(seed, **options)
            ],
            headers=tokens["admin"],
        )
        assert uploaded.status_code == 200, uploaded.text
        study_id = uploaded.json()["outcomes"][0]["study_id"]
        detail = http.get(f"/api/v1/studies/{study_id}", headers=tokens["admin"]).json()
        images = {f"{i['laterality']}-{i['view']}": i["image_id"] for i in detail["images"]}
        project = http.post(
            "/api/v1/reading/projects", json={"name": name}, headers=tokens["admin"]
        )
        assert project.status_code == 201, project.text
        project_id = project.json()["id"]
        base = f"/api/v1/reading/projects/{project_id}"
        pools = {"readers": [users["rd1"], users["rd2"]], "arbiters": [users["arb"]]}
        assert http.put(f"{base}/pools", json=pools, headers=tokens["admin"]).status_code == 200
        studies: dict[str, object] = {"study_ids": [study_id]}
        if override_reason is not None:
            studies["override_reason"] = override_reason
        added = http.post(f"{base}/studies", json=studies, headers=tokens["admin"])
        assert added.status_code == 200, added.text
        pairs = {"pairs": [{"study_id": study_id, "readers": [users["rd1"], users["rd2"]]}]}
        assert http.post(f"{base}/assign", json=pairs, headers=tokens["admin"]).status_code == 200
        tasks = {
            reader: http.get("/api/v1/reading/tasks", headers=tokens[reader]).json()[0]["id"]
            for reader in ("rd1", "rd2")
        }
        yield Case(http, tokens, project_id, study_id, images, tasks)
