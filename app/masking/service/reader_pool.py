"""A project's readers: who reads, each reader's seed and (levels) seed images, the initial
search state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.models import User
from app.auth.users import active_users
from app.core.errors import Conflict, field_error
from app.masking import search
from app.masking.models import MaskingComparison, MaskingImage, MaskingProject, MaskingReader
from app.masking.service.lookup import project_images, readers, setup_for
from app.masking.states import ImageRole, SortMode


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
    added = pool_users(db, wanted - set(current))
    for reader in leaving:
        db.delete(reader)
    add_readers(db, project, added)
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


def pool_users(db: Session, user_ids: Iterable[int]) -> list[User]:
    """The active users ``user_ids``; a field error on ``reader_ids`` names any other."""
    return active_users(db, user_ids, "reader_ids", "add these readers")


def add_readers(db: Session, project: MaskingProject, users: Sequence[User]) -> None:
    """Each user joins with their seed, level seeds and initial search state."""
    queries = project_images(db, project, ImageRole.QUERY)
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
    if project.mode != SortMode.LEVELS:
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
        db.add(MaskingImage(project_id=project.id, image_pk=pk, role=ImageRole.SEED))
