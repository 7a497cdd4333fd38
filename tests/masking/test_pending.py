"""The pending pair as stored on the reader's row: the JSON stays exactly what it was when it
was a hand-built dict (same keys, same order, same values), through serving, probes, a reload
and an undo."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.masking.models import ComparisonKind, MaskingComparison, MaskingReader
from app.masking.search import Pair
from app.masking.service import PendingPair
from tests.helpers import bearer
from tests.masking.conftest import Images

API = "/api/v1/masking"
# The keys the stored pair has always had, in the order they were written.
STORED_KEYS = [
    "kind",
    "query",
    "reference",
    "position",
    "phase",
    "attempt",
    "low",
    "high",
    "query_side",
    "rule",
    "probe_of",
    "uid",
    "served_at",
]

# What the code before the dataclass stored for a search step and for a probe (a 13-key dict
# built by hand), as it reads back from the database.
OLD_SEARCH = {
    "kind": "search",
    "query": 17,
    "reference": 4,
    "position": 2,
    "phase": "ternary",
    "attempt": 1,
    "low": 0,
    "high": 6,
    "query_side": "left",
    "rule": "ternary_binary",
    "probe_of": None,
    "uid": "0f3c9a61d2b84e7f9a0b1c2d3e4f5a6b",
    "served_at": "2025-03-04T09:10:11.123456+00:00",
}
OLD_PROBE = {
    **OLD_SEARCH,
    "kind": "probe",
    "query": 9,
    "reference": 12,
    "position": 5,
    "query_side": "right",
    "probe_of": 31,
    "served_at": "2025-03-04T09:10:12+00:00",
}


@pytest.mark.parametrize("old", [OLD_SEARCH, OLD_PROBE])
def test_the_stored_json_round_trips_unchanged(old):
    pending = PendingPair.from_json(old)
    assert pending.to_json() == old
    assert json.dumps(pending.to_json()) == json.dumps(old)  # the same keys in the same order
    assert list(pending.to_json()) == STORED_KEYS
    assert PendingPair.from_json(pending.to_json()) == pending


def test_the_dataclass_writes_what_the_dict_held():
    pair = Pair(
        query=17,
        reference=4,
        position=2,
        phase="ternary",
        attempt=1,
        low=0,
        high=6,
        query_side="left",
    )
    served_at = datetime(2025, 3, 4, 9, 10, 11, 123456, tzinfo=UTC)
    pending = PendingPair(
        ComparisonKind.SEARCH, pair, "ternary_binary", OLD_SEARCH["uid"], served_at
    )
    assert pending.to_json() == OLD_SEARCH
    assert type(pending.to_json()["kind"]) is str
    assert pending.kind == "search"
    later = datetime(2025, 3, 4, 9, 12, tzinfo=UTC)
    again = pending.shown_again(later).to_json()
    assert again == {**OLD_SEARCH, "served_at": "2025-03-04T09:12:00+00:00"}
    assert list(again) == STORED_KEYS


@pytest.fixture
def reader_headers(client, accounts, admin) -> tuple[dict[str, str], dict[str, str], int]:
    user = accounts.add("rdp")
    return bearer(client, "admin"), bearer(client, "rdp"), user.id


def stored(db) -> dict:
    db.expire_all()
    pending = db.scalar(select(MaskingReader.pending))
    assert pending is not None
    return pending


def expected_from_reply(pair: dict, pk_of: dict[str, int], kept: dict) -> dict:
    """What the old code stored for the pair the API shows (position, rule, probe_of and
    served_at are not in the reply: taken from the stored row, checked apart)."""
    return {
        "kind": kept["kind"],
        "query": pk_of[pair["query_image_id"]],
        "reference": pk_of[pair["reference_image_id"]],
        "position": kept["position"],
        "phase": pair["phase"],
        "attempt": pair["attempt"],
        "low": pair["interval"][0],
        "high": pair["interval"][1],
        "query_side": pair["query_side"],
        "rule": "ternary_binary",
        "probe_of": kept["probe_of"],
        "uid": pair["comparison_id"],
        "served_at": kept["served_at"],
    }


def check_stored(db, pair: dict, images: Images) -> dict:
    pending = stored(db)
    assert list(pending) == STORED_KEYS
    assert pending == expected_from_reply(pair, images.pk_of, pending)
    assert pending["kind"] in ("search", "probe")
    assert isinstance(pending["position"], int)
    assert datetime.fromisoformat(pending["served_at"]).tzinfo is not None
    if pending["kind"] == "probe":
        original = db.get(MaskingComparison, pending["probe_of"])
        assert original is not None
        assert original.kind == "search"
        assert (original.query_pk, original.reference_pk) == (
            pending["query"],
            pending["reference"],
        )
    else:
        assert pending["probe_of"] is None
    return pending


def test_the_stored_pending_pair_keeps_its_json(client, db, masking_images, reader_headers):
    admin, headers, user_id = reader_headers
    ids = masking_images.ids
    body = {
        "name": "Pending shape",
        "image_ids": ids,
        "seed_list": [ids[0], ids[-1]],  # the first and the last exam: two women
        "probe_share": 0.4,
        "probe_gap": 2,
        "randomise_sides": True,
        "reader_ids": [user_id],
    }
    created = client.post(f"{API}/projects", json=body, headers=admin)
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    pair = client.get(f"{API}/projects/{project_id}/next", headers=headers).json()
    kinds = set()
    for _ in range(30):
        pending = check_stored(db, pair, masking_images)
        kinds.add(pending["kind"])
        reloaded = client.get(f"{API}/projects/{project_id}/next", headers=headers).json()
        again = check_stored(db, reloaded, masking_images)
        assert {**again, "served_at": None} == {**pending, "served_at": None}
        reply = client.post(
            f"{API}/comparisons/{pair['comparison_id']}", json={"answer": "query"}, headers=headers
        )
        assert reply.status_code == 200, reply.text
        pair = reply.json()["next"]
    assert kinds == {"search", "probe"}

    undone = client.post(f"{API}/projects/{project_id}/undo", headers=headers)
    assert undone.status_code == 200, undone.text
    pending = check_stored(db, undone.json()["next"], masking_images)
    last = db.scalar(select(MaskingComparison).order_by(MaskingComparison.id.desc()).limit(1))
    assert last is not None
    assert {k: pending[k] for k in ("kind", "position", "rule", "probe_of")} == {
        "kind": last.kind,
        "position": last.reference_position,
        "rule": last.rule,
        "probe_of": last.probe_of,
    }
    assert pending["uid"] != last.uid  # the undone pair comes back under a new id
    json.dumps(pending)  # plain JSON: no enum or datetime object slipped in
