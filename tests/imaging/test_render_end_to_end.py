"""Imported files render, through the API, as pydicom's own display functions say (within 1)."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from app.main import create_app
from tests.helpers import bearer, test_settings
from tests.imaging.helpers import pydicom_file, upload


@pytest.fixture
def any_modality_client(tmp_path, database_url, admin):
    del admin  # created through the default app; same database
    app = create_app(test_settings(tmp_path / "any", database_url, accepted_modalities="MG,CR,MR"))
    with TestClient(app) as client:
        yield client
    app.state.engine.dispose()


def reference(ds: pydicom.Dataset) -> np.ndarray:
    """pydicom's VOI output scaled to 0..255, inverted once for MONOCHROME1."""
    values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds, index=0)
    bits = int(ds.BitsStored)
    if "VOILUTSequence" in ds:
        top = float(np.max(ds.VOILUTSequence[0].LUTData))
        low, high = 0.0, top
    else:
        low, high = 0.0, float(2**bits - 1)
    scaled = np.clip((values - low) / (high - low) * 255.0, 0, 255)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        scaled = 255.0 - scaled
    return scaled


@pytest.mark.parametrize("name", ["RG1_UNCI.dcm", "RG1_J2KR.dcm", "RG3_J2KR.dcm"])
def test_full_resolution_render_matches_pydicom(any_modality_client, name: str) -> None:
    client = any_modality_client
    data = pydicom_file(name)
    headers = bearer(client, "admin")
    body = upload(client, [(name, data)], headers).json()
    assert body["imported"] == 1, body
    image_id = body["outcomes"][0]["image_id"]
    png = client.get(f"/api/v1/images/{image_id}/render?format=png", headers=headers)
    ours = np.asarray(PILImage.open(io.BytesIO(png.content)), dtype=np.int16)
    expected = reference(pydicom.dcmread(io.BytesIO(data)))
    assert ours.shape == expected.shape
    assert np.abs(ours - np.rint(expected)).max() <= 1
