"""Which studies may enter a reading project: the four standard views and no open QC flag.

A study that is not complete enters only with an explicit override (a reason, recorded), and
a study with a breast that has no image at all only in a project whose rules allow a reader to
answer that breast "not imaged" (``ProjectRules.breast_not_imaged``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.imaging.qc import STANDARD_VIEWS
from app.reading.rules.label import BREAST_NAMES, LATERALITIES

MAX_OVERRIDE_LENGTH = 2000


@dataclass(frozen=True)
class AdmissionCheck:
    """What keeps one study from being complete; empty tuples for a complete study."""

    study_id: str
    missing_views: tuple[str, ...] = ()
    repeated_views: tuple[str, ...] = ()
    open_flags: tuple[str, ...] = ()  # each open QC flag in words
    breasts_without_images: tuple[str, ...] = ()  # 'R' and/or 'L'

    @property
    def complete(self) -> bool:
        return not (self.missing_views or self.repeated_views or self.open_flags)

    def reasons(self) -> list[str]:
        """Why the study is not complete, one phrase per problem."""
        found = []
        if self.missing_views:
            found.append(f"missing {', '.join(self.missing_views)}")
        if self.repeated_views:
            found.append(f"{', '.join(self.repeated_views)} more than once")
        found += [f"open QC flag: {flag}" for flag in self.open_flags]
        return found


@dataclass(frozen=True)
class Refusal:
    """A study that may not be added, and why. ``blocker``: what keeps even an override from
    admitting it (None: an override with a reason would)."""

    study_id: str
    reasons: tuple[str, ...]
    blocker: str | None = None

    @property
    def override_allowed(self) -> bool:
        return self.blocker is None

    @property
    def message(self) -> str:
        """A sentence a person can act on."""
        if self.blocker:
            return f"{self.study_id}: {self.blocker} ({'; '.join(self.reasons)})."
        return (
            f"{self.study_id}: not complete ({'; '.join(self.reasons)}); add it only with an "
            "override and its reason."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "field": "study_ids",
            "study_id": self.study_id,
            "message": self.message,
            "reasons": list(self.reasons),
            "override_allowed": self.override_allowed,
            "blocker": self.blocker,
        }


def check_study(
    study_id: str,
    images: Iterable[tuple[str | None, str | None]],
    open_flags: Iterable[str] = (),
) -> AdmissionCheck:
    """The completeness of a study from its images' (laterality, view) and its open QC flags."""
    pairs = list(images)
    counts = Counter(f"{lat}-{view}" for lat, view in pairs if lat and view)
    imaged = {lat for lat, _ in pairs}
    return AdmissionCheck(
        study_id=study_id,
        missing_views=tuple(name for name in STANDARD_VIEWS if not counts[name]),
        repeated_views=tuple(name for name in STANDARD_VIEWS if counts[name] > 1),
        open_flags=tuple(open_flags),
        breasts_without_images=tuple(lat for lat in LATERALITIES if lat not in imaged),
    )


def refusal(check: AdmissionCheck, *, override: bool, breast_not_imaged: bool) -> Refusal | None:
    """None when the study may be added; else why not.

    A complete study is always admitted. One that is not complete needs the override; one with
    a breast without any image needs, besides, a project that allows "breast not imaged"; a
    study with no image at all is never admitted.
    """
    if check.complete:
        return None
    reasons = tuple(check.reasons())
    missing = check.breasts_without_images
    if len(missing) == len(LATERALITIES):
        return Refusal(check.study_id, reasons, "it has no image at all and cannot be read")
    if missing and not breast_not_imaged:
        breast = BREAST_NAMES[missing[0]].lower()
        blocker = (
            f"the {breast} has no image; only a project whose rules allow 'breast not imaged' "
            "can take it (with an override)"
        )
        return Refusal(check.study_id, reasons, blocker)
    if override:
        return None
    return Refusal(check.study_id, reasons)


def checked_override(reason: str | None) -> str | None:
    """The override's reason, stripped (None: no override). Raises ValueError when too long."""
    if reason is None or not reason.strip():
        return None
    reason = reason.strip()
    if len(reason) > MAX_OVERRIDE_LENGTH:
        raise ValueError(f"An override reason has at most {MAX_OVERRIDE_LENGTH} characters.")
    return reason
