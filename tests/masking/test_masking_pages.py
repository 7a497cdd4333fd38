"""Masking pages: an admin creates a project from the form, readers find it, results show."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.masking.models import MaskingProject
from tests.helpers import bearer, login
from tests.masking.conftest import Images
from tests.masking.simulation import ConsistentReader
from tests.masking.test_masking_api import by_value, hidden, sort_through_api


def seed_form(masking_images: Images, page: str, ranks: dict[str, int]) -> dict:
    candidates = re.findall(r'name="seed_candidate" value="([0-9a-f]+)"', page)
    return {
        "seed_candidate": candidates,
        "seed_rank": [str(ranks.get(c, "")) for c in candidates],
    }


def test_admin_creates_a_full_sort_from_the_page(client, db, accounts, admin, masking_images):
    readers = [accounts.add(name) for name in ("rda", "rdb")]
    csrf = login(client, "admin")
    page = client.get("/masking")
    assert page.status_code == 200
    assert "New masking project" in page.text
    values = hidden(masking_images)
    mlo = re.findall(r'name="seed_candidate" value="([0-9a-f]+)"', page.text)
    assert len(mlo) == 12  # the MLO views of the six exams
    lowest, highest = by_value(values, mlo)[0], by_value(values, mlo)[-1]

    refused = client.post(
        "/masking/projects",
        data={
            "csrf_token": csrf,
            "name": "CSAW pilot",
            **seed_form(masking_images, page.text, {lowest: 1}),
        },
    )
    assert refused.status_code == 422
    assert "at least 2 different seed images" in refused.text
    assert 'value="CSAW pilot"' in refused.text  # the form keeps what was typed
    assert db.scalar(select(func.count()).select_from(MaskingProject)) == 0

    created = client.post(
        "/masking/projects",
        data={
            "csrf_token": csrf,
            "name": "CSAW pilot",
            "mode": "full_sort",
            "view": "MLO",
            "per_woman": "one",
            "probe_percent": "0",
            "readers": [str(r.id) for r in readers],
            **seed_form(masking_images, page.text, {highest: 2, lowest: 1}),
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    project_url = created.headers["location"]
    project = db.scalar(select(MaskingProject))
    assert project is not None
    assert project.mode == "full_sort"
    assert [masking_images.id_of[pk] for pk in project.seed_list] == [lowest, highest]
    detail = client.get(project_url)
    assert detail.status_code == 200
    assert "rda" in detail.text
    assert "rdb" in detail.text

    for name in ("rda", "rdb"):
        sort_through_api(client, project.id, bearer(client, name), ConsistentReader(values))
    client.cookies.clear()
    login(client, "admin")
    detail = client.get(project_url)
    assert 'id="tau-heatmap"' in detail.text
    assert detail.text.count('class="level-histogram"') == 2
    assert ">1.00<" in detail.text  # two consistent readers agree perfectly


def test_readers_find_their_sorting_and_nobody_else_sees_it(
    client, db, accounts, admin, masking_images
):
    reader = accounts.add("rda")
    accounts.add("rdb")
    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    response = client.post(
        "/api/v1/masking/projects",
        json={
            "name": "Pilot",
            "image_ids": masking_images.ids,
            "seed_list": ordered[:2],
            "reader_ids": [reader.id],
        },
        headers=bearer(client, "admin"),
    )
    project_id = response.json()["id"]
    login(client, "rda")
    listing = client.get("/masking")
    assert f'href="/masking/projects/{project_id}/sort"' in listing.text
    assert "New masking project" not in listing.text
    screen = client.get(f"/masking/projects/{project_id}/sort")
    assert screen.status_code == 200
    assert 'id="masking"' in screen.text
    assert client.get(f"/masking/projects/{project_id}", follow_redirects=False).status_code == 303
    client.cookies.clear()
    login(client, "rdb")
    assert client.get(f"/masking/projects/{project_id}/sort").status_code == 404
    assert "Pilot" not in client.get("/masking").text
