"""A masking project's display protocol: chosen at creation, recorded, applied to both images of
every pair (their display data and their first paints), and written into the CSAW-M export."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image as PilImage
from sqlalchemy import select

from app.imaging.display import DisplayProtocol
from app.imaging.models import Image
from tests.helpers import bearer
from tests.imaging.helpers import exam_files, upload
from tests.masking.test_masking_api import API, create, next_pair, people  # noqa: F401
from tests.masking.test_masking_export import exported


def mixed_pair(client, db) -> tuple[str, str, list[str]]:
    """Two exams, one whose headers ask for LINEAR and one for SIGMOID: their MLO images
    (query and the reference it meets first) and seeds of both kinds."""
    headers = bearer(client, "admin")
    for seed, function in ((701, "LINEAR"), (702, "SIGMOID")):
        response = upload(client, exam_files(seed, voi_function=function), headers)
        assert response.status_code == 200, response.text
    rows = db.execute(select(Image.image_id, Image.display, Image.view)).all()
    by_function: dict[str, list[str]] = {}
    for image_id, display, view in rows:
        if view == "MLO":
            by_function.setdefault(display["voi_function"], []).append(image_id)
    linear, sigmoid = by_function["LINEAR"], by_function["SIGMOID"]
    return linear[0], sigmoid[0], [linear[1], sigmoid[1]]


def rendered(client, headers, image: dict, protocol: str | None) -> np.ndarray:
    query = f"&protocol={protocol}" if protocol else ""
    response = client.get(
        f"/api/v1/images/{image['image_id']}/render?width=128&format=png{query}", headers=headers
    )
    assert response.status_code == 200, response.text
    return np.asarray(PilImage.open(io.BytesIO(response.content)))


def test_both_images_of_a_pair_go_through_the_same_function(client, db, people):  # noqa: F811
    linear, sigmoid, seeds = mixed_pair(client, db)
    project = create(
        client, people, image_ids=[linear, sigmoid], seed_list=seeds, probe_share=0, view="MLO"
    )
    assert project["display_protocol"] == DisplayProtocol.WINDOW_LINEAR  # the default
    reader = people.readers["rda"]
    pair = next_pair(client, project["id"], reader)
    assert pair["display_protocol"] == DisplayProtocol.WINDOW_LINEAR
    shown = [pair["images"]["query"], pair["images"]["reference"]]
    assert {image["display"]["voi_function"] for image in shown} == {"LINEAR"}
    assert all(image["display"]["voi_lut"] is None for image in shown)
    assert all(not image["has_voi_lut"] for image in shown)
    # the first paints under the pair's protocol: black air whatever the header asked for
    for image in shown:
        assert rendered(client, reader, image, pair["display_protocol"]).min() == 0
    # every image of the project, LINEAR and SIGMOID headers alike, under the same protocol;
    # read alone, the SIGMOID images' air is grey: the bias the protocol removes
    for image_id in (linear, sigmoid, *seeds):
        image = {"image_id": image_id}
        assert rendered(client, reader, image, pair["display_protocol"]).min() == 0
    assert rendered(client, reader, {"image_id": sigmoid}, None).min() > 0
    assert rendered(client, reader, {"image_id": linear}, None).min() == 0


def test_the_protocol_is_chosen_at_creation_and_exported(client, db, people):  # noqa: F811
    linear, sigmoid, seeds = mixed_pair(client, db)
    project = create(
        client,
        people,
        image_ids=[linear, sigmoid],
        seed_list=seeds,
        probe_share=0,
        display_protocol="uniform_range",
    )
    assert project["display_protocol"] == DisplayProtocol.UNIFORM_RANGE
    got = client.get(f"{API}/projects/{project['id']}", headers=people.admin).json()
    assert got["display_protocol"] == DisplayProtocol.UNIFORM_RANGE
    pair = next_pair(client, project["id"], people.readers["rda"])
    assert {pair["images"][r]["display"]["voi_function"] for r in ("query", "reference")} == {
        "LINEAR_EXACT"
    }
    zipped = exported(client, people.admin, project["id"], "csaw")
    meta = json.loads(zipped.read("masking_project.json"))
    assert meta["display_protocol"] == "uniform_range"
    assert meta["display_function"] == "LINEAR_EXACT"


def test_an_unknown_protocol_is_refused(client, db, people):  # noqa: F811
    linear, sigmoid, seeds = mixed_pair(client, db)
    response = client.post(
        f"{API}/projects",
        json={
            "name": "bad",
            "image_ids": [linear, sigmoid],
            "seed_list": seeds,
            "display_protocol": "rainbow",
        },
        headers=people.admin,
    )
    assert response.status_code == 422


def test_the_header_protocol_leaves_the_render_url_and_its_tag_unchanged(client, db, people):  # noqa: F811
    linear, _, _ = mixed_pair(client, db)
    headers = people.admin
    plain = client.get(f"/api/v1/images/{linear}/render?width=64&format=png", headers=headers)
    header = client.get(
        f"/api/v1/images/{linear}/render?width=64&format=png&protocol=header", headers=headers
    )
    common = client.get(
        f"/api/v1/images/{linear}/render?width=64&format=png&protocol=window_sigmoid",
        headers=headers,
    )
    assert plain.headers["etag"] == header.headers["etag"] != common.headers["etag"]
    assert plain.content == header.content
