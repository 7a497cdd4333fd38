"""A small but complete site, so that every server-rendered form of every page shows up: a
released project with final studies, an assigned and an unassigned study, a study not in any
project, a QC flag, a masking project, readers and an API token. Built through the API (of a
TestClient or of a live server: both speak httpx) and the real service layer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from sqlalchemy import select

from app.imaging.models import Image, QcFlag, Study
from tests.export.conftest import Release, build_release, release_files
from tests.helpers import PASSWORD
from tests.imaging.helpers import exam_files

READERS = ("rd1", "rd2", "rd3")
FLAG_DETAIL = "Synthetic problem for the form tests"


@dataclass
class Site:
    readers: dict[str, int]  # user name -> id
    project_id: int  # the released project: final studies, one assigned, one unassigned
    assigned: str  # study id, read by rd1 and rd2, carries a QC flag
    unassigned: str  # study id, in the project, not assigned
    outside: str  # study id in no project
    flag_id: int
    masking_id: int
    release: Release


def bearer(http, username: str) -> dict[str, str]:
    response = http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def _upload_exams(http, headers: dict[str, str], seeds: tuple[int, ...]) -> list[str]:
    files = [f for seed in seeds for f in exam_files(seed)]
    uploads = [("files", (name, data, "application/dicom")) for name, data in files]
    body = _ok(http.post("/api/v1/images", files=uploads, headers=headers))
    return list(dict.fromkeys(o["study_id"] for o in body["outcomes"]))


def _flag(db, study_id: str) -> int:
    study_pk = db.scalar(select(Study.id).where(Study.study_id == study_id))
    flag = QcFlag(study_pk=study_pk, kind="missing_view", detail=FLAG_DETAIL)
    db.add(flag)
    db.commit()
    return flag.id


def _masking_project(http, db, headers: dict[str, str], reader_id: int) -> int:
    images = db.scalars(select(Image.image_id).where(Image.view == "MLO").order_by(Image.id))
    image_ids = list(images)
    body = {
        "name": "Masking pilot",
        "image_ids": image_ids,
        "seed_list": [image_ids[0], image_ids[-1]],  # two women: one seed per woman
        "reader_ids": [reader_id],
    }
    return _ok(http.post("/api/v1/masking/projects", json=body, headers=headers), 201)["id"]


def build_site(http, db, accounts, folder: Path) -> Site:
    """Needs the ``admin`` account; adds readers rd1-rd3."""
    readers = {name: accounts.add(name).id for name in READERS}
    admin = bearer(http, "admin")
    release = build_release(folder)
    files = release_files(release)
    imported = http.post(
        "/api/v1/releases", data={"project_name": "Released"}, files=files, headers=admin
    )
    project_id = _ok(imported, 201)["project_id"]
    assigned, unassigned, outside = _upload_exams(http, admin, (81, 82, 83))
    base = f"/api/v1/reading/projects/{project_id}"
    pools = {"readers": list(readers.values()), "arbiters": [readers["rd3"]]}
    _ok(http.put(f"{base}/pools", json=pools, headers=admin))
    added = http.post(f"{base}/studies", json={"study_ids": [assigned, unassigned]}, headers=admin)
    _ok(added)
    pairs = {"pairs": [{"study_id": assigned, "readers": [readers["rd1"], readers["rd2"]]}]}
    _ok(http.post(f"{base}/assign", json=pairs, headers=admin))
    return Site(
        readers=readers,
        project_id=project_id,
        assigned=assigned,
        unassigned=unassigned,
        outside=outside,
        flag_id=_flag(db, assigned),
        masking_id=_masking_project(http, db, admin, readers["rd1"]),
        release=release,
    )


# --- reading the forms of a page ------------------------------------------------------------


@dataclass
class PostForm:
    action: str
    csrf_tokens: list[str]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[PostForm] = []
        self.current: PostForm | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and values.get("method", "").lower() == "post":
            self.current = PostForm(values.get("action", ""), [])
            self.forms.append(self.current)
        elif tag == "input" and self.current and values.get("name") == "csrf_token":
            self.current.csrf_tokens.append(values.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.current = None


def post_forms(html: str) -> list[PostForm]:
    """Every ``<form method="post">`` of a page with the CSRF tokens it carries."""
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


POST_FORM = re.compile(r"<form\b[^>]*\bmethod=\"post\"", re.IGNORECASE)
