"""Driving the PACS API in tests: a configured source, searches, retrievals followed to
their end."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.pacs.orthanc import Orthanc

SOURCES = "/api/v1/pacs/sources"
RETRIEVALS = "/api/v1/pacs/retrievals"


def add_source(
    client: TestClient, headers: dict[str, str], orthanc: Orthanc, **changes: object
) -> dict:
    body = {
        "name": "Orthanc",
        "base_url": orthanc.dicomweb_url,
        "auth_kind": "basic",
        "username": orthanc.auth[0],
        "secret": orthanc.auth[1],
        **changes,
    }
    response = client.post(SOURCES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def search(client: TestClient, headers: dict[str, str], source_id: int, **criteria: object):
    return client.post(
        "/api/v1/pacs/search", json={"source_id": source_id, **criteria}, headers=headers
    )


def found(client: TestClient, headers: dict[str, str], source_id: int, **criteria: object) -> dict:
    response = search(client, headers, source_id, **criteria)
    assert response.status_code == 200, response.text
    return response.json()


def wait(client: TestClient, headers: dict[str, str], job: dict, seconds: float = 120) -> dict:
    """The job once it has ended (done, partial or failed)."""
    deadline = time.monotonic() + seconds
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
        response = client.get(f"{RETRIEVALS}/{job['id']}", headers=headers)
        assert response.status_code == 200, response.text
        job = response.json()
    return job


def retrieve(
    client: TestClient, headers: dict[str, str], source_id: int, study_uids: list[str]
) -> dict:
    response = client.post(
        RETRIEVALS, json={"source_id": source_id, "study_uids": study_uids}, headers=headers
    )
    assert response.status_code == 202, response.text
    return wait(client, headers, response.json())


def resume(client: TestClient, headers: dict[str, str], job_id: int) -> dict:
    response = client.post(f"{RETRIEVALS}/{job_id}/resume", headers=headers)
    assert response.status_code == 202, response.text
    return wait(client, headers, response.json())
