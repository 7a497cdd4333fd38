"""One read as a Grayscale Softcopy Presentation State (highdicom) that draws its boxes.

The presentation state references every image of the study (so a viewer applies it to the
whole exam), has one graphic layer named after the read ("R1", "R2", "Arbiter", "Final"), and
per box a closed POLYLINE in PIXEL units with a text label beside it ("Mass BI-RADS 4"). Each
image keeps the display its stored file asks for: its first VOI window (the PACS shows what the
reader saw by default), and for MONOCHROME1 images an INVERSE presentation LUT.
"""

from __future__ import annotations

from collections import defaultdict

import highdicom as hd
from pydicom import Dataset

from app.pacs.reports import (
    CHARACTER_SET,
    MANUFACTURER,
    MODEL,
    PR_SERIES_DESCRIPTION,
    PR_SERIES_NUMBER,
    Evidence,
    ReadToWrite,
    box_text,
    drawn_boxes,
    object_uid,
    series_uid,
)
from app.reading.rules.label import Box

SOFTWARE_VERSION = "1"
LAYER_COLOURS = {  # CIELab colours of the layers: readers blue and orange, final/arbiter green
    "reader1": hd.color.CIELabColor(60.0, 10.0, -60.0),
    "reader2": hd.color.CIELabColor(70.0, 30.0, 70.0),
    "arbiter": hd.color.CIELabColor(80.0, -70.0, 60.0),
    "final": hd.color.CIELabColor(80.0, -70.0, 60.0),
}
MAX_LABEL = 64  # Content Label: CS, 16 characters, upper case


def build_gsps(
    read: ReadToWrite, evidence: Evidence, project_id: int
) -> hd.pr.GrayscaleSoftcopyPresentationState:
    layer = hd.pr.GraphicLayer(
        layer_name=_content_label(read),
        order=1,
        description=f"MammoRead boxes: {read.observer}",
        display_color=LAYER_COLOURS.get(read.role.value),
    )
    images = evidence.ordered
    gsps = hd.pr.GrayscaleSoftcopyPresentationState(
        referenced_images=images,
        series_instance_uid=series_uid(evidence, project_id, "PR"),
        series_number=PR_SERIES_NUMBER,
        sop_instance_uid=object_uid(evidence, "gsps", project_id, read.key),
        instance_number=read.number,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL,
        software_versions=SOFTWARE_VERSION,
        device_serial_number="0",
        content_label=_content_label(read),
        content_description=f"Boxes of {read.observer}"[:MAX_LABEL],
        graphic_annotations=_annotations(read, evidence, layer) or None,
        graphic_layers=[layer],
        content_creator_name=read.person_name,
        voi_lut_transformations=_windows(images) or None,
        presentation_lut_transformation=_presentation_lut(images),
        series_description=PR_SERIES_DESCRIPTION,
    )
    gsps.SpecificCharacterSet = CHARACTER_SET
    # General Series: the laterality of a paired body part (empty when the images show both)
    lateralities = {str(image.get("ImageLaterality", "")) for image in images}
    gsps.Laterality = lateralities.pop() if len(lateralities) == 1 else ""
    return gsps


def _content_label(read: ReadToWrite) -> str:
    """A code string (CS): "FINAL", "R1", "R2", "ARBITER", "ARBITER_2"."""
    if read.is_final:
        return "FINAL"
    text = "".join(c if c.isascii() and c.isalnum() else "_" for c in read.observer.upper())
    return text[:16] or "MAMMOREAD"


def _annotations(
    read: ReadToWrite, evidence: Evidence, layer: hd.pr.GraphicLayer
) -> list[hd.pr.GraphicAnnotation]:
    by_image: dict[str, list[tuple[Box, object]]] = defaultdict(list)
    images: dict[str, Dataset] = {}
    for box, image, points in drawn_boxes(read.label, evidence):
        by_image[box.image_id].append((box, points))
        images[box.image_id] = image
    annotations = []
    for image_id, drawn in by_image.items():
        graphics, texts = [], []
        for box, points in drawn:
            uid = object_uid(evidence, "gsps-box", read.key, box.id)
            graphics.append(
                hd.pr.GraphicObject(
                    graphic_type=hd.pr.GraphicTypeValues.POLYLINE,
                    graphic_data=points,
                    units=hd.pr.AnnotationUnitsValues.PIXEL,
                    tracking_id=box.id,
                    tracking_uid=uid,
                )
            )
            texts.append(
                hd.pr.TextObject(
                    text_value=box_text(box),
                    units=hd.pr.AnnotationUnitsValues.PIXEL,
                    anchor_point=(float(points[0][0]), float(points[0][1])),
                    anchor_point_visible=True,
                )
            )
        annotations.append(
            hd.pr.GraphicAnnotation(
                referenced_images=[images[image_id]],
                graphic_layer=layer,
                graphic_objects=graphics,
                text_objects=texts,
            )
        )
    return annotations


def _windows(images: list[Dataset]) -> list[hd.pr.SoftcopyVOILUTTransformation]:
    """Each image's first stored window (the one a viewer shows by default)."""
    windows = []
    for image in images:
        center, width = image.get("WindowCenter"), image.get("WindowWidth")
        if center is None or width is None:
            continue
        first_center = float(center[0] if _multiple(center) else center)
        first_width = float(width[0] if _multiple(width) else width)
        windows.append(
            hd.pr.SoftcopyVOILUTTransformation(
                window_center=first_center,
                window_width=first_width,
                voi_lut_function=image.get("VOILUTFunction") or None,
                referenced_images=hd.ReferencedImageSequence(referenced_images=[image]),
            )
        )
    if len(windows) != len(images):
        return []  # highdicom then takes what the images carry (or none)
    return windows


def _multiple(value: object) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"


def _presentation_lut(images: list[Dataset]) -> hd.PresentationLUTTransformation:
    inverse = any(image.get("PhotometricInterpretation") == "MONOCHROME1" for image in images)
    shape = (
        hd.PresentationLUTShapeValues.INVERSE if inverse else hd.PresentationLUTShapeValues.IDENTITY
    )
    return hd.PresentationLUTTransformation(presentation_lut_shape=shape)
