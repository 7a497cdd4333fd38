"""The double-reading rules as pure functions: the label a reader submits, its validation,
the concordance of two blinded reads, their merge, and the reader's active time.

No I/O here: the server parses what a reader sends, validates it, compares two reads and
stores the results elsewhere. One module per topic:

- :mod:`.label`: the label model and its parser (structure only);
- :mod:`.vocabulary`: the finding categories (VinDr-Mammo's by default) and their text form;
- :mod:`.project`: how strict a project is, and BI-RADS screening groups;
- :mod:`.validation`: every rule a read breaks;
- :mod:`.concordance`: IoU, box pairing, the comparison of two reads and their merge;
- :mod:`.active_time`: a reader's active time;
- :mod:`.admission`: which studies may enter a project (complete, or with an override).

The names below are the package's public ones: import them from ``app.reading.rules``.
"""

from app.reading.rules.active_time import active_seconds, add_activity
from app.reading.rules.admission import (
    MAX_OVERRIDE_LENGTH,
    AdmissionCheck,
    Refusal,
    check_study,
    checked_override,
    refusal,
)
from app.reading.rules.concordance import (
    Comparison,
    Discordance,
    DiscordanceKind,
    compare,
    iou,
    merge,
    pair_boxes,
)
from app.reading.rules.label import (
    ANY_BREAST_BIRADS,
    ANY_FINDING_BIRADS,
    BIRADS_MEANINGS,
    BOX_ID_PATTERN,
    BREAST_BIRADS,
    BREAST_NAMES,
    COORDINATE_LIMIT,
    DENSITIES,
    DENSITY_MEANINGS,
    FINDING_BIRADS,
    LATERALITIES,
    MAX_BOXES,
    MAX_CATEGORIES_PER_BOX,
    MAX_CATEGORY_LENGTH,
    MAX_IMAGE_ID_LENGTH,
    MAX_NOTE_LENGTH,
    PROBABILITY_RANGE,
    Box,
    BreastRead,
    Label,
    LabelError,
    empty_label,
    parse_label,
)
from app.reading.rules.project import (
    ASSESSMENT_SCALES,
    DEFAULT_RULES,
    FINDING_RANGES,
    SCREENING_GROUPS,
    BiradsMatch,
    ProjectRules,
    Severity,
    screening_group,
)
from app.reading.rules.validation import Violation, blocking, validate
from app.reading.rules.vocabulary import (
    DEFAULT_VOCABULARY,
    NO_FINDING,
    VINDR_ASSOCIATED,
    VINDR_GRADED,
    Category,
    Vocabulary,
    vocabulary_from_text,
    vocabulary_to_text,
)

__all__ = [
    "ANY_BREAST_BIRADS",
    "ANY_FINDING_BIRADS",
    "ASSESSMENT_SCALES",
    "BIRADS_MEANINGS",
    "BOX_ID_PATTERN",
    "BREAST_BIRADS",
    "BREAST_NAMES",
    "COORDINATE_LIMIT",
    "DEFAULT_RULES",
    "DEFAULT_VOCABULARY",
    "DENSITIES",
    "DENSITY_MEANINGS",
    "FINDING_BIRADS",
    "FINDING_RANGES",
    "LATERALITIES",
    "MAX_BOXES",
    "MAX_CATEGORIES_PER_BOX",
    "MAX_CATEGORY_LENGTH",
    "MAX_IMAGE_ID_LENGTH",
    "MAX_NOTE_LENGTH",
    "MAX_OVERRIDE_LENGTH",
    "NO_FINDING",
    "PROBABILITY_RANGE",
    "SCREENING_GROUPS",
    "VINDR_ASSOCIATED",
    "VINDR_GRADED",
    "AdmissionCheck",
    "BiradsMatch",
    "Box",
    "BreastRead",
    "Category",
    "Comparison",
    "Discordance",
    "DiscordanceKind",
    "Label",
    "LabelError",
    "ProjectRules",
    "Refusal",
    "Severity",
    "Violation",
    "Vocabulary",
    "active_seconds",
    "add_activity",
    "blocking",
    "check_study",
    "checked_override",
    "compare",
    "empty_label",
    "iou",
    "merge",
    "pair_boxes",
    "parse_label",
    "refusal",
    "screening_group",
    "validate",
    "vocabulary_from_text",
    "vocabulary_to_text",
]
