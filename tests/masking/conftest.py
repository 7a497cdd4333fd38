"""Masking fixtures: imported synthetic exams, readers, a project created through the API."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.helpers import bearer
from tests.imaging.helpers import exam_files, upload


@dataclass
class Images:
    """Imported images: hex image id <-> database id, in import order."""

    ids: list[str]
    pk_of: dict[str, int]
    id_of: dict[int, str]


def import_exams(client, headers: dict[str, str], count: int, first_seed: int = 500) -> None:
    files = [f for seed in range(first_seed, first_seed + count) for f in exam_files(seed)]
    response = upload(client, files, headers)
    assert response.status_code == 200, response.text
    assert response.json()["imported"] == len(files), response.text


@pytest.fixture
def masking_images(client, db, admin) -> Images:
    from sqlalchemy import select

    from app.imaging.models import Image

    import_exams(client, bearer(client, "admin"), count=6)
    rows = db.execute(select(Image.id, Image.image_id).order_by(Image.id)).all()
    return Images(
        ids=[image_id for _, image_id in rows],
        pk_of={image_id: pk for pk, image_id in rows},
        id_of=dict(rows),
    )
