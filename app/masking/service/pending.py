"""The pair a reader was served and has not answered yet, as stored on their row
(``MaskingReader.pending``, JSON). No database here: the shape and its JSON only."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app.masking import search
from app.masking.states import ComparisonKind, Phase, Side


@dataclass(frozen=True)
class PendingPair:
    """A search step or a probe: the pair, the rule it was drawn under, the comparison id the
    answer must name (``uid``), when it was shown, and for a probe the comparison it repeats.

    The JSON keeps the flat layout the reader rows have always held."""

    kind: ComparisonKind
    pair: search.Pair
    rule: str
    uid: str
    served_at: datetime
    probe_of: int | None = None

    def shown_again(self, now: datetime) -> PendingPair:
        """The same pair, its clock restarted."""
        return replace(self, served_at=now)

    def to_json(self) -> dict[str, Any]:
        pair = self.pair
        return {
            "kind": str(self.kind),
            "query": pair.query,
            "reference": pair.reference,
            "position": pair.position,
            "phase": pair.phase,
            "attempt": pair.attempt,
            "low": pair.low,
            "high": pair.high,
            "query_side": pair.query_side,
            "rule": self.rule,
            "probe_of": self.probe_of,
            "uid": self.uid,
            "served_at": self.served_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingPair:
        pair = search.Pair(
            query=data["query"],
            reference=data["reference"],
            position=data["position"],
            phase=Phase(data["phase"]),
            attempt=data["attempt"],
            low=data["low"],
            high=data["high"],
            query_side=Side(data["query_side"]),
        )
        return cls(
            kind=ComparisonKind(data["kind"]),
            pair=pair,
            rule=data["rule"],
            uid=data["uid"],
            served_at=datetime.fromisoformat(data["served_at"]),
            probe_of=data["probe_of"],
        )
