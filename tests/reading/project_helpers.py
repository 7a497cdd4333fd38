"""A reading project set up through the API in one call, for tests that need one: created
(with rules), its pools, its studies, and each study assigned to the readers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

READING = "/api/v1/reading"


def new_project(
    client: Any,
    headers: dict[str, str],
    *,
    name: str,
    readers: Sequence[int],
    study_ids: Sequence[str],
    arbiters: Sequence[int] = (),
    rules: dict[str, Any] | None = None,
    pairs: bool = True,
) -> int:
    """The project's id. ``client`` is a TestClient or an httpx client of a live server;
    ``pairs``: each study to the first two readers (else the balanced assignment)."""
    body: dict[str, Any] = {"name": name, **({"rules": rules} if rules else {})}
    created = client.post(f"{READING}/projects", json=body, headers=headers)
    assert created.status_code == 201, created.text
    base = f"{READING}/projects/{created.json()['id']}"
    pools = {"readers": list(readers), "arbiters": list(arbiters)}
    assert client.put(f"{base}/pools", json=pools, headers=headers).status_code == 200
    added = client.post(f"{base}/studies", json={"study_ids": list(study_ids)}, headers=headers)
    assert added.status_code == 200, added.text
    plan = (
        {"pairs": [{"study_id": s, "readers": list(readers[:2])} for s in study_ids]}
        if pairs
        else {}
    )
    assigned = client.post(f"{base}/assign", json=plan, headers=headers)
    assert assigned.status_code == 200, assigned.text
    return created.json()["id"]
