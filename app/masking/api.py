"""Masking API: projects and readers (admins), next pair, answers and undo (readers), results."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.auth.deps import AdminPrincipal, CurrentPrincipal, Db
from app.auth.models import User
from app.core.errors import ERROR_RESPONSES
from app.core.ids import Id
from app.imaging import access
from app.imaging.display import DisplayParams, DisplayProtocol, under_protocol
from app.imaging.models import Image
from app.imaging.schemas import ImageOut, WindowOut
from app.imaging.views import image_out
from app.masking import results, service
from app.masking.models import MaskingProject
from app.masking.schemas import (
    AnswerIn,
    AnswerOut,
    PairOut,
    ProgressOut,
    ProjectCreate,
    ProjectOut,
    ReadersIn,
    ResultsOut,
    UndoneOut,
    UndoOut,
)
from app.masking.states import ImageRole, OutcomeKind

router = APIRouter(prefix="/api/v1/masking", tags=["masking"], responses=ERROR_RESPONSES)
access.allow(service.can_view_study)


def project_out(db: Db, project: MaskingProject, reader: User | None = None) -> ProjectOut:
    """The project for an admin, or for ``reader``: readers do not see the probe settings
    (they would let them foresee probes), nor who else reads (only themselves)."""
    admin = reader is None
    seeds = service.project_images(db, project, ImageRole.SEED)
    images = service.images_by_pk(db, seeds)
    return ProjectOut(
        id=project.id,
        name=project.name,
        mode=project.mode,
        instructions=project.instructions,
        level_rule=project.level_rule,
        levels=project.levels,
        seeds_per_level=project.seeds_per_level,
        randomise_sides=project.randomise_sides,
        probe_share=project.probe_share if admin else None,
        probe_gap=project.probe_gap if admin else None,
        max_attempts=project.max_attempts,
        order_seed=project.order_seed if admin else None,
        derive_seeds_from=project.derive_seeds_from,
        display_protocol=project.display_protocol,
        images=service.image_count(db, project),
        seed_images=[images[pk].image_id for pk in seeds],
        readers=[
            r.user.username
            for r in service.readers(db, project)
            if reader is None or r.user_id == reader.id
        ],
        created_at=project.created_at,
    )


def pair_out(served: service.Served) -> PairOut:
    """The reply, from what the service read before its commit (no further queries)."""
    assert served.project is not None
    assert served.progress is not None
    project = served.project
    progress = ProgressOut(**served.progress.__dict__)
    if served.pending is None:
        return PairOut(done=True, project_id=project.id, progress=progress)
    pair, images = served.pending.pair, served.images
    shown = project.display_protocol
    return PairOut(
        done=False,
        project_id=project.id,
        comparison_id=served.pending.uid,
        query_image_id=images[pair.query].image_id,
        reference_image_id=images[pair.reference].image_id,
        query_side=pair.query_side,
        phase=pair.phase,
        interval=[pair.low, pair.high],
        attempt=pair.attempt,
        display_protocol=shown,
        images={
            "query": viewer_image(images[pair.query], shown),
            "reference": viewer_image(images[pair.reference], shown),
        },
        prefetch=[viewer_image(images[pk], shown) for pk in served.prefetch],
        progress=progress,
    )


def viewer_image(image: Image, protocol: DisplayProtocol = DisplayProtocol.HEADER) -> ImageOut:
    """The image for the comparison screen, its display data under the project's protocol (so
    that the viewer's own windowing applies the same function as the server's first paint)."""
    # QC flags are for admins; the comparison screen needs the display data only.
    out = image_out(image, [])
    if protocol != DisplayProtocol.HEADER:
        params = under_protocol(DisplayParams.from_json(image.display), protocol)
        out.display = params.to_json()
        out.voi_function = params.voi_function
        out.has_voi_lut = False
        out.presets = [
            WindowOut(index=i, center=w.center, width=w.width, explanation=w.explanation)
            for i, w in enumerate(params.windows)
        ]
    return out


@router.post("/projects", response_model=ProjectOut, status_code=status.HTTP_201_CREATED)
def create_project(body: ProjectCreate, principal: AdminPrincipal, db: Db) -> ProjectOut:
    """Create a masking project: images, seeds, mode and rule, readers, probes and seeds."""
    project = service.create_project(db, principal.actor, service.NewProject(**body.model_dump()))
    return project_out(db, project)


@router.get("/projects", response_model=list[ProjectOut])
def list_projects(principal: CurrentPrincipal, db: Db) -> list[ProjectOut]:
    """Every project for admins; the projects one reads in for everyone else."""
    user = None if principal.user.is_admin else principal.user
    return [project_out(db, p, user) for p in service.list_projects(db, user)]


@router.get("/projects/{project_id}", response_model=ProjectOut)
def get_project(project_id: Id, principal: CurrentPrincipal, db: Db) -> ProjectOut:
    project = service.get_project(db, project_id)
    if principal.user.is_admin:
        return project_out(db, project)
    service.reader_of(db, project, principal.user)
    return project_out(db, project, principal.user)


@router.put("/projects/{project_id}/readers", response_model=ProjectOut)
def set_readers(project_id: Id, body: ReadersIn, principal: AdminPrincipal, db: Db) -> ProjectOut:
    """Replace the reader pool; readers who have answered cannot be removed."""
    project = service.get_project(db, project_id)
    service.set_readers(db, principal.actor, project, body.user_ids)
    return project_out(db, project)


@router.get("/projects/{project_id}/next", response_model=PairOut)
def next_pair(project_id: Id, principal: CurrentPrincipal, db: Db) -> PairOut:
    """The pair waiting for the caller (the same one until answered), or done."""
    project = service.get_project(db, project_id)
    return pair_out(service.next_pair(db, project, principal.user))


@router.post("/comparisons/{comparison_id}", response_model=AnswerOut)
def answer(comparison_id: str, body: AnswerIn, principal: CurrentPrincipal, db: Db) -> AnswerOut:
    """Answer a pair; the reply carries the next pair. Repeating an answer applies it once."""
    done = service.answer_comparison(
        db, principal.user, comparison_id[:64], body.answer, body.reason, body.note
    )
    outcome = done.comparison.outcome
    return AnswerOut(
        comparison_id=done.comparison.uid,
        answer=done.comparison.answer,
        # probes stay blind
        outcome=OutcomeKind.CONTINUE if outcome == OutcomeKind.PROBE else outcome,
        replayed=done.replayed,
        next=pair_out(done.served),
    )


@router.post("/projects/{project_id}/undo", response_model=UndoOut)
def undo(project_id: Id, principal: CurrentPrincipal, db: Db) -> UndoOut:
    """Take back the caller's latest answer and exactly its effect."""
    project = service.get_project(db, project_id)
    undone = service.undo_last(db, project, principal.user)
    comparison = undone.comparison
    images = service.images_by_pk(db, [comparison.query_pk, comparison.reference_pk])
    return UndoOut(
        undone=UndoneOut(
            comparison_id=comparison.uid,
            answer=comparison.answer,
            query_image_id=images[comparison.query_pk].image_id,
            reference_image_id=images[comparison.reference_pk].image_id,
        ),
        next=pair_out(undone.served),
    )


@router.get("/projects/{project_id}/results", response_model=ResultsOut)
def project_results(project_id: Id, _: AdminPrincipal, db: Db) -> ResultsOut:
    """Each reader's order or levels, the median level per image, and agreement figures."""
    return results.project_results(db, service.get_project(db, project_id))
