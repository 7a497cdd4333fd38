"""The compact tiled pyramid: Zarr tiles (and the DICOM's own plain rows for level 0) served a
tile at a time; a region reads only the tiles it covers; images stored in the older .npy
layout keep working."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from pydicom.uid import JPEG2000Lossless
from sqlalchemy import select

from app.imaging import tiled
from app.imaging.models import Image
from app.imaging.pyramid import build_levels
from app.imaging.states import PyramidFormat
from app.imaging.storage import array_bytes, level_key
from tests.helpers import assert_error, bearer
from tests.imaging.helpers import exam_files, upload

SIZE = {"rows": 1300, "columns": 1100}  # three tiles by three at level 0, two levels


def tiles_of_level(client, headers, image_id: str, level: int, shape) -> np.ndarray:
    rows, cols = shape
    out = np.zeros(shape, dtype=np.uint16)
    for row in range(-(-rows // tiled.TILE)):
        for col in range(-(-cols // tiled.TILE)):
            url = f"/api/v1/images/{image_id}/tiles/{level}/{row}/{col}"
            response = client.get(url, headers=headers)
            assert response.status_code == 200, response.text
            height, width = (
                int(response.headers["x-tile-height"]),
                int(response.headers["x-tile-width"]),
            )
            values = np.frombuffer(response.content, dtype="<u2").reshape(height, width)
            out[
                row * tiled.TILE : row * tiled.TILE + height,
                col * tiled.TILE : col * tiled.TILE + width,
            ] = values
    return out


def raw_level(client, headers, image_id: str, level: int) -> np.ndarray:
    response = client.get(f"/api/v1/images/{image_id}/raw?level={level}", headers=headers)
    assert response.status_code == 200
    shape = int(response.headers["x-image-height"]), int(response.headers["x-image-width"])
    return np.frombuffer(response.content, dtype="<u2").reshape(shape)


@pytest.mark.parametrize("syntax", [None, JPEG2000Lossless], ids=["plain", "jpeg2000"])
def test_tiles_put_together_are_every_level_exactly(client, db, admin, syntax) -> None:
    headers = bearer(client, "admin")
    options = {**SIZE, **({"transfer_syntax": syntax} if syntax else {})}
    body = upload(client, exam_files(41, **options)[:1], headers).json()
    image_id = body["outcomes"][0]["image_id"]
    image = db.scalar(select(Image).where(Image.image_id == image_id))
    assert image.pyramid_format == PyramidFormat.ZARR
    # a plain DICOM keeps level 0 itself; a compressed one has it in the pyramid
    assert (image.pixel_offset is not None) == (syntax is None)
    for level in range(len(image.pyramid_widths)):
        whole = raw_level(client, headers, image_id, level)
        assert np.array_equal(tiles_of_level(client, headers, image_id, level, whole.shape), whole)
    assert_error(client.get(f"/api/v1/images/{image_id}/tiles/0/9/0", headers=headers), 422)
    assert_error(client.get(f"/api/v1/images/{image_id}/tiles/7/0/0", headers=headers), 422)


def test_a_region_reads_only_the_tiles_it_covers(tmp_path) -> None:
    level = (np.arange(1300 * 1100, dtype=np.uint32) % 4096).astype(np.uint16).reshape(1300, 1100)
    files = tiled.encode({0: level})
    root = tmp_path / "group.zarr"
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    assert set(files) == {"zarr.json", "0/zarr.json", "0/c/0/0"}  # one shard for the level
    logged = zarr.storage.LoggingStore(zarr.storage.LocalStore(tmp_path, read_only=True))
    array = tiled.open_level(logged, "group.zarr", 0)
    before = dict(logged.counter)
    region = array[600:700, 520:1000]  # inside one tile row, one tile column
    assert np.array_equal(region, level[600:700, 520:1000])
    reads = logged.counter["get"] - before.get("get", 0)
    assert reads == 2, reads  # the shard's index, then the one tile
    assert tiled.tiles_of(level.shape, slice(600, 700), slice(520, 1000)) == 1
    assert tiled.tiles_of(level.shape, slice(0, 1300), slice(0, 1100)) == 9


def test_images_in_the_older_layout_still_render_and_tile(client, db, app, admin) -> None:
    headers = bearer(client, "admin")
    body = upload(client, exam_files(42, **SIZE)[:1], headers).json()
    image_id = body["outcomes"][0]["image_id"]
    image = db.scalar(select(Image).where(Image.image_id == image_id))
    expected = raw_level(client, headers, image_id, 0)
    # as an image imported before 0013: one .npy file per level, level 0 included
    store = app.state.imaging.store
    for number, level in enumerate(build_levels(np.ascontiguousarray(expected))):
        store.put(level_key(image.study.study_id, image_id, number), array_bytes(level))
    image.pyramid_format, image.pixel_offset = PyramidFormat.NPY, None
    db.commit()
    app.state.pixels._cache.clear()
    tiles = tiles_of_level(client, headers, image_id, 0, expected.shape)
    assert np.array_equal(tiles, expected)
    render = client.get(f"/api/v1/images/{image_id}/render?width=256", headers=headers)
    assert render.status_code == 200
