"""A project's reads as a ratings table (pure): one case per breast, a rating per reader and
session from the probability of malignancy or, without one, the ordinal BI-RADS (0, "recall",
between 3 and 4), and the truth of each case. A case that some reader did not rate (excluded,
not imaged, no truth) leaves the fully crossed table, with every reason listed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

LATERALITIES = ("R", "L")
# BI-RADS as an ordinal suspicion scale: 0 (incomplete, call back) sits between 3 and 4
ORDINAL_BIRADS: Mapping[int, float] = {1: 1, 2: 2, 3: 3, 0: 3.5, 4: 4, 5: 5, 6: 6}
RatingKind = Literal["probability", "ordinal_birads"]


@dataclass(frozen=True)
class ReadRecord:
    """One submitted reading: who, in which session, of which study; ``label`` is the read
    (None when the reader excluded the case, ``exclusion`` says why)."""

    reader: str
    session: str
    study_id: str
    label: Mapping[str, Any] | None
    exclusion: str | None = None


@dataclass(frozen=True)
class DroppedCase:
    case: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RatingsTable:
    rows: list[dict[str, Any]]
    rating: RatingKind
    dropped: list[DroppedCase] = field(default_factory=list)


def case_of(study_id: str, laterality: str) -> str:
    return f"{study_id}/{laterality}"


def rating_of(breast: Mapping[str, Any] | None, kind: RatingKind) -> float | None:
    """A breast's rating, or None when it has none (not imaged, not given)."""
    if not breast or breast.get("not_imaged"):
        return None
    if kind == "probability":
        value = breast.get("probability")
        return None if value is None else float(value)
    birads = breast.get("birads")
    return ORDINAL_BIRADS.get(birads) if isinstance(birads, int) else None


def ratings_table(
    reads: Iterable[ReadRecord], truths: Mapping[str, bool], kind: RatingKind
) -> RatingsTable:
    """The long rows (reader, treatment, case, truth, rating) of every case rated by every
    reader in every session; ``truths`` maps a case (``study/R``) to whether it is diseased."""
    reads = list(reads)
    pairs = sorted({(r.reader, r.session) for r in reads})
    ratings: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    reasons: dict[str, list[str]] = defaultdict(list)
    studies = sorted({r.study_id for r in reads})
    for read in reads:
        for lat in LATERALITIES:
            case = case_of(read.study_id, lat)
            if read.label is None:
                reasons[case].append(
                    f"excluded by {read.reader} in {read.session}: {read.exclusion or 'no reason'}"
                )
                continue
            value = rating_of(read.label.get("breasts", {}).get(lat), kind)
            if value is None:
                reasons[case].append(f"no rating from {read.reader} in {read.session}")
            else:
                ratings[case][(read.reader, read.session)] = value
    rows: list[dict[str, Any]] = []
    dropped: list[DroppedCase] = []
    for study_id in studies:
        for lat in LATERALITIES:
            case = case_of(study_id, lat)
            why = list(dict.fromkeys(reasons.get(case, [])))
            missing = [p for p in pairs if p not in ratings.get(case, {})]
            if missing and not why:
                why.append(f"not read by {', '.join(f'{r} in {s}' for r, s in missing)}")
            if case not in truths:
                why.append("no reference standard for this breast")
            if why:
                dropped.append(DroppedCase(case, tuple(why)))
                continue
            for reader, session in pairs:
                rows.append(
                    {
                        "reader": reader,
                        "treatment": session,
                        "case": case,
                        "truth": int(truths[case]),
                        "rating": ratings[case][(reader, session)],
                    }
                )
    return RatingsTable(rows, kind, dropped)


def consensus_truths(final_labels: Mapping[str, Mapping[str, Any]]) -> dict[str, bool]:
    """Truth from consensus labels (when an admin chooses it): a breast assessed BI-RADS 4, 5
    or 6 counts as diseased, 1-3 as not; BI-RADS 0 and breasts not imaged have no truth."""
    truths = {}
    for study_id, label in final_labels.items():
        for lat in LATERALITIES:
            breast = (label.get("breasts") or {}).get(lat) or {}
            birads = breast.get("birads")
            if isinstance(birads, int) and birads != 0:
                truths[case_of(study_id, lat)] = birads >= 4
    return truths


def sessions_in_order(reads: Sequence[ReadRecord]) -> list[str]:
    return list(dict.fromkeys(r.session for r in reads))
