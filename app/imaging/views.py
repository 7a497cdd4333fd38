"""Imaging's rows as the API and the pages show them: an image for the viewer, its QC flags.

Not a route module, so other domains' routes (reading, masking) may use these too."""

from __future__ import annotations

from app.imaging.display import DisplayParams
from app.imaging.models import Image, QcFlag
from app.imaging.schemas import ImageOut, QcFlagOut, ReaderFlagOut, WindowOut


def flag_out(flag: QcFlag) -> QcFlagOut:
    out = QcFlagOut.model_validate(flag)
    out.image_id = flag.image.image_id if flag.image else None
    return out


def reader_flag_out(flag: QcFlag) -> ReaderFlagOut:
    """What reading needs of a flag: its kind and text (nothing of its clearing)."""
    image_id = flag.image.image_id if flag.image else None
    return ReaderFlagOut(kind=flag.kind, detail=flag.detail, image_id=image_id)


def image_out(image: Image, flags: list[QcFlag], *, reader: bool = False) -> ImageOut:
    """The image for the viewer; ``reader``: its open flags in the reader's shape only."""
    params = DisplayParams.from_json(image.display)
    mine = [flag for flag in flags if flag.image_pk in (None, image.id)]
    return ImageOut(
        image_id=image.image_id,
        series_id=image.series_id,
        study_id=image.study.study_id,
        laterality=image.laterality,
        view=image.view,
        rows=image.rows,
        columns=image.columns,
        bits_stored=image.bits_stored,
        photometric=image.photometric,
        presentation_intent=image.presentation_intent,
        modality=image.modality,
        manufacturer=image.manufacturer,
        model=image.model,
        pixel_spacing=image.pixel_spacing,
        transfer_syntax=image.transfer_syntax,
        chest_wall_side=image.chest_wall_side,
        presets=[
            WindowOut(index=i, center=w.center, width=w.width, explanation=w.explanation)
            for i, w in enumerate(params.windows)
        ],
        voi_function=params.voi_function,
        has_voi_lut=params.voi_lut is not None,
        display=image.display,
        pyramid_widths=image.pyramid_widths,
        flags=[reader_flag_out(f) for f in mine if f.cleared_at is None]
        if reader
        else [flag_out(f) for f in mine],
    )
