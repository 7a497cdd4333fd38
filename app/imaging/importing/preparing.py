"""One file prepared: decoded once, its display pyramid built, checked (the per-image QC
findings), pseudonymised and encoded, all before anything is written. A file that cannot be
prepared raises ``Rejected`` with the reason to show for it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian

from app.imaging import qc
from app.imaging.decoding import DecodeRefused, decode_capped
from app.imaging.dicom import FOR_PROCESSING, ImageMeta, read_meta
from app.imaging.display import DisplayParams, WindowChoice, apply_lut, build_lut, to_storage
from app.imaging.importing.sources import Rejected
from app.imaging.kit import ImagingKit
from app.imaging.longitudinal import Woman
from app.imaging.plain_pixels import plain_pixel_offset
from app.imaging.pseudonymise import (
    Identifiers,
    NotPseudonymisable,
    black_out_corners,
    identifiers,
    pseudonymise,
    screened_meta,
    woman_of,
)
from app.imaging.pyramid import build_levels
from app.imaging.states import QcKind


@dataclass
class Prepared:
    """Everything computed from one file before anything is written."""

    meta: ImageMeta
    study_id: str
    series_id: str
    image_id: str
    file_bytes: bytes
    display: DisplayParams
    levels: list[np.ndarray]
    findings: list[qc.Finding]
    chest_wall_side: str | None
    pseudonym_scheme: str
    patient_key: str | None = None
    study_date: date | None = None
    # where file_bytes keeps level 0 as plain rows (app.imaging.plain_pixels); None: it does not
    pixel_offset: int | None = None


def prepare(dataset: pydicom.Dataset, kit: ImagingKit) -> Prepared:
    """Decode once, build the display pyramid, run the checks, pseudonymise (after refusal())."""
    meta = screened_meta(read_meta(dataset), dataset, kit.keep_device_names)
    ids = identifiers(dataset, kit.pseudonyms)
    pixels = _decoded(dataset, meta)
    signed = int(dataset.get("PixelRepresentation", 0)) == 1
    if kit.blackout_fraction > 0:
        pixels = black_out_corners(pixels, kit.blackout_fraction, int(pixels.min()))
    storage = to_storage(pixels, signed)
    levels = build_levels(storage)
    woman = woman_of(dataset, kit.longitudinal)
    clean = _pseudonymised(dataset, ids, kit, woman)
    display = DisplayParams.from_dataset(clean, value_range=_value_range(dataset, storage))
    findings, side = _image_findings(meta, display, levels[-1], kit.blackout_fraction > 0)
    if kit.blackout_fraction > 0:
        clean.set_pixel_data(pixels, meta.photometric, meta.bits_stored)
        clean.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    file_bytes = _encoded(clean)
    return Prepared(
        meta,
        ids.study_id,
        ids.series_id,
        ids.image_id,
        file_bytes,
        display,
        levels,
        findings,
        side,
        pseudonym_scheme=ids.scheme,
        patient_key=woman.patient_key if woman else None,
        study_date=woman.study_date if woman else None,
        pixel_offset=plain_pixel_offset(file_bytes, storage),
    )


def _pseudonymised(
    dataset: pydicom.Dataset, ids: Identifiers, kit: ImagingKit, woman: Woman | None
) -> pydicom.Dataset:
    try:
        return pseudonymise(
            dataset,
            ids,
            kit.keep,
            keep_device_names=kit.keep_device_names,
            blackout=kit.blackout_fraction > 0,
            woman=woman,
        )
    except NotPseudonymisable as error:
        raise Rejected(f"The file cannot be pseudonymised: {error}") from None


def _decoded(dataset: pydicom.Dataset, meta: ImageMeta) -> np.ndarray:
    """Decoded after refusal() checked the codestream's own size; compressed data is decoded
    in a worker process with a memory and time limit (decoding.py)."""
    try:
        pixels = decode_capped(dataset)
    except DecodeRefused as error:
        raise Rejected(str(error)) from None
    except Exception:  # decoders raise many kinds on damaged data
        raise Rejected("The pixel data could not be decoded (damaged or truncated).") from None
    if pixels.shape != (meta.rows, meta.columns):
        raise Rejected(f"The pixel data has shape {pixels.shape}, not {meta.rows}x{meta.columns}.")
    return pixels


def _value_range(dataset: pydicom.Dataset, storage: np.ndarray) -> tuple[float, float]:
    slope = float(dataset.get("RescaleSlope", 1) or 1)
    intercept = float(dataset.get("RescaleIntercept", 0) or 0)
    offset = 32768 if int(dataset.get("PixelRepresentation", 0)) == 1 else 0
    low, high = (float(v) - offset for v in (storage.min(), storage.max()))
    return tuple(sorted((low * slope + intercept, high * slope + intercept)))  # type: ignore[return-value]


def _image_findings(
    meta: ImageMeta, display: DisplayParams, small: np.ndarray, blackout: bool
) -> tuple[list[qc.Finding], str | None]:
    shown = apply_lut(small, build_lut(display, WindowChoice()))
    side = qc.chest_wall_side(shown)
    findings = [
        qc.laterality_finding(meta.laterality, side),
        qc.inversion_finding(shown, side),
    ]
    if meta.laterality is None or meta.view is None:
        findings.append(qc.Finding(QcKind.UNKNOWN_VIEW, "Laterality or view position is missing."))
    if (meta.presentation_intent or "").upper() == FOR_PROCESSING:
        findings.append(qc.Finding(QcKind.FOR_PROCESSING, "Raw detector data, not for reading."))
    if meta.burned_in_annotation and not blackout:
        findings.append(
            qc.Finding(
                QcKind.BURNED_IN_TEXT,
                "The file says text is burned into the pixels (it may identify the patient); "
                "check the image or import with corner blackout on.",
            )
        )
    return [f for f in findings if f is not None], side


def _encoded(dataset: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
