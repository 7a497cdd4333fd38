"""Pairwise masking sort: projects, readers, serving pairs, answers, undo, consistency probes.

Every answer is appended to the comparison log and the reader's search state is updated in
the same transaction, serialised on the reader's row: two tabs or a double key press cannot
apply an answer twice or interleave. The search rules themselves live in ``search`` (pure).
"""

from __future__ import annotations

import secrets
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.audit.service import Actor, record
from app.auth.models import User
from app.auth.users import active_users
from app.core.database import serialise_on, utcnow
from app.core.errors import Conflict, NotFound, field_error
from app.imaging.models import Image, Study
from app.masking import search
from app.masking.models import (
    PROBE,
    QUERY_IMAGE,
    SEARCH,
    SEED_IMAGE,
    MaskingComparison,
    MaskingImage,
    MaskingProject,
    MaskingReader,
    MaskingUndo,
)

DISCARD = "discard"
DISCARD_REASONS = ("distorted", "incomplete", "other")
MAX_NOTE = 2000
RECENT_ANSWERS = 100  # the progress line's median response time is over this many answers


# --- projects -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewProject:
    """A project as an admin describes it. Images are chosen by hex image id, or by study
    (all studies when none are named) and view, one breast per woman or both."""

    name: str
    mode: str = search.FULL_SORT
    instructions: str = ""
    level_rule: str = search.EXACT
    levels: int = 8
    seeds_per_level: int = 4
    image_ids: Sequence[str] = ()
    study_ids: Sequence[str] = ()
    view: str = "MLO"
    per_woman: str = "one"
    seed_list: Sequence[str] = ()
    level_seeds: Sequence[Sequence[str]] = ()
    derive_seeds_from: int | None = None
    randomise_sides: bool = False
    probe_share: float = 0.05
    probe_gap: int = 20
    max_attempts: int = 3
    order_seed: int | None = None
    reader_ids: Sequence[int] = ()


def create_project(db: Session, actor: Actor, new: NewProject) -> MaskingProject:
    """Validate everything first, then write the project, its images and readers at once."""
    name = _checked_settings(db, new)
    seed_list = _images_by_id(db, new.seed_list, "seed_list")
    level_seeds = [
        _images_by_id(db, level, f"level_seeds.{n}") for n, level in enumerate(new.level_seeds, 1)
    ]
    _check_seeds(new, seed_list, level_seeds)
    _check_seed_source(db, new.derive_seeds_from)
    order_seed = new.order_seed if new.order_seed is not None else secrets.randbelow(2**31)
    seeds = {image.id for image in seed_list} | {i.id for level in level_seeds for i in level}
    selected = _select_images(db, new, order_seed)
    queries = [image for image in selected if image.id not in seeds]
    if not queries:
        raise field_error("images", "The selection holds no image to place besides the seeds.")
    project = MaskingProject(
        name=name,
        instructions=new.instructions.strip()[:20000],
        mode=new.mode,
        level_rule=new.level_rule,
        levels=new.levels,
        seeds_per_level=new.seeds_per_level,
        seed_list=[image.id for image in seed_list],
        level_seeds=[[image.id for image in level] for level in level_seeds] or None,
        derive_seeds_from=new.derive_seeds_from,
        randomise_sides=new.randomise_sides,
        probe_share=new.probe_share,
        probe_gap=new.probe_gap,
        max_attempts=new.max_attempts,
        order_seed=order_seed,
        selection=_selection_record(new),
        created_by=actor.user.id if actor.user else None,
    )
    db.add(project)
    db.flush()
    for image in queries:
        db.add(MaskingImage(project_id=project.id, image_pk=image.id, role=QUERY_IMAGE))
    for pk in sorted(seeds):
        db.add(MaskingImage(project_id=project.id, image_pk=pk, role=SEED_IMAGE))
    db.flush()
    _add_readers(db, project, _users(db, new.reader_ids))
    record(
        db,
        actor,
        "masking.project_created",
        object_type="masking_project",
        object_id=project.id,
        name=name,
        mode=new.mode,
        images=len(queries),
    )
    db.commit()
    return project


