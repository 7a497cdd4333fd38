"""Synthetic four-view mammography exams: headers, pixels, encodings, PHI and ground truth."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_voi_lut
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless

from app.imaging.synthetic import (
    FOR_PRESENTATION_SOP_CLASS,
    FOR_PROCESSING_SOP_CLASS,
    PHI_VALUES,
    VIEWS,
    ExamOptions,
    Finding,
    synthetic_exam,
    write_exam,
)

SMALL = ExamOptions(rows=256, columns=208)
STRIP = 25


@cache
def exam(
    seed: int, options: ExamOptions = SMALL
) -> tuple[tuple[Dataset, ...], tuple[Finding, ...]]:
    """Cached exam; tests must not modify the datasets."""
    datasets, findings = synthetic_exam(seed, options)
    return tuple(datasets), tuple(findings)


def label(ds: Dataset) -> str:
    return f"{ds.ImageLaterality}-{ds.ViewPosition}"


def by_label(datasets: tuple[Dataset, ...]) -> dict[str, Dataset]:
    return {label(ds): ds for ds in datasets}


def edge_spreads(ds: Dataset) -> tuple[float, float]:
    """Standard deviations of the 25-px strips at the chest-wall edge and the opposite edge."""
    pixels = ds.pixel_array.astype(np.float64)
    left, right = pixels[:, :STRIP].std(), pixels[:, -STRIP:].std()
    return (right, left) if ds.ImageLaterality == "R" else (left, right)


def all_strings(ds: Dataset) -> str:
    """Every element value of a dataset, nested sequences and private elements included."""
    return "\n".join(str(elem.value) for elem in ds.iterall() if elem.tag != 0x7FE00010)


# --- structure -------------------------------------------------------------------------------


def test_same_seed_gives_identical_exam() -> None:
    first, first_findings = synthetic_exam(5, ExamOptions(rows=256, columns=208, findings=2))
    second, second_findings = synthetic_exam(5, ExamOptions(rows=256, columns=208, findings=2))
    assert first_findings == second_findings
    for a, b in zip(first, second, strict=True):
        assert a.SOPInstanceUID == b.SOPInstanceUID
        assert a.SeriesInstanceUID == b.SeriesInstanceUID
        assert a.PixelData == b.PixelData


def test_different_seeds_give_different_exams() -> None:
    (a, *_), _ = exam(1)
    (b, *_), _ = exam(2)
    assert a.StudyInstanceUID != b.StudyInstanceUID
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert not np.array_equal(a.pixel_array, b.pixel_array)


def test_four_views_with_laterality_view_and_orientation_tags() -> None:
    datasets, _ = exam(0)
    assert [label(ds) for ds in datasets] == list(VIEWS)
    orientation = {"R-CC": "P\\L", "L-CC": "A\\R", "R-MLO": "P\\FL", "L-MLO": "A\\FR"}
    codes = {"CC": ("399162004", "cranio-caudal"), "MLO": ("399368009", "medio-lateral oblique")}
    for ds in datasets:
        assert ds.Laterality == ds.ImageLaterality == label(ds)[0]
        assert "\\".join(ds.PatientOrientation) == orientation[label(ds)]
        (code,) = ds.ViewCodeSequence
        assert (code.CodeValue, code.CodeMeaning) == codes[ds.ViewPosition]
        assert code.CodingSchemeDesignator == "SCT"


def test_one_study_one_series_per_image_unique_instances() -> None:
    datasets, _ = exam(0)
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 4
    assert len({ds.SOPInstanceUID for ds in datasets}) == 4
    for ds in datasets:
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.file_meta.ImplementationClassUID


def test_mammography_header() -> None:
    datasets, _ = exam(0)
    for ds in datasets:
        assert ds.SOPClassUID == FOR_PRESENTATION_SOP_CLASS
        assert ds.Modality == "MG"
        assert ds.PresentationIntentType == "FOR PRESENTATION"
        assert ds.BodyPartExamined == "BREAST"
        assert ds.PositionerType == "MAMMOGRAPHIC"
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 12, 11)
        assert (ds.PixelRepresentation, ds.SamplesPerPixel) == (0, 1)
        assert (ds.Rows, ds.Columns) == (256, 208)
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert ds.PresentationLUTShape == "IDENTITY"
        assert list(ds.ImagerPixelSpacing) == list(ds.PixelSpacing) == [0.1, 0.1]
        assert list(ds.WindowCenterWidthExplanation) == ["NORMAL", "HARDER", "SOFTER"]
        assert len(ds.WindowCenter) == len(ds.WindowWidth) == 3
        assert ds.VOILUTFunction == "LINEAR"
        assert ds.PatientSex == "F"
        assert len(ds.PatientAge) == 4
        assert ds.PatientAge.endswith("Y")
        assert (ds.Manufacturer, ds.ManufacturerModelName) == ("MammoRead Synthetic", "Phantom 1")


def test_for_processing_and_sigmoid() -> None:
    options = ExamOptions(
        rows=256, columns=208, presentation_intent="FOR PROCESSING", voi_function="SIGMOID"
    )
    datasets, _ = exam(0, options)
    for ds in datasets:
        assert ds.SOPClassUID == FOR_PROCESSING_SOP_CLASS
        assert ds.file_meta.MediaStorageSOPClassUID == FOR_PROCESSING_SOP_CLASS
        assert ds.PresentationIntentType == "FOR PROCESSING"
        assert ds.VOILUTFunction == "SIGMOID"


# --- pixels ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_breast_lies_against_the_chest_wall_edge(seed: int) -> None:
    datasets, _ = exam(seed)
    for ds in datasets:
        chest_wall, opposite = edge_spreads(ds)
        assert chest_wall > 4 * opposite, label(ds)


def test_background_is_dark_and_breast_brighter() -> None:
    datasets, _ = exam(0)
    top = 2**12 - 1
    for ds in datasets:
        pixels = ds.pixel_array
        far_edge = pixels[:, :STRIP] if ds.ImageLaterality == "R" else pixels[:, -STRIP:]
        assert far_edge.mean() < 0.1 * top
        assert pixels[96:160].max() > 0.35 * top


def test_pectoral_muscle_in_the_top_chest_wall_corner_of_mlo_only() -> None:
    views = by_label(exam(0)[0])
    for side in "RL":
        for view, expect_tissue in (("MLO", True), ("CC", False)):
            pixels = views[f"{side}-{view}"].pixel_array
            corner = pixels[:12, -12:] if side == "R" else pixels[:12, :12]
            assert bool(corner.mean() > 0.3 * 4095) is expect_tissue, f"{side}-{view}"


@pytest.mark.parametrize("bits", [10, 12, 16])
def test_pixel_values_within_bits_stored(bits: int) -> None:
    datasets, _ = exam(0, ExamOptions(rows=256, columns=208, bits_stored=bits, findings=3))
    for ds in datasets:
        pixels = ds.pixel_array
        assert pixels.dtype == np.uint16
        assert ds.BitsStored == bits
        assert ds.HighBit == bits - 1
        assert int(pixels.max()) <= 2**bits - 1
        assert int(pixels.max()) > 2 ** (bits - 1)


def test_monochrome1_stores_inverted_values() -> None:
    options = ExamOptions(rows=256, columns=208, photometric="MONOCHROME1")
    inverted, _ = exam(0, options)
    normal, _ = exam(0)
    for mono1, mono2 in zip(inverted, normal, strict=True):
        assert mono1.PhotometricInterpretation == "MONOCHROME1"
        assert mono1.PresentationLUTShape == "INVERSE"
        assert np.array_equal(mono1.pixel_array, 4095 - mono2.pixel_array.astype(np.int32))
        centres = zip(mono1.WindowCenter, mono2.WindowCenter, strict=True)
        assert all(abs(float(c1) - (4095 - float(c2))) <= 1 for c1, c2 in centres)


def test_voi_lut_sequence_is_applied_by_pydicom() -> None:
    (ds, *_), _ = exam(0, ExamOptions(rows=256, columns=208, voi_lut_sequence=True))
    (item,) = ds.VOILUTSequence
    assert list(item.LUTDescriptor) == [4096, 0, 12]
    shown = apply_voi_lut(ds.pixel_array, ds)
    ramp = apply_voi_lut(np.arange(4096, dtype=np.uint16), ds)
    assert np.all(np.diff(ramp.astype(np.int64)) >= 0)
    assert int(shown.max()) <= 4095


@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless]
)
def test_transfer_syntaxes_round_trip_losslessly(syntax: str, tmp_path: Path) -> None:
    options = ExamOptions(rows=256, columns=208, findings=2, transfer_syntax=syntax)
    datasets, _ = synthetic_exam(3, options)
    reference, _ = exam(3, ExamOptions(rows=256, columns=208, findings=2))
    paths = write_exam(datasets, tmp_path)
    assert [p.name for p in paths] == [f"{ds.SOPInstanceUID}.dcm" for ds in datasets]
    for path, expected in zip(paths, reference, strict=True):
        back = pydicom.dcmread(path)
        assert back.file_meta.TransferSyntaxUID == syntax
        assert back.SOPInstanceUID == expected.SOPInstanceUID
        assert np.array_equal(back.pixel_array, expected.pixel_array)


def test_full_size_exam_smoke() -> None:
    datasets, _ = synthetic_exam(11, ExamOptions(findings=1))
    for ds in datasets:
        pixels = ds.pixel_array
        assert pixels.shape == (4096, 3328)
        assert int(pixels.max()) <= 4095
        chest_wall, opposite = edge_spreads(ds)
        assert chest_wall > 4 * opposite


# --- findings --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_random_findings_lie_inside_the_breast(seed: int) -> None:
    datasets, findings = exam(seed, ExamOptions(rows=256, columns=208, findings=3))
    views = by_label(datasets)
    assert len(findings) == 6  # each lesion is drawn on both views of its breast
    for finding in findings:
        assert finding.kind in ("mass", "calcification")
        pixels = views[f"{finding.laterality}-{finding.view}"].pixel_array
        row, column = round(finding.y), round(finding.x)
        assert 0 < finding.radius < 30
        assert pixels[row - 2 : row + 3, column - 2 : column + 3].min() > 0.2 * 4095


def test_placed_finding_is_drawn_where_asked() -> None:
    mass = Finding(kind="mass", view="CC", laterality="L", x=70.0, y=128.0, radius=10.0)
    specks = Finding(kind="calcification", view="MLO", laterality="R", x=150.0, y=150.0, radius=8)
    options = ExamOptions(rows=256, columns=208, placed_findings=(mass, specks))
    datasets, findings = exam(4, options)
    assert set(findings) == {mass, specks}
    plain = by_label(exam(4)[0])
    for finding in (mass, specks):
        name = f"{finding.laterality}-{finding.view}"
        window = np.s_[118:139, 60:81] if finding is mass else np.s_[140:161, 140:161]
        with_finding = by_label(datasets)[name].pixel_array[window].astype(np.int64)
        without = plain[name].pixel_array[window].astype(np.int64)
        assert with_finding.sum() > without.sum() + 100 * 21


# --- PHI -------------------------------------------------------------------------------------


def test_phi_is_present_when_asked(tmp_path: Path) -> None:
    datasets, _ = exam(0, ExamOptions(rows=256, columns=208, with_phi=True))
    for ds in datasets:
        text = all_strings(ds)
        assert all(value in text for value in PHI_VALUES)
        assert ds.PatientName == "DOE^JANE"
        assert "DOE^JANE" in all_strings(ds.RequestAttributesSequence[0])
        assert ds.private_block(0x0011, "MAMMOREAD SYNTHETIC")[0x01].value == "DOE^JANE"
        assert ds.OtherPatientIDsSequence[0].PatientID
    raw = write_exam(list(datasets[:1]), tmp_path)[0].read_bytes()
    assert all(value.encode() in raw for value in PHI_VALUES)


def test_no_phi_by_default(tmp_path: Path) -> None:
    datasets, _ = exam(0)
    for ds in datasets:
        text = all_strings(ds)
        assert not [value for value in PHI_VALUES if value in text]
        assert "PatientAddress" not in ds
        assert not [tag for tag in ds if tag.is_private]
    for path in write_exam(list(datasets), tmp_path):
        raw = path.read_bytes()
        assert not [value for value in PHI_VALUES if value.encode() in raw]


# --- QC variants -----------------------------------------------------------------------------


def test_flip_view_breaks_pixel_laterality_only() -> None:
    options = ExamOptions(rows=256, columns=208, flip_view="L-CC", findings=2)
    flipped = by_label(exam(0, options)[0])["L-CC"]
    assert flipped.ImageLaterality == "L"
    assert "\\".join(flipped.PatientOrientation) == "A\\R"
    chest_wall, opposite = edge_spreads(flipped)
    assert chest_wall < opposite
    normal = exam(0, ExamOptions(rows=256, columns=208, findings=2))[1]
    mirrored = exam(0, options)[1]
    for before, after in zip(normal, mirrored, strict=True):
        if (after.laterality, after.view) == ("L", "CC"):
            assert after.x == pytest.approx(208 - before.x, abs=0.02)
        else:
            assert after == before


def test_invert_view_stores_inverted_intensities_with_unchanged_header() -> None:
    inverted = by_label(exam(0, ExamOptions(rows=256, columns=208, invert_view="R-MLO"))[0])
    normal = by_label(exam(0)[0])
    ds = inverted["R-MLO"]
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    expected = 4095 - normal["R-MLO"].pixel_array.astype(np.int32)
    assert np.array_equal(ds.pixel_array, expected)
    assert np.array_equal(inverted["L-MLO"].pixel_array, normal["L-MLO"].pixel_array)


def test_omit_and_duplicate_views() -> None:
    options = ExamOptions(rows=256, columns=208, omit_view="L-MLO", duplicate_view="L-CC")
    datasets, _ = exam(0, options)
    assert [label(ds) for ds in datasets] == ["R-CC", "L-CC", "L-CC", "R-MLO"]
    first, second = datasets[1], datasets[2]
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert first.SeriesInstanceUID != second.SeriesInstanceUID
    assert np.array_equal(first.pixel_array, second.pixel_array)
    assert len({ds.SeriesNumber for ds in datasets}) == 4
    assert datasets[0].SOPInstanceUID == exam(0)[0][0].SOPInstanceUID


@pytest.mark.parametrize(
    "bad",
    [
        {"photometric": "RGB"},
        {"bits_stored": 17},
        {"transfer_syntax": "1.2.840.10008.1.2.4.50"},
        {"voi_function": "LOG"},
        {"omit_view": "X-CC"},
        {"density": "E"},
    ],
)
def test_invalid_options_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        ExamOptions(**bad)  # type: ignore[arg-type]
