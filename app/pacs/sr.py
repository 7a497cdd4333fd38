"""One read as a DICOM Comprehensive 3D SR: a TID 1500 Measurement Report (highdicom).

* Observer: a reader's read and an arbitration name a person observer by role ("R1", "R2",
  "Arbiter"); the final label names a device observer (MammoRead): a concordant final is the
  two reads merged by the software, and an arbitrated one is the arbiter's read, which has its
  own SR.
* Per breast, a TID 1501 group (finding site the breast, with laterality) with the breast
  BI-RADS assessment and the density as coded qualitative evaluations (and the probability of
  malignancy when the protocol asked for one).
* Per box, a TID 1410 group: the tracking identifier is the box id, the finding the box's first
  category (the others as further "Finding" evaluations), the finding site its breast, the
  finding BI-RADS a qualitative evaluation, and the box a closed POLYLINE image region on the
  referenced image.
* The evidence is the study's stored (pseudonymised) images: the SR joins their study, with
  their patient module (the woman's pseudonymous key and the shifted dates).
"""

from __future__ import annotations

import highdicom as hd
from pydicom.sr.codedict import codes

from app.pacs.reports import (
    ASSESSMENT_CATEGORY,
    BIRADS_CODES,
    BREAST_COMPOSITION,
    BREAST_SITES,
    CHARACTER_SET,
    DENSITY_CODES,
    FINDING,
    LATERALITY_CODES,
    MAMMOGRAPHY_PROCEDURE,
    MANUFACTURER,
    MODEL,
    PERCENT,
    PROBABILITY_OF_MALIGNANCY,
    SR_SERIES_DESCRIPTION,
    SR_SERIES_NUMBER,
    Evidence,
    ReadToWrite,
    category_code,
    coding_scheme_identification,
    drawn_boxes,
    named_uid,
    object_uid,
    series_uid,
    uses_private_codes,
)
from app.reading.rules.label import LATERALITIES, Box, BreastRead


def build_sr(read: ReadToWrite, evidence: Evidence, project_id: int) -> hd.sr.Comprehensive3DSR:
    report = hd.sr.MeasurementReport(
        observation_context=_observation_context(read),
        procedure_reported=MAMMOGRAPHY_PROCEDURE,
        imaging_measurements=[
            *_breast_groups(read, evidence),
            *_box_groups(read, evidence),
        ],
        referenced_images=evidence.ordered,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence.ordered,
        content=report,
        series_instance_uid=series_uid(evidence, project_id, "SR"),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=object_uid(evidence, "sr", project_id, read.key),
        instance_number=read.number,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=read.is_final,
        series_description=SR_SERIES_DESCRIPTION,
    )
    sr.ManufacturerModelName = MODEL
    sr.SpecificCharacterSet = CHARACTER_SET
    if uses_private_codes(read.label):
        sr.CodingSchemeIdentificationSequence = [coding_scheme_identification()]
    return sr


def _observation_context(read: ReadToWrite) -> hd.sr.ObservationContext:
    if read.is_final:
        device = hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=device_uid(),
                name=read.observer,
                manufacturer_name=MANUFACTURER,
                model_name=MODEL,
            ),
        )
        return hd.sr.ObservationContext(observer_device_context=device)
    person = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=read.person_name
        ),
    )
    return hd.sr.ObservationContext(observer_person_context=person)


def device_uid() -> str:
    """MammoRead as a device observer: one UID for every installation (it names software)."""
    return named_uid("MammoRead device observer")


def _breast_groups(
    read: ReadToWrite, evidence: Evidence
) -> list[hd.sr.MeasurementsAndQualitativeEvaluations]:
    groups = []
    for laterality in LATERALITIES:
        breast = read.label.breast(laterality)
        evaluations = _breast_evaluations(breast)
        measurements = _breast_measurements(breast)
        if not evaluations and not measurements:
            continue  # a breast not imaged, or not assessed
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=object_uid(evidence, "breast", read.key, laterality),
                    identifier=f"{'Right' if laterality == 'R' else 'Left'} breast",
                ),
                finding_sites=[_site(laterality)],
                qualitative_evaluations=evaluations or None,
                measurements=measurements or None,
            )
        )
    return groups


def _breast_evaluations(breast: BreastRead) -> list[hd.sr.QualitativeEvaluation]:
    evaluations = []
    if breast.birads is not None:
        evaluations.append(
            hd.sr.QualitativeEvaluation(ASSESSMENT_CATEGORY, BIRADS_CODES[breast.birads])
        )
    if breast.density is not None:
        evaluations.append(
            hd.sr.QualitativeEvaluation(BREAST_COMPOSITION, DENSITY_CODES[breast.density])
        )
    return evaluations


def _breast_measurements(breast: BreastRead) -> list[hd.sr.Measurement]:
    if breast.probability is None:
        return []
    return [
        hd.sr.Measurement(
            name=PROBABILITY_OF_MALIGNANCY, value=float(breast.probability), unit=PERCENT
        )
    ]


def _site(laterality: str) -> hd.sr.FindingSite:
    return hd.sr.FindingSite(BREAST_SITES[laterality], laterality=LATERALITY_CODES[laterality])


def _box_groups(
    read: ReadToWrite, evidence: Evidence
) -> list[hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations]:
    groups = []
    for box, image, points in drawn_boxes(read.label, evidence):
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=points,
            source_image=hd.sr.SourceImageForRegion(
                referenced_sop_class_uid=str(image.SOPClassUID),
                referenced_sop_instance_uid=str(image.SOPInstanceUID),
            ),
        )
        laterality = evidence.laterality.get(box.image_id)
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=object_uid(evidence, "box", read.key, box.id), identifier=box.id
                ),
                referenced_region=region,
                finding_type=category_code(box.categories[0]) if box.categories else FINDING,
                finding_sites=[_site(laterality)] if laterality in BREAST_SITES else None,
                qualitative_evaluations=_box_evaluations(box) or None,
            )
        )
    return groups


def _box_evaluations(box: Box) -> list[hd.sr.QualitativeEvaluation]:
    evaluations = [
        hd.sr.QualitativeEvaluation(FINDING, category_code(name)) for name in box.categories[1:]
    ]
    if box.birads is not None:
        evaluations.append(
            hd.sr.QualitativeEvaluation(ASSESSMENT_CATEGORY, BIRADS_CODES[box.birads])
        )
    return evaluations
