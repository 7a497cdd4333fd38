"""Creating a masking project: its settings checked, its images chosen, its seeds and readers."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.core.errors import Conflict, field_error
from app.imaging.display import DisplayProtocol
from app.imaging.longitudinal import woman_key
from app.imaging.models import Image, Study
from app.masking import search
from app.masking.models import MaskingImage, MaskingProject
from app.masking.service.reader_pool import add_readers, pool_users
from app.masking.states import ImageRole, LevelRule, SortMode

# Which images of a woman a project takes (with the chosen view): one breast of her most
# recent exam (CSAW-M's "the most recent MLO per woman"), both breasts of it, or every exam.
PER_WOMAN = ("one", "both", "all")


@dataclass(frozen=True)
class NewProject:
    """A project as an admin describes it. Images are chosen by hex image id, or by study
    (all studies when none are named) and view, one breast per woman or both."""

    name: str
    mode: SortMode | str = SortMode.FULL_SORT  # as given: checked before anything is written
    instructions: str = ""
    level_rule: LevelRule | str = LevelRule.EXACT
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
    # one grey-scale function for both images of a pair (as given: checked before writing)
    display_protocol: DisplayProtocol | str = DisplayProtocol.WINDOW_LINEAR
    # at most one seed per woman (her patient key; a study without one is a woman of its
    # own); on unless a caller turns it off explicitly
    one_seed_per_woman: bool = True


def create_project(db: Session, actor: Actor, new: NewProject) -> MaskingProject:
    """Validate everything first, then write the project, its images and readers at once."""
    name = _checked_settings(db, new)
    seed_list = _images_by_id(db, new.seed_list, "seed_list")
    level_seeds = [
        _images_by_id(db, level, f"level_seeds.{n}") for n, level in enumerate(new.level_seeds, 1)
    ]
    _check_seeds(new, seed_list, level_seeds)
    if new.one_seed_per_woman:
        field_name = "seed_list" if new.mode == SortMode.FULL_SORT else "level_seeds"
        seeds_given = [*seed_list, *(image for level in level_seeds for image in level)]
        _check_one_seed_per_woman(seeds_given, field_name)
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
        mode=SortMode(new.mode),
        level_rule=LevelRule(new.level_rule),
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
        display_protocol=DisplayProtocol(new.display_protocol),
        selection=_selection_record(new),
        created_by=actor.user.id if actor.user else None,
    )
    db.add(project)
    db.flush()
    for image in queries:
        db.add(MaskingImage(project_id=project.id, image_pk=image.id, role=ImageRole.QUERY))
    for pk in sorted(seeds):
        db.add(MaskingImage(project_id=project.id, image_pk=pk, role=ImageRole.SEED))
    db.flush()
    add_readers(db, project, pool_users(db, new.reader_ids))
    record(
        db,
        actor,
        "masking.project_created",
        object_type="masking_project",
        object_id=project.id,
        name=name,
        mode=new.mode,
        display_protocol=project.display_protocol,
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
        ("mode", new.mode, tuple(SortMode)),
        ("level_rule", new.level_rule, tuple(LevelRule)),
        ("per_woman", new.per_woman, PER_WOMAN),
        ("view", new.view, ("MLO", "CC", "any")),
        ("display_protocol", new.display_protocol, tuple(DisplayProtocol)),
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
    if new.mode == SortMode.FULL_SORT:
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


def _woman(image: Image) -> str:
    """The woman an image is of: her patient key, or its study when it has none."""
    return woman_key(image.study.patient_key, image.study_pk)


def _check_one_seed_per_woman(seeds: list[Image], field_name: str) -> None:
    """Two seeds of one woman would anchor the scale twice on her breast tissue."""
    seen: dict[str, Image] = {}
    for image in seeds:
        other = seen.setdefault(_woman(image), image)
        if other.id != image.id:
            raise field_error(
                field_name,
                f"At most one seed per woman: images {other.image_id[:10]} and "
                f"{image.image_id[:10]} are of the same woman.",
            )


def _check_seed_source(db: Session, project_id: int | None) -> None:
    if project_id is None:
        return
    source = db.get(MaskingProject, project_id)
    if source is None or source.mode != SortMode.FULL_SORT:
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
    if new.per_woman == "all":
        return images
    latest = _latest_per_woman(images)
    if new.per_woman == "both":
        return latest
    by_study: dict[int, list[Image]] = {}
    for image in latest:
        by_study.setdefault(image.study_pk, []).append(image)
    return [
        choices[search.draw(order_seed, "breast", study) % len(choices)]
        for study, choices in by_study.items()
    ]


def _latest_per_woman(images: list[Image]) -> list[Image]:
    """The images of each woman's most recent exam (by shifted study date: intervals are
    exact; an exam without a date counts as older than any dated one, then by import)."""
    latest: dict[str, Study] = {}
    for image in images:
        study, woman = image.study, _woman(image)
        best = latest.get(woman)
        if best is None or _recency(study) > _recency(best):
            latest[woman] = study
    chosen = {study.id for study in latest.values()}
    return [image for image in images if image.study_pk in chosen]


def _recency(study: Study) -> tuple[int, int]:
    return (study.study_date.toordinal() if study.study_date else 0, study.id)


def _selection_record(new: NewProject) -> dict[str, Any]:
    if new.image_ids:
        return {"image_ids": len(new.image_ids)}
    return {"studies": len(new.study_ids) or "all", "view": new.view, "per_woman": new.per_woman}