def _checked_settings(db: Session, new: NewProject) -> str:
    name = new.name.strip()
    if not 1 <= len(name) <= 120:
        raise field_error("name", "A project needs a name of 1 to 120 characters.")
    if db.scalar(select(MaskingProject.id).where(MaskingProject.name == name)) is not None:
        raise Conflict(f"A masking project named {name!r} exists already.", code="name_taken")
    choices = (
        ("mode", new.mode, search.MODES),
        ("level_rule", new.level_rule, search.LEVEL_RULES),
        ("per_woman", new.per_woman, ("one", "both")),
        ("view", new.view, ("MLO", "CC", "any")),
    )
    for field_name, value, allowed in choices:
        if value not in allowed:
            raise field_error(field_name, f"{field_name} must be one of {', '.join(allowed)}.")
    ranges = (
        ("levels", new.levels, 2, 20),
        ("seeds_per_level", new.seeds_per_level, 1, 50),
        ("max_attempts", new.max_attempts, 1, 10),
        ("probe_gap", new.probe_gap, 0, 10000),
    )
    for field_name, value, low, high in ranges:
        if not low <= value <= high:
            raise field_error(field_name, f"{field_name} must be {low} to {high}.")
    if not 0 <= new.probe_share <= 0.5:
        raise field_error("probe_share", "The probe share must be between 0 and 0.5.")
    return name


def _check_seeds(new: NewProject, seed_list: list[Image], level_seeds: list[list[Image]]) -> None:
    if new.mode == search.FULL_SORT:
        if len(seed_list) < 2 or len({i.id for i in seed_list}) != len(seed_list):
            raise field_error("seed_list", "A full sort needs at least 2 different seed images.")
        return
    if bool(level_seeds) == (new.derive_seeds_from is not None):
        raise field_error(
            "level_seeds",
            "Give the seed images of every level, or a full-sort project to derive them from.",
        )
    if level_seeds:
        if len(level_seeds) != new.levels or not all(level_seeds):
            raise field_error(
                "level_seeds", f"Give {new.levels} levels, each with at least one seed image."
            )
        flat = [image.id for level in level_seeds for image in level]
        if len(set(flat)) != len(flat):
            raise field_error("level_seeds", "A seed image may sit in one level only.")


def _check_seed_source(db: Session, project_id: int | None) -> None:
    if project_id is None:
        return
    source = db.get(MaskingProject, project_id)
    if source is None or source.mode != search.FULL_SORT:
        raise field_error(
            "derive_seeds_from",
            f"There is no full-sort masking project {project_id} to derive seeds from.",
        )


