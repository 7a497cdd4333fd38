"""Reader-study API for readers: the AI's help shown with a case in an aided session."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.deps import CurrentPrincipal
from app.core.deps import Db
from app.core.errors import ERROR_RESPONSES
from app.core.ids import Id
from app.studies import aid
from app.studies.aid import AidOut

router = APIRouter(prefix="/api/v1/studies", tags=["reader studies"], responses=ERROR_RESPONSES)


@router.get("/tasks/{task_id}/aid", response_model=AidOut)
def task_aid(task_id: Id, principal: CurrentPrincipal, db: Db) -> AidOut:
    """Your task's help in an aided session: the shown model's score per breast and its marks
    (boxes with scores), recorded as shown with your read. 409 ``not_aided`` for a reading in
    an unaided session (or a double reading); another reader's task is answered as missing."""
    return aid.aid_for_task(db, principal.user, task_id)
