"""Synthetic four-view mammography exams as real pydicom Datasets.

The images are drawn, not simulated: a breast outline touching the chest-wall edge against dark
air, a skin line, correlated fibroglandular texture (denser towards the chest wall), a nipple,
the pectoral muscle in MLO views and, on request, mass-like and calcification-like findings whose
positions are returned as ground truth. Everything is deterministic for a given seed and uses no
file or network I/O except :func:`write_exam`.

Orientation convention (DICOM Patient Orientation, row direction then column direction): the
chest wall of a RIGHT breast lies at the image's RIGHT edge, that of a LEFT breast at its LEFT
edge, the lateral side is at the top of CC views and the head at the top of MLO views::

    R-CC  P\\L     L-CC  A\\R     R-MLO  P\\FL     L-MLO  A\\FR

The pixels agree with these values (unless ``ExamOptions.flip_view`` deliberately breaks that).
Smooth anatomy is computed at a working resolution of about 832 columns from low-resolution
noise upsampled with Pillow's bicubic filter, then brought to full resolution once by a separable
cubic (Catmull-Rom) upsampling in numpy (converting a full-size Pillow float image back to numpy
alone would cost about 0.1 s); quantum noise and calcifications are added at full resolution.
One 4096x3328 image takes about 0.25 s on a 2-core machine.

Modules: :mod:`.options` (views, SOP classes, :class:`ExamOptions`, :class:`Finding`),
:mod:`.phantom` (the anatomy), :mod:`.lesions` (masses and calcifications), :mod:`.dataset`
(UIDs, header, identifying values, pixel encoding, :func:`write_exam`) and :mod:`.exam`
(:func:`synthetic_exam`); this package re-exports their public names.
"""

from app.imaging.synthetic.dataset import PHI_VALUES, write_exam
from app.imaging.synthetic.exam import synthetic_exam
from app.imaging.synthetic.options import (
    FOR_PRESENTATION_SOP_CLASS,
    FOR_PROCESSING_SOP_CLASS,
    PATIENT_ORIENTATION,
    SUPPORTED_TRANSFER_SYNTAXES,
    VIEWS,
    ExamOptions,
    Finding,
)

__all__ = [
    "FOR_PRESENTATION_SOP_CLASS",
    "FOR_PROCESSING_SOP_CLASS",
    "PATIENT_ORIENTATION",
    "PHI_VALUES",
    "SUPPORTED_TRANSFER_SYNTAXES",
    "VIEWS",
    "ExamOptions",
    "Finding",
    "synthetic_exam",
    "write_exam",
]
