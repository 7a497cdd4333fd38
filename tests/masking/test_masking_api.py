"""The masking sort end to end through the API, with simulated readers as scripts."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from app.masking.models import MaskingComparison, MaskingProject, MaskingUndo
from tests.helpers import assert_error, bearer
from tests.masking.conftest import Images
from tests.masking.simulation import ConsistentReader, NoisyReader

API = "/api/v1/masking"


@dataclass
class People:
    admin: dict[str, str]
    readers: dict[str, dict[str, str]]
    ids: dict[str, int]
    outsider: dict[str, str]


@pytest.fixture
def people(client, accounts, admin) -> People:
    ids = {name: accounts.add(name).id for name in ("rda", "rdb", "rdc", "nobody")}
    return People(
        admin=bearer(client, "admin"),
        readers={name: bearer(client, name) for name in ("rda", "rdb", "rdc")},
        ids=ids,
        outsider=bearer(client, "nobody"),
    )


def create(client, people: People, **body) -> dict:
    body.setdefault("name", "Masking pilot")
    body.setdefault("reader_ids", [people.ids["rda"]])
    # these projects take their seeds by the simulated masking value, whatever woman they are
    # of, so two seeds may be one woman's: allowed explicitly (the rule's default is tested in
    # test_one_seed_per_woman_is_the_default)
    body.setdefault("one_seed_per_woman", False)
    response = client.post(f"{API}/projects", json=body, headers=people.admin)
    assert response.status_code == 201, response.text
    return response.json()


def hidden(images: Images, seed: int = 7, ties: int | None = None) -> dict[str, float]:
    rng = random.Random(seed)
    if ties:
        return {i: rng.randrange(ties) / ties for i in images.ids}
    return {i: rng.random() for i in images.ids}


def by_value(values: dict[str, float], ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda i: values[i])


def next_pair(client, project_id: int, headers) -> dict:
    response = client.get(f"{API}/projects/{project_id}/next", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def send(client, pair: dict, headers, answer: str, **extra) -> dict:
    response = client.post(
        f"{API}/comparisons/{pair['comparison_id']}",
        json={"answer": answer, **extra},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


def sort_through_api(client, project_id: int, headers, reader, limit: int = 2000) -> list[dict]:
    """Answer until done, like a script acting as a reader; every reply carries the next pair."""
    log = []
    pair = next_pair(client, project_id, headers)
    while not pair["done"]:
        assert len(log) < limit, "the search does not end"
        given = reader.answer(pair["query_image_id"], pair["reference_image_id"])
        reply = send(client, pair, headers, given)
        log.append({"pair": pair, "answer": given, "outcome": reply["outcome"]})
        pair = reply["next"]
    return log


def results(client, project_id: int, people: People) -> dict:
    response = client.get(f"{API}/projects/{project_id}/results", headers=people.admin)
    assert response.status_code == 200, response.text
    return response.json()


# --- full sort ------------------------------------------------------------------------------


def test_consistent_reader_sorts_exactly_within_the_bound(client, people, masking_images):
    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    seeds = [ordered[3], ordered[12], ordered[20]]
    project = create(client, people, image_ids=masking_images.ids, seed_list=seeds, probe_share=0)
    assert project["images"] == 24
    assert project["seed_images"] == sorted(seeds, key=masking_images.pk_of.get)
    log = sort_through_api(client, project["id"], people.readers["rda"], ConsistentReader(values))

    per_query: dict[str, int] = defaultdict(int)
    list_length = len(seeds)
    for entry in log:
        per_query[entry["pair"]["query_image_id"]] += 1
        if entry["outcome"] == "placed":
            query = entry["pair"]["query_image_id"]
            assert per_query[query] <= math.ceil(math.log2(list_length + 1)) + 2
            list_length += 1
    assert {e["outcome"] for e in log} <= {"continue", "placed"}
    assert {e["pair"]["phase"] for e in log} == {"ternary", "binary"}

    outcome = results(client, project["id"], people)
    reader = outcome["readers"][0]
    assert reader["order"] == ordered
    assert reader["finished"]
    assert reader["abort_rate"] == 0
    assert reader["progress"]["placed"] == 21
    assert reader["progress"]["remaining"] == 0
    assert reader["progress"]["comparisons"] == len(log)
    ranks = {image["image_id"]: image["ranks"]["rda"] for image in outcome["images"]}
    assert all(ranks[i] == ordered.index(i) + 1 for i in ranks)
    assert next_pair(client, project["id"], people.readers["rda"])["done"] is True


def test_noisy_reader_aborts_are_retried_and_every_image_ends_somewhere(
    client, db, people, masking_images
):
    values = hidden(masking_images, seed=3)
    ordered = by_value(values, masking_images.ids)
    project = create(
        client,
        people,
        image_ids=masking_images.ids,
        seed_list=[ordered[0], ordered[8], ordered[16], ordered[23]],
        max_attempts=2,
        probe_share=0,
    )
    noisy = NoisyReader(values, sigma=0.35, seed=11, tolerance=0.03)
    log = sort_through_api(client, project["id"], people.readers["rda"], noisy)
    outcomes = [e["outcome"] for e in log]
    assert "aborted" in outcomes, "the noise should abort some searches"
    retried = {e["pair"]["query_image_id"] for e in log if e["pair"]["attempt"] == 2}
    aborted = {e["pair"]["query_image_id"] for e in log if e["outcome"] == "aborted"}
    assert retried == aborted

    reader = results(client, project["id"], people)["readers"][0]
    placed = set(reader["order"])
    reported = set(reader["reported"])
    assert placed | reported == set(masking_images.ids)
    assert not placed & reported
    assert len(reader["order"]) == len(placed)
    assert reader["abort_rate"] > 0
    assert reader["aborts"] == outcomes.count("aborted") + len(reported)
    logged = db.scalar(select(func.count()).select_from(MaskingComparison))
    assert logged == len(log)


# --- levels ---------------------------------------------------------------------------------


def level_seed_setup(masking_images: Images, values: dict[str, float], levels: int = 4):
    ordered = by_value(values, masking_images.ids)
    # two seeds per level, spread over the order: positions 2,5 | 8,11 | 14,17 | 20,23
    seeds = [[ordered[6 * n + 2], ordered[6 * n + 5]] for n in range(levels)]
    return ordered, seeds


def level_project(
    client, people: People, masking_images: Images, seed: int, **extra
) -> tuple[dict[str, float], list[list[str]], dict]:
    """Hidden values, their 4 levels of 2 seeds, and a level project over all the images."""
    values = hidden(masking_images, seed=seed)
    _, seeds = level_seed_setup(masking_images, values)
    body = {"mode": "levels", "levels": 4, "seeds_per_level": 2, "probe_share": 0, **extra}
    project = create(client, people, image_ids=masking_images.ids, level_seeds=seeds, **body)
    return values, seeds, project


def true_level(value: float, seeds: list[list[str]], values: dict[str, float]) -> int:
    return 1 + sum(1 for level in seeds[:-1] if value > values[level[-1]])


def test_exact_level_rule_puts_every_image_in_its_level(client, people, masking_images):
    values, seeds, project = level_project(client, people, masking_images, seed=5)
    log = sort_through_api(client, project["id"], people.readers["rda"], ConsistentReader(values))
    per_query: dict[str, int] = defaultdict(int)
    for entry in log:
        per_query[entry["pair"]["query_image_id"]] += 1
        assert entry["pair"]["phase"] == "level"
    assert max(per_query.values()) <= 2  # ceil(log2 4)
    reader = results(client, project["id"], people)["readers"][0]
    seed_ids = {i for level in seeds for i in level}
    for image_id, level in reader["levels"].items():
        assert level == true_level(values[image_id], seeds, values), image_id
    assert set(reader["levels"]) == set(masking_images.ids)
    assert set(reader["seeds"]) == seed_ids


def test_paper_level_rule_is_recorded_and_stays_within_three_comparisons(
    client, db, people, masking_images
):
    values = hidden(masking_images, seed=8)
    ordered = by_value(values, masking_images.ids)
    seeds = [[ordered[3 * n + 1], ordered[3 * n + 2]] for n in range(8)]
    project = create(
        client,
        people,
        mode="levels",
        level_rule="paper",
        seeds_per_level=2,
        image_ids=masking_images.ids,
        level_seeds=seeds,
        probe_share=0,
    )
    log = sort_through_api(client, project["id"], people.readers["rda"], ConsistentReader(values))
    counts: dict[str, int] = defaultdict(int)
    for entry in log:
        counts[entry["pair"]["query_image_id"]] += 1
    assert max(counts.values()) <= 3
    first_levels = set(
        db.scalars(
            select(MaskingComparison.reference_position).where(
                MaskingComparison.interval_low == 1, MaskingComparison.interval_high == 8
            )
        )
    )
    assert first_levels == {4, 5}  # the centre of 8 levels, drawn at random
    rules = set(db.scalars(select(MaskingComparison.rule)))
    assert rules == {"paper"}
    assert results(client, project["id"], people)["rule"] == "paper"


def test_level_seeds_derived_from_a_finished_full_sort(client, people, masking_images):
    values = hidden(masking_images, seed=9)
    ordered = by_value(values, masking_images.ids)
    full = create(
        client,
        people,
        name="Full",
        image_ids=masking_images.ids,
        seed_list=ordered[:2],
        probe_share=0,
    )
    sort_through_api(client, full["id"], people.readers["rda"], ConsistentReader(values))
    refused = client.post(
        f"{API}/projects",
        json={
            "name": "Levels",
            "mode": "levels",
            "levels": 4,
            "seeds_per_level": 2,
            "image_ids": masking_images.ids,
            "derive_seeds_from": full["id"],
            "reader_ids": [people.ids["rdb"]],
        },
        headers=people.admin,
    )
    assert "rdb has not finished" in assert_error(refused, 422)["message"]
    levels = create(
        client,
        people,
        name="Levels",
        mode="levels",
        levels=4,
        seeds_per_level=2,
        image_ids=masking_images.ids,
        derive_seeds_from=full["id"],
        probe_share=0,
    )
    sort_through_api(client, levels["id"], people.readers["rda"], ConsistentReader(values))
    reader = results(client, levels["id"], people)["readers"][0]
    # the exact rule reproduces the cut of the reader's own full sort
    expected = {image: 1 + index * 4 // 24 for index, image in enumerate(ordered)}
    assert reader["levels"] == expected


# --- nothing lost, nothing twice --------------------------------------------------------------


def test_pair_is_resumed_and_an_answer_applies_once(client, db, people, masking_images):
    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    project = create(client, people, image_ids=masking_images.ids, seed_list=ordered[:6])
    headers = people.readers["rda"]
    first = next_pair(client, project["id"], headers)
    again = next_pair(client, project["id"], headers)  # a reload, or a second tab
    assert again["comparison_id"] == first["comparison_id"]
    assert {first["query_image_id"], first["reference_image_id"]} == {
        first["images"]["query"]["image_id"],
        first["images"]["reference"]["image_id"],
    }
    given = ConsistentReader(values).answer(first["query_image_id"], first["reference_image_id"])
    reply = send(client, first, headers, given)
    repeat = send(client, first, headers, given)  # a retry or a double key press
    assert reply["replayed"] is False
    assert repeat["replayed"] is True
    assert repeat["next"]["comparison_id"] == reply["next"]["comparison_id"]
    assert db.scalar(select(func.count()).select_from(MaskingComparison)) == 1
    other = "query" if given != "query" else "reference"
    conflict = client.post(
        f"{API}/comparisons/{first['comparison_id']}", json={"answer": other}, headers=headers
    )
    assert_error(conflict, 409, "already_answered")
    stale = client.post(f"{API}/comparisons/{'0' * 32}", json={"answer": "same"}, headers=headers)
    assert_error(stale, 409, "comparison_not_current")
    intruder = client.post(
        f"{API}/comparisons/{reply['next']['comparison_id']}",
        json={"answer": "same"},
        headers=people.readers["rdb"],
    )
    assert_error(intruder, 409, "comparison_not_current")
    assert db.scalar(select(func.count()).select_from(MaskingComparison)) == 1


def test_undo_reverts_exactly_the_last_answers(client, db, people, masking_images):
    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    project = create(
        client, people, image_ids=masking_images.ids, seed_list=ordered[:6], probe_share=0
    )
    headers = people.readers["rda"]
    reader = ConsistentReader(values)
    url = f"{API}/projects/{project['id']}/undo"
    assert_error(client.post(url, headers=headers), 409, "nothing_to_undo")

    shown = [next_pair(client, project["id"], headers)]
    while len(shown) < 12:  # past at least one placement
        pair = shown[-1]
        reply = send(
            client, pair, headers, reader.answer(pair["query_image_id"], pair["reference_image_id"])
        )
        shown.append(reply["next"])
    assert sum(1 for p in shown if p["attempt"] == 1 and p["interval"][0] == 0) >= 2
    state_after = results(client, project["id"], people)["readers"][0]["order"]
    assert len(state_after) > 6

    for expected in reversed(shown[:-1]):
        undone = client.post(url, headers=headers)
        assert undone.status_code == 200, undone.text
        back = undone.json()["next"]
        for key in ("query_image_id", "reference_image_id", "phase", "interval", "query_side"):
            assert back[key] == expected[key], key
    assert results(client, project["id"], people)["readers"][0]["order"] == ordered[:6]
    assert_error(client.post(url, headers=headers), 409, "nothing_to_undo")
    assert db.scalar(select(func.count()).select_from(MaskingUndo)) == 11

    # and the reader can sort everything afterwards, exactly
    sort_through_api(client, project["id"], headers, reader)
    assert results(client, project["id"], people)["readers"][0]["order"] == ordered


def test_discard_needs_a_reason_and_is_kept(client, people, masking_images):
    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    project = create(client, people, image_ids=masking_images.ids, seed_list=ordered[:2])
    headers = people.readers["rda"]
    pair = next_pair(client, project["id"], headers)
    refused = client.post(
        f"{API}/comparisons/{pair['comparison_id']}", json={"answer": "discard"}, headers=headers
    )
    assert assert_error(refused, 422)["details"][0]["field"] == "reason"
    reply = send(client, pair, headers, "discard", reason="other", note="skin fold over nipple")
    assert reply["outcome"] == "discarded"
    assert reply["next"]["query_image_id"] != pair["query_image_id"]
    reader = results(client, project["id"], people)["readers"][0]
    assert reader["discarded"] == {pair["query_image_id"]: "other"}
    assert reader["progress"]["discarded"] == 1


# --- probes, sides, agreement -----------------------------------------------------------------


def test_probes_repeat_answered_pairs_blind_and_leave_the_list_alone(
    client, db, people, masking_images
):
    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    project = create(
        client,
        people,
        image_ids=masking_images.ids,
        seed_list=ordered[:2],
        probe_share=0.3,
        probe_gap=3,
        randomise_sides=True,
    )
    log = sort_through_api(client, project["id"], people.readers["rda"], ConsistentReader(values))
    assert "probe" not in {e["outcome"] for e in log}  # blind: a probe answers "continue"
    probe_uids = set(
        db.scalars(select(MaskingComparison.uid).where(MaskingComparison.kind == "probe"))
    )
    probes = [e for e in log if e["pair"]["comparison_id"] in probe_uids]
    assert probes, "a 30 % probe share over dozens of pairs shows some probes"
    assert all(set(e["pair"]) == set(log[0]["pair"]) for e in log)  # nothing tells them apart
    assert {e["pair"]["query_side"] for e in log} == {"left", "right"}
    reader = results(client, project["id"], people)["readers"][0]
    assert reader["order"] == ordered
    assert reader["probes"] == len(probes)
    assert reader["probe_agreement"] == 1.0
    assert reader["left_share"] is not None
    assert abs(reader["side_bias"]) <= 0.5
    originals = db.scalars(
        select(MaskingComparison.probe_of).where(MaskingComparison.kind == "probe")
    ).all()
    assert len(set(originals)) == len(originals)  # no pair is probed twice


def test_agreement_of_two_readers(client, people, masking_images):
    values, _, project = level_project(
        client, people, masking_images, seed=21, reader_ids=[people.ids["rda"], people.ids["rdb"]]
    )
    sort_through_api(client, project["id"], people.readers["rda"], ConsistentReader(values))
    sort_through_api(
        client, project["id"], people.readers["rdb"], NoisyReader(values, sigma=0.2, seed=4)
    )
    outcome = results(client, project["id"], people)
    assert [(p["reader_a"], p["reader_b"]) for p in outcome["pairs"]] == [("rda", "rdb")]
    pair = outcome["pairs"][0]
    assert pair["images"] == 16
    assert 0 < pair["tau_b"] < 1
    for reader in outcome["readers"]:
        versus = reader["versus_median"]
        assert versus["images"] == 16
        assert versus["amae"] is not None
    medians = {i["image_id"]: i["median_level"] for i in outcome["images"]}
    assert len(medians) == 16
    assert all(1 <= m <= 4 for m in medians.values())


# --- access and bad input ---------------------------------------------------------------------


def test_only_the_projects_readers_see_pairs_and_images(client, people, masking_images):
    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    project = create(client, people, image_ids=masking_images.ids, seed_list=ordered[:2])
    pair = next_pair(client, project["id"], people.readers["rda"])
    image = f"/api/v1/images/{pair['query_image_id']}"
    assert client.get(image, headers=people.readers["rda"]).status_code == 200
    assert client.get(image, headers=people.outsider).status_code == 404
    nope = client.get(f"{API}/projects/{project['id']}/next", headers=people.outsider)
    assert_error(nope, 404)
    assert_error(
        client.get(f"{API}/projects/{project['id']}/results", headers=people.readers["rda"]), 403
    )
    assert client.get(f"{API}/projects", headers=people.outsider).json() == []
    mine = client.get(f"{API}/projects", headers=people.readers["rda"]).json()
    assert [p["id"] for p in mine] == [project["id"]]
    assert_error(
        client.post(f"{API}/projects", json={"name": "x"}, headers=people.readers["rda"]), 403
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"seed_list": ["ffff", "eeee"]}, "seed_list"),
        ({"seed_list": []}, "seed_list"),
        ({"mode": "levels", "levels": 4, "level_seeds": [["SEED"]]}, "level_seeds"),
        ({"mode": "levels", "levels": 4}, "level_seeds"),
        ({"image_ids": ["abc"], "seed_list": ["SEED", "SEED2"]}, "image_ids"),
        ({"reader_ids": [99999], "seed_list": ["SEED", "SEED2"]}, "reader_ids"),
    ],
)
def test_bad_projects_are_refused_whole(client, db, people, masking_images, body, field):
    ids = masking_images.ids
    body = {
        # SEED2 is the last image imported: another woman's than SEED's (the first one's)
        key: [ids[0] if v == "SEED" else ids[-1] if v == "SEED2" else v for v in value]
        if isinstance(value, list) and value and isinstance(value[0], str)
        else [[ids[0]]]
        if key == "level_seeds"
        else value
        for key, value in body.items()
    }
    response = client.post(f"{API}/projects", json={"name": "Bad", **body}, headers=people.admin)
    error = assert_error(response, 422)
    assert error["details"][0]["field"] == field, error
    assert db.scalar(select(func.count()).select_from(MaskingProject)) == 0


def test_one_seed_per_woman_is_the_default(client, db, people, masking_images):
    """At most one seed per woman unless the caller turns the rule off explicitly."""
    from app.imaging.models import Image

    studies: dict[int, list[str]] = defaultdict(list)
    for image in db.scalars(select(Image).order_by(Image.id)):
        studies[image.study_pk].append(image.image_id)
    one, two = list(studies.values())[:2]
    url = f"{API}/projects"
    full = {"name": "Two of one woman", "seed_list": [one[0], two[0], one[1]]}
    levels = {
        "name": "Levels, two of one woman",
        "mode": "levels",
        "levels": 2,
        "level_seeds": [[one[0]], [two[0], one[1]]],
    }
    for body, field in ((full, "seed_list"), (levels, "level_seeds")):
        error = assert_error(client.post(url, json=body, headers=people.admin), 422)
        assert error["details"][0]["field"] == field, error
        assert "one seed per woman" in error["message"]
        assert one[0][:10] in error["message"]
        assert one[1][:10] in error["message"]
        assert db.scalar(select(func.count()).select_from(MaskingProject)) == 0
    # one seed of each woman is fine by default
    allowed = client.post(url, json={**full, "seed_list": [one[0], two[0]]}, headers=people.admin)
    assert allowed.status_code == 201, allowed.text
    # and a caller may allow two seeds of one woman, explicitly
    for body in (full, levels):
        explicit = {**body, "name": body["name"] + " (allowed)", "one_seed_per_woman": False}
        created = client.post(url, json=explicit, headers=people.admin)
        assert created.status_code == 201, created.text
    assert db.scalar(select(func.count()).select_from(MaskingProject)) == 3


def test_readers_with_answers_stay(client, people, masking_images):
    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    project = create(client, people, image_ids=masking_images.ids, seed_list=ordered[:2])
    url = f"{API}/projects/{project['id']}/readers"
    added = client.put(
        url, json={"user_ids": [people.ids["rda"], people.ids["rdb"]]}, headers=people.admin
    )
    assert added.json()["readers"] == ["rda", "rdb"]
    pair = next_pair(client, project["id"], people.readers["rda"])
    send(client, pair, people.readers["rda"], "same")
    refused = client.put(url, json={"user_ids": [people.ids["rdb"]]}, headers=people.admin)
    assert "rda" in assert_error(refused, 409, "reader_has_answers")["message"]
    kept = client.put(url, json={"user_ids": [people.ids["rda"]]}, headers=people.admin)
    assert kept.json()["readers"] == ["rda"]


def test_undo_brings_back_the_same_pair_even_among_probes(client, people, masking_images):
    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    project = create(
        client,
        people,
        image_ids=masking_images.ids,
        seed_list=ordered[:2],
        probe_share=0.5,
        probe_gap=0,
        randomise_sides=True,
    )
    headers = people.readers["rda"]
    reader = ConsistentReader(values)
    pair = next_pair(client, project["id"], headers)
    for _ in range(30):
        reply = send(
            client, pair, headers, reader.answer(pair["query_image_id"], pair["reference_image_id"])
        )
        undone = client.post(f"{API}/projects/{project['id']}/undo", headers=headers).json()
        again = undone["next"]
        for key in ("query_image_id", "reference_image_id", "query_side", "phase", "interval"):
            assert again[key] == pair[key], key
        reply = send(
            client,
            again,
            headers,
            reader.answer(again["query_image_id"], again["reference_image_id"]),
        )
        pair = reply["next"]
        if pair["done"]:
            break
    sort_through_api(client, project["id"], headers, reader)
    assert results(client, project["id"], people)["readers"][0]["order"] == ordered


def test_small_scales_and_fixed_sides_report_what_is_defined(client, people, masking_images):
    values = hidden(masking_images, seed=2)
    ordered = by_value(values, masking_images.ids)
    project = create(
        client,
        people,
        mode="levels",
        levels=3,
        seeds_per_level=1,
        image_ids=masking_images.ids,
        level_seeds=[[ordered[2]], [ordered[10]], [ordered[20]]],
        probe_share=0,
    )
    sort_through_api(client, project["id"], people.readers["rda"], ConsistentReader(values))
    reader = results(client, project["id"], people)["readers"][0]
    assert reader["versus_median"]["f1_low"] is None  # low and high overlap on 3 levels
    assert reader["left_share"] is None  # the query was always on the left
    seen = client.get(f"{API}/projects/{project['id']}", headers=people.readers["rda"]).json()
    assert seen["order_seed"] is None
    assert seen["probe_share"] is None


def test_simultaneous_answers_to_one_pair_apply_once(app, client, db, people, masking_images):
    """A double key press and a second tab, at the same moment, in real threads: the same
    answer twice is applied once; a different answer is refused; the log has one row."""
    from concurrent.futures import ThreadPoolExecutor

    from app.auth.models import User
    from app.core.errors import AppError
    from app.masking import service

    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    project = create(client, people, image_ids=masking_images.ids, seed_list=ordered[:4])
    headers = people.readers["rda"]

    def answer(args: tuple[str, str]) -> str:
        uid, given = args
        with app.state.session_factory() as session:
            user = session.get(User, people.ids["rda"])
            try:
                done = service.answer_comparison(session, user, uid, given)
            except AppError as error:
                return error.code
            return "replayed" if done.replayed else "applied"

    for givens, expected in (
        (("same", "same"), ["applied", "replayed"]),
        (("query", "reference"), ["already_answered", "applied"]),
    ):
        uid = next_pair(client, project["id"], headers)["comparison_id"]
        before = db.scalar(select(func.count()).select_from(MaskingComparison))
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = sorted(pool.map(answer, [(uid, g) for g in givens]))
        assert outcomes == expected
        db.expire_all()
        assert db.scalar(select(func.count()).select_from(MaskingComparison)) == before + 1


def test_a_reader_sees_no_other_readers_name(client, people, masking_images):
    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    project = create(
        client,
        people,
        image_ids=masking_images.ids,
        seed_list=ordered[:4],
        reader_ids=[people.ids["rda"], people.ids["rdb"]],
    )
    url = f"{API}/projects/{project['id']}"
    assert client.get(url, headers=people.admin).json()["readers"] == ["rda", "rdb"]
    other = people.readers["rdb"]
    theirs = next_pair(client, project["id"], other)
    send(client, theirs, other, "same")
    headers = people.readers["rda"]
    pair = next_pair(client, project["id"], headers)
    replies = [
        client.get(f"{API}/projects", headers=headers).json(),
        client.get(url, headers=headers).json(),
        pair,
        send(client, pair, headers, "same"),
        client.post(f"{url}/undo", headers=headers).json(),
    ]
    assert replies[0][0]["readers"] == ["rda"]
    assert replies[1]["readers"] == ["rda"]
    for reply in replies:
        assert "rdb" not in str(reply)
    assert client.get(url, headers=other).json()["readers"] == ["rdb"]


def test_an_undone_answer_sent_again_is_refused_as_undone(client, db, people, masking_images):
    values = hidden(masking_images)
    ordered = by_value(values, masking_images.ids)
    project = create(
        client, people, image_ids=masking_images.ids, seed_list=ordered[:4], probe_share=0
    )
    headers = people.readers["rda"]
    reader = ConsistentReader(values)
    first = next_pair(client, project["id"], headers)
    given = reader.answer(first["query_image_id"], first["reference_image_id"])
    send(client, first, headers, given)
    undone = client.post(f"{API}/projects/{project['id']}/undo", headers=headers)
    current = undone.json()["next"]
    assert current["comparison_id"] != first["comparison_id"]
    for answer in (given, "discard" if given != "discard" else "same"):
        body = {"answer": answer, "reason": "other"} if answer == "discard" else {"answer": answer}
        again = client.post(
            f"{API}/comparisons/{first['comparison_id']}", json=body, headers=headers
        )
        error = assert_error(again, 409, "answer_undone")
        assert "taken back" in error["message"]
        assert current["comparison_id"] in error["message"]
        assert current["query_image_id"] in error["message"]
        assert error["details"] == [
            {
                "field": "comparison_id",
                "message": f"current comparison is {current['comparison_id']}",
            }
        ]
    assert db.scalar(select(func.count()).select_from(MaskingComparison)) == 1
    # the pair itself, answered under its current id, is applied once and replays as before
    reply = send(client, current, headers, given)
    assert reply["replayed"] is False
    assert send(client, current, headers, given)["replayed"] is True
    assert db.scalar(select(func.count()).select_from(MaskingComparison)) == 2
