"""The PACS page with a browser session: add the source, test it, search, retrieve the chosen
studies and follow the job; forms carry the CSRF token; the secret is never on the page."""

from __future__ import annotations

import re
import time

from tests.helpers import login
from tests.pacs.exams import two_women
from tests.pacs.orthanc import PASSWORD, Orthanc


def test_the_page_configures_searches_and_retrieves(
    client, admin, reader, orthanc: Orthanc
) -> None:
    exams = two_women()
    orthanc.upload(data for e in exams for _, data in e.files)
    csrf = login(client, "admin")
    page = client.get("/pacs")
    assert page.status_code == 200
    assert "Add a source" in page.text
    assert 'href="/pacs" aria-current="page"' in page.text

    form = {
        "csrf_token": csrf,
        "name": "Orthanc",
        "base_url": orthanc.dicomweb_url,
        "auth_kind": "basic",
        "username": orthanc.auth[0],
        "secret": PASSWORD,
    }
    refused = client.post("/pacs/sources", data={**form, "csrf_token": "forged"})
    assert refused.status_code == 403
    bad = client.post("/pacs/sources", data={**form, "base_url": "pacs.example"})
    assert bad.status_code == 422
    assert "The URL must start with http" in bad.text
    assert PASSWORD not in bad.text  # the password typed is not echoed back
    added = client.post("/pacs/sources", data=form, follow_redirects=False)
    assert added.status_code == 303, added.text
    page = client.get("/pacs")
    assert "Orthanc" in page.text
    assert PASSWORD not in page.text
    source_id = re.search(r'action="/pacs/sources/(\d+)/test"', page.text).group(1)

    tested = client.post(f"/pacs/sources/{source_id}/test", data={"csrf_token": csrf})
    assert tested.status_code == 200
    assert "answered a QIDO-RS search" in tested.text

    wrong = client.post(
        f"/pacs/sources/{source_id}",
        data={**form, "secret": "wrong-password"},
        follow_redirects=False,
    )
    assert wrong.status_code == 303
    refused = client.post(f"/pacs/sources/{source_id}/test", data={"csrf_token": csrf})
    assert refused.status_code == 424
    assert "refused MammoRead&#39;s credentials" in refused.text
    client.post(f"/pacs/sources/{source_id}", data=form)

    results = client.post(
        "/pacs/search",
        data={
            "csrf_token": csrf,
            "source_id": source_id,
            "modality": "MG",
            "patient_ids": "MR-PACS-002\nMR-PACS-001",
            "date_from": "2020-01-01",
        },
    )
    assert results.status_code == 200, results.text
    assert "3 studies match." in results.text
    chosen = re.findall(r'name="study_uids" value="([0-9.]+)"', results.text)
    assert sorted(chosen) == sorted(e.study_uid for e in exams[1:])
    bad_date = client.post(
        "/pacs/search", data={"csrf_token": csrf, "source_id": source_id, "date_from": "1.1.2020"}
    )
    assert bad_date.status_code == 422
    assert "YYYY-MM-DD" in bad_date.text

    started = client.post(
        "/pacs/retrievals",
        data={"csrf_token": csrf, "source_id": source_id, "study_uids": chosen},
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text
    deadline = time.monotonic() + 120
    while True:
        table = client.get("/pacs/jobs")
        assert table.status_code == 200
        if 'data-status="done"' in table.text or 'data-status="partial"' in table.text:
            break
        assert time.monotonic() < deadline, table.text
        time.sleep(0.2)
    assert 'data-status="done"' in table.text
    assert "12 imported" in table.text
    assert "hx-get" not in table.text  # nothing runs: no more polling
    studies = client.get("/api/v1/studies", headers={"X-CSRF-Token": csrf}).json()
    assert studies["total"] == 3

    client.post("/logout", data={"csrf_token": csrf})
    login(client, "reader1")
    assert client.get("/pacs").status_code == 403