def _images_by_id(db: Session, image_ids: Iterable[str], field_name: str) -> list[Image]:
    wanted = [i.strip().lower() for i in image_ids if i.strip()]
    if not wanted:
        return []
    found = {i.image_id: i for i in db.scalars(select(Image).where(Image.image_id.in_(wanted)))}
    unknown = [i for i in wanted if i not in found]
    if unknown:
        listed = ", ".join(i[:40] for i in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise field_error(field_name, f"Unknown image ids ({len(unknown)}): {listed}")
    return [found[i] for i in wanted]


def _select_images(db: Session, new: NewProject, order_seed: int) -> list[Image]:
    if new.image_ids:
        return list({i.id: i for i in _images_by_id(db, new.image_ids, "image_ids")}.values())
    statement = select(Image).join(Study).order_by(Image.study_pk, Image.laterality, Image.id)
    if new.study_ids:
        wanted = [s.strip().lower() for s in new.study_ids if s.strip()]
        found = set(db.scalars(select(Study.study_id).where(Study.study_id.in_(wanted))))
        unknown = [s for s in wanted if s not in found]
        if unknown:
            raise field_error("study_ids", f"Unknown study ids ({len(unknown)}): {unknown[0]}")
        statement = statement.where(Study.study_id.in_(wanted))
    if new.view != "any":
        statement = statement.where(Image.view == new.view)
    images = list(db.scalars(statement))
    if new.per_woman == "both":
        return images
    by_study: dict[int, list[Image]] = {}
    for image in images:
        by_study.setdefault(image.study_pk, []).append(image)
    return [
        choices[search.draw(order_seed, "breast", study) % len(choices)]
        for study, choices in by_study.items()
    ]


def _selection_record(new: NewProject) -> dict[str, Any]:
    if new.image_ids:
        return {"image_ids": len(new.image_ids)}
    return {"studies": len(new.study_ids) or "all", "view": new.view, "per_woman": new.per_woman}


def get_project(db: Session, project_id: int) -> MaskingProject:
    project = db.get(MaskingProject, project_id)
    if project is None:
        raise NotFound(f"There is no masking project {project_id}.")
    return project


def list_projects(db: Session, user: User | None = None) -> list[MaskingProject]:
    """Every project, or those ``user`` reads in."""
    statement = select(MaskingProject).order_by(MaskingProject.id.desc())
    if user is not None:
        statement = statement.join(
            MaskingReader, MaskingReader.project_id == MaskingProject.id
        ).where(MaskingReader.user_id == user.id)
    return list(db.scalars(statement))


def reading_in(db: Session, user: User) -> list[tuple[MaskingProject, MaskingReader]]:
    """The projects ``user`` reads in, newest first, with their reader row."""
    statement = (
        select(MaskingProject, MaskingReader)
        .join(MaskingReader, MaskingReader.project_id == MaskingProject.id)
        .where(MaskingReader.user_id == user.id)
        .order_by(MaskingProject.id.desc())
    )
    return [(project, reader) for project, reader in db.execute(statement).all()]


def project_images(db: Session, project: MaskingProject, role: str | None = None) -> list[int]:
    statement = select(MaskingImage.image_pk).where(MaskingImage.project_id == project.id)
    if role is not None:
        statement = statement.where(MaskingImage.role == role)
    return list(db.scalars(statement.order_by(MaskingImage.image_pk)))


def image_count(db: Session, project: MaskingProject) -> int:
    statement = select(func.count()).where(MaskingImage.project_id == project.id)
    return db.scalar(statement) or 0


# --- readers --------------------------------------------------------------------------------


def readers(db: Session, project: MaskingProject) -> list[MaskingReader]:
    statement = select(MaskingReader).where(MaskingReader.project_id == project.id)
    return sorted(db.scalars(statement), key=lambda r: r.user.username)


def set_readers(
    db: Session, actor: Actor, project: MaskingProject, user_ids: Iterable[int]
) -> list[MaskingReader]:
    """Make the reader pool exactly ``user_ids``; a reader who has answered stays."""
    wanted = set(user_ids)
    current = {reader.user_id: reader for reader in readers(db, project)}
    leaving = [r for uid, r in current.items() if uid not in wanted]
    answered = [r.user.username for r in leaving if _has_answers(db, r)]
    if answered:
        raise Conflict(
            f"These readers have answered already and cannot be removed: {', '.join(answered)}.",
            code="reader_has_answers",
        )
    added = _users(db, wanted - set(current))
    for reader in leaving:
        db.delete(reader)
    _add_readers(db, project, added)
    record(
        db,
        actor,
        "masking.readers_set",
        object_type="masking_project",
        object_id=project.id,
        added=sorted(u.username for u in added),
        removed=sorted(r.user.username for r in leaving),
    )
    db.commit()
    return readers(db, project)


def _has_answers(db: Session, reader: MaskingReader) -> bool:
    statement = select(MaskingComparison.id).where(
        MaskingComparison.project_id == reader.project_id,
        MaskingComparison.user_id == reader.user_id,
    )
    return db.scalar(statement.limit(1)) is not None


def _users(db: Session, user_ids: Iterable[int]) -> list[User]:
    return active_users(db, user_ids, "reader_ids", "add these readers")


def _add_readers(db: Session, project: MaskingProject, users: Sequence[User]) -> None:
    queries = project_images(db, project, QUERY_IMAGE)
    for user in users:
        seed = search.draw(project.order_seed, "reader", user.id) % 2**31
        level_seeds = _reader_level_seeds(db, project, user)
        reader = MaskingReader(
            project_id=project.id, user_id=user.id, seed=seed, level_seeds=level_seeds
        )
        state = search.initial_state(setup_for(project, reader), queries, project.seed_list)
        reader.state = state.to_json()
        db.add(reader)
        if level_seeds:
            _include_seed_images(db, project, [pk for level in level_seeds for pk in level])
    db.flush()


def _reader_level_seeds(db: Session, project: MaskingProject, user: User) -> list[list[int]] | None:
    if project.mode != search.LEVELS:
        return None
    if project.derive_seeds_from is None:
        return project.level_seeds
    source = db.scalar(
        select(MaskingReader).where(
            MaskingReader.project_id == project.derive_seeds_from,
            MaskingReader.user_id == user.id,
        )
    )
    state = search.ReaderState.from_json(source.state) if source else None
    if state is None or not state.done:
        raise field_error(
            "reader_ids",
            f"{user.username} has not finished a full sort in project "
            f"{project.derive_seeds_from} to derive level seeds from.",
        )
    try:
        seeds = search.seeds_from_order(state.order, project.levels, project.seeds_per_level)
    except ValueError as error:
        raise field_error("reader_ids", f"{user.username}: {error}.") from None
    return [list(level) for level in seeds]


def _include_seed_images(db: Session, project: MaskingProject, image_pks: Iterable[int]) -> None:
    present = set(project_images(db, project))
    for pk in sorted(set(image_pks) - present):
        db.add(MaskingImage(project_id=project.id, image_pk=pk, role=SEED_IMAGE))


def setup_for(project: MaskingProject, reader: MaskingReader) -> search.Setup:
    return search.Setup(
        mode=project.mode,
        seed=reader.seed,
        rule=project.level_rule,
        level_seeds=tuple(tuple(level) for level in reader.level_seeds or ()),
        max_attempts=project.max_attempts,
        randomise_sides=project.randomise_sides,
    )


def reader_of(db: Session, project: MaskingProject, user: User) -> MaskingReader:
    reader = db.scalar(
        select(MaskingReader).where(
            MaskingReader.project_id == project.id, MaskingReader.user_id == user.id
        )
    )
    if reader is None:
        raise NotFound(f"You are not a reader in masking project {project.id}.")
    return reader


def _locked(db: Session, reader: MaskingReader) -> MaskingReader:
    serialise_on(db, MaskingReader.version, reader.id)
    db.refresh(reader)
    return reader


def can_view_study(db: Session, user: User, study: Study) -> bool:
    """Readers see the images of the projects they read in."""
    statement = (
        select(MaskingImage.id)
        .join(MaskingReader, MaskingReader.project_id == MaskingImage.project_id)
        .join(Image, Image.id == MaskingImage.image_pk)
        .where(MaskingReader.user_id == user.id, Image.study_pk == study.id)
        .limit(1)
    )
    return db.scalar(statement) is not None


# --- serving pairs --------------------------------------------------------------------------


@dataclass
class Served:
    """What a reader is shown: the pending pair (None when done), images to prefetch, and
    (once ``shown``) the progress and the images' rows, read before the commit so that the
    reply needs no second connection."""

    reader: MaskingReader
    pair: dict[str, Any] | None
    prefetch: list[int] = field(default_factory=list)
    progress: Progress | None = None
    images: dict[int, Image] = field(default_factory=dict)
    project: MaskingProject | None = None


def _shown(db: Session, project: MaskingProject, served: Served) -> Served:
    served.project = project
    served.progress = progress(project, served.reader)
    if served.pair is not None:
        pair = served.pair
        served.images = images_by_pk(db, [pair["query"], pair["reference"], *served.prefetch])
    return served


def next_pair(db: Session, project: MaskingProject, user: User) -> Served:
    """The pair waiting for this reader (served again, its clock restarted), else a new one."""
    reader = _locked(db, reader_of(db, project, user))
    served = _shown(db, project, _serve(db, project, reader))
    db.commit()
    return served


def _serve(
    db: Session, project: MaskingProject, reader: MaskingReader, *, restart_clock: bool = True
) -> Served:
    """The pending pair (its clock restarted: it is being shown again), or a new one."""
    setup = setup_for(project, reader)
    state = search.ReaderState.from_json(reader.state)
    now = utcnow()
    if reader.pending is not None:
        if restart_clock:
            reader.pending = {**reader.pending, "served_at": now.isoformat()}
        return Served(reader, reader.pending, _prefetch(state, setup, reader.pending))
    started = search.start_next(state, setup)
    if started is not state:
        reader.state = started.to_json()
    pair = search.pair_for(started, setup)
    if pair is None:
        if reader.finished_at is None:
            reader.finished_at = now
        return Served(reader, None)
    shown = _search_pending(pair, project)
    pending = _probe(db, project, reader, shown) or shown
    _make_pending(reader, pending, now)
    return Served(reader, pending, _prefetch(started, setup, pending))


def _make_pending(reader: MaskingReader, pending: dict[str, Any], now: datetime) -> None:
    pending["uid"] = secrets.token_hex(16)
    pending["served_at"] = now.isoformat()
    reader.pending, reader.pending_uid = pending, pending["uid"]
    reader.served += 1
    reader.version += 1


def _search_pending(pair: search.Pair, project: MaskingProject) -> dict[str, Any]:
    return _pending(SEARCH, pair, rule_name(project))


def _pending(
    kind: str, pair: search.Pair, rule: str, probe_of: int | None = None
) -> dict[str, Any]:
    """A pair to serve, as stored on the reader's row until it is answered."""
    return {
        "kind": kind,
        "query": pair.query,
        "reference": pair.reference,
        "position": pair.position,
        "phase": pair.phase,
        "attempt": pair.attempt,
        "low": pair.low,
        "high": pair.high,
        "query_side": pair.query_side,
        "rule": rule,
        "probe_of": probe_of,
    }


def rule_name(project: MaskingProject) -> str:
    return "ternary_binary" if project.mode == search.FULL_SORT else project.level_rule


def _probe(
    db: Session, project: MaskingProject, reader: MaskingReader, shown: dict[str, Any]
) -> dict[str, Any] | None:
    """Now and then, a pair answered long enough ago, shown again blind: sides redrawn, and
    the phase, interval and attempt those of the search it interrupts."""
    coin = search.draw(reader.seed, "probe", reader.served) % 1_000_000
    if coin >= project.probe_share * 1_000_000:
        return None
    probed = select(MaskingComparison.probe_of).where(
        MaskingComparison.project_id == project.id,
        MaskingComparison.user_id == reader.user_id,
        MaskingComparison.probe_of.is_not(None),
    )
    eligible = select(MaskingComparison.id).where(
        MaskingComparison.project_id == project.id,
        MaskingComparison.user_id == reader.user_id,
        MaskingComparison.kind == SEARCH,
        MaskingComparison.answer.in_(search.ANSWERS),
        MaskingComparison.id.not_in(probed),
        MaskingComparison.id.not_in(
            select(MaskingUndo.comparison_id).where(MaskingUndo.project_id == project.id)
        ),
    )
    total = db.scalar(select(func.count()).select_from(eligible.subquery())) or 0
    if total <= project.probe_gap:  # the latest answers are too fresh in the reader's mind
        return None
    pick = search.draw(reader.seed, "pick", reader.served) % (total - project.probe_gap)
    newest_first = eligible.order_by(MaskingComparison.id.desc())
    original = db.get(
        MaskingComparison, db.scalar(newest_first.offset(project.probe_gap + pick).limit(1))
    )
    assert original is not None
    side = original.query_side
    if project.randomise_sides:
        side = ("left", "right")[search.draw(reader.seed, "probe-side", reader.served) % 2]
    return {
        **shown,
        "kind": PROBE,
        "query": original.query_pk,
        "reference": original.reference_pk,
        "position": original.reference_position,
        "query_side": side,
        "probe_of": original.id,
    }


def _prefetch(state: search.ReaderState, setup: search.Setup, pending: dict[str, Any]) -> list[int]:
    """Images of the pairs each answer can lead to, other than those on screen now."""
    showing = {pending["query"], pending["reference"]}
    if pending["kind"] == PROBE:
        upcoming = [p for p in [search.pair_for(search.start_next(state, setup), setup)] if p]
    else:
        upcoming = search.predicted_pairs(state, setup, _pair_of(pending))
    images: list[int] = []
    for pair in upcoming:
        for image in (pair.query, pair.reference):
            if image not in showing and image not in images:
                images.append(image)
    return images


def _pair_of(pending: dict[str, Any]) -> search.Pair:
    return search.Pair(
        query=pending["query"],
        reference=pending["reference"],
        position=pending["position"],
        phase=pending["phase"],
        attempt=pending["attempt"],
        low=pending["low"],
        high=pending["high"],
        query_side=pending["query_side"],
    )


# --- answers --------------------------------------------------------------------------------


@dataclass
class Answered:
    comparison: MaskingComparison
    replayed: bool
    served: Served


def answer_comparison(
    db: Session,
    user: User,
    uid: str,
    given: str,
    reason: str | None = None,
    note: str | None = None,
) -> Answered:
    """Apply an answer to the pair served as ``uid``, once: repeating the same answer returns
    what it did; a different answer to an answered pair is refused."""
    if given not in (*search.ANSWERS, DISCARD):
        raise field_error("answer", "The answer must be query, reference, same or discard.")
    reason, note = _discard_reason(given, reason, note)
    reader = _waiting_on(db, uid)
    if reader is None or reader.user_id != user.id:
        # answered already (a retry, a double key press, a twin request a moment ago)?
        db.rollback()
        replay = _replayed(db, user, uid, given)
        if replay is not None:
            return replay
        raise _not_current()
    project = get_project(db, reader.project_id)
    comparison = _apply(db, project, reader, given, reason, note)
    served = _shown(db, project, _serve(db, project, reader))
    db.commit()
    return Answered(comparison, False, served)


def _waiting_on(db: Session, uid: str) -> MaskingReader | None:
    """The reader whose pending pair is ``uid``, its row locked until the commit: in one
    statement on PostgreSQL (SELECT ... FOR UPDATE), by taking the write lock first on
    SQLite."""
    statement = select(MaskingReader).where(MaskingReader.pending_uid == uid)
    if db.get_bind().dialect.name == "postgresql":
        locked = statement.with_for_update(of=MaskingReader).execution_options(
            populate_existing=True
        )
        return db.scalar(locked)
    reader = db.scalar(statement)
    if reader is None:
        return None
    reader = _locked(db, reader)
    return reader if reader.pending_uid == uid else None


def _discard_reason(
    given: str, reason: str | None, note: str | None
) -> tuple[str | None, str | None]:
    if given != DISCARD:
        return None, None
    if reason not in DISCARD_REASONS:
        raise field_error("reason", f"A discard needs a reason: {', '.join(DISCARD_REASONS)}.")
    note = (note or "").strip()[:MAX_NOTE] or None
    return reason, note


def _replayed(db: Session, user: User, uid: str, given: str) -> Answered | None:
    logged = db.scalar(select(MaskingComparison).where(MaskingComparison.uid == uid))
    if logged is None:
        return None
    if logged.user_id != user.id:
        raise _not_current()
    undone = select(MaskingUndo.id).where(MaskingUndo.comparison_id == logged.id)
    if db.scalar(undone) is not None:
        raise _undone_conflict(db, logged, user)
    if logged.answer != given:
        raise Conflict(
            f"This pair was answered already ({logged.answer!r}); ask for the next pair.",
            code="already_answered",
        )
    project = get_project(db, logged.project_id)
    reader = _locked(db, reader_of(db, project, user))
    served = _shown(db, project, _serve(db, project, reader, restart_clock=False))
    db.commit()
    return Answered(logged, True, served)


def _undone_conflict(db: Session, logged: MaskingComparison, user: User) -> Conflict:
    """An answer sent again after it was undone: it is not applied again, and the reader is
    told which pair waits now (the undone pair comes back under a new comparison id)."""
    pending = reader_of(db, get_project(db, logged.project_id), user).pending
    if pending is None:
        now, current = "no pair is waiting now; ask for the next pair.", "none"
    else:
        images = images_by_pk(db, [pending["query"], pending["reference"]])
        current = pending["uid"]
        now = (
            f"the pair now waiting is comparison {current} (query image "
            f"{images[pending['query']].image_id}, reference image "
            f"{images[pending['reference']].image_id}); answer that one."
        )
    return Conflict(
        f"Your answer to comparison {logged.uid} was taken back (undone), so it is not applied "
        f"again; {now}",
        code="answer_undone",
        details=[{"field": "comparison_id", "message": f"current comparison is {current}"}],
    )


def _not_current() -> Conflict:
    return Conflict(
        "This pair is no longer waiting for an answer (answered or undone, perhaps in another "
        "tab); ask for the next pair.",
        code="comparison_not_current",
    )


def _apply(
    db: Session,
    project: MaskingProject,
    reader: MaskingReader,
    given: str,
    reason: str | None,
    note: str | None,
) -> MaskingComparison:
    pending = reader.pending
    assert pending is not None
    state = search.ReaderState.from_json(reader.state)
    before = state.current
    if pending["kind"] == PROBE:
        outcome = search.Outcome("probe")
    elif given == DISCARD:
        state, outcome = search.discard(state, reason or "other")
    else:
        state, outcome = search.answer(state, setup_for(project, reader), _pair_of(pending), given)  # type: ignore[arg-type]
    now = utcnow()
    served_at = datetime.fromisoformat(pending["served_at"])
    comparison = MaskingComparison(
        uid=pending["uid"],
        project_id=project.id,
        user_id=reader.user_id,
        kind=pending["kind"],
        query_pk=pending["query"],
        reference_pk=pending["reference"],
        query_side=pending["query_side"],
        answer=given,
        reason=reason,
        note=note,
        rule=pending["rule"],
        phase=pending["phase"],
        interval_low=pending["low"],
        interval_high=pending["high"],
        reference_position=pending["position"],
        attempt=pending["attempt"],
        outcome=outcome.kind,
        outcome_position=outcome.position,
        search_before=before.to_json() if before and pending["kind"] == SEARCH else None,
        probe_of=pending["probe_of"],
        served_at=served_at,
        answered_at=now,
        response_ms=max(0, round((now - served_at).total_seconds() * 1000)),
    )
    db.add(comparison)
    reader.state = state.to_json()
    reader.pending, reader.pending_uid = None, None
    reader.answered += 1
    reader.version += 1
    reader.updated_at = now
    reader.recent_ms = [*(reader.recent_ms or [])[1 - RECENT_ANSWERS :], comparison.response_ms]
    return comparison


# --- undo -----------------------------------------------------------------------------------


@dataclass
class Undone:
    comparison: MaskingComparison
    served: Served


def undo_last(db: Session, project: MaskingProject, user: User) -> Undone:
    """Take back the reader's latest answer not yet undone, and exactly its effect."""
    reader = _locked(db, reader_of(db, project, user))
    last = db.scalar(
        select(MaskingComparison)
        .where(
            MaskingComparison.project_id == project.id,
            MaskingComparison.user_id == user.id,
            MaskingComparison.id.not_in(
                select(MaskingUndo.comparison_id).where(MaskingUndo.project_id == project.id)
            ),
        )
        .order_by(MaskingComparison.id.desc())
        .limit(1)
    )
    if last is None:
        raise Conflict("There is no answer to undo.", code="nothing_to_undo")
    state = search.ReaderState.from_json(reader.state)
    if last.kind == SEARCH:
        assert last.search_before is not None
        before = search.Current.from_json(last.search_before)
        outcome = search.Outcome(last.outcome, last.outcome_position)
        state = search.undo(state, setup_for(project, reader), before, outcome)
    db.add(MaskingUndo(comparison_id=last.id, project_id=project.id, user_id=user.id))
    reader.state = state.to_json()
    reader.answered -= 1
    reader.finished_at = None
    reader.updated_at = now = utcnow()
    _make_pending(reader, _pending_of(last), now)
    served = _shown(db, project, _serve(db, project, reader, restart_clock=False))
    db.commit()
    return Undone(last, served)


def _pending_of(comparison: MaskingComparison) -> dict[str, Any]:
    """The pair an answer was given to, to show it again after an undo (a probe too)."""
    pair = search.Pair(
        query=comparison.query_pk,
        reference=comparison.reference_pk,
        position=comparison.reference_position,
        phase=comparison.phase,
        attempt=comparison.attempt,
        low=comparison.interval_low,
        high=comparison.interval_high,
        query_side=comparison.query_side,
    )
    return _pending(comparison.kind, pair, comparison.rule, comparison.probe_of)


# --- progress -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    total: int
    placed: int
    remaining: int
    discarded: int
    reported: int
    comparisons: int
    median_seconds: float | None


def progress(project: MaskingProject, reader: MaskingReader) -> Progress:
    state = search.ReaderState.from_json(reader.state)
    if project.mode == search.FULL_SORT:
        placed = len(state.order) - len(project.seed_list)
    else:
        placed = len(state.placed) - sum(len(level) for level in reader.level_seeds or ())
    remaining = len(state.queue) + (1 if state.current else 0)
    total = placed + remaining + len(state.discarded) + len(state.reported)
    recent = reader.recent_ms or []
    pace = round(statistics.median(recent) / 1000, 2) if recent else None
    return Progress(
        total=total,
        placed=placed,
        remaining=remaining,
        discarded=len(state.discarded),
        reported=len(state.reported),
        comparisons=reader.answered,
        median_seconds=pace,
    )


def images_by_pk(db: Session, pks: Iterable[int]) -> dict[int, Image]:
    wanted = set(pks)
    if not wanted:
        return {}
    statement = select(Image).where(Image.id.in_(wanted)).options(joinedload(Image.study))
    return {image.id: image for image in db.scalars(statement)}
