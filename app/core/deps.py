"""Request dependencies every domain uses: the database session of the request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.core.database import session_scope


def get_db(request: Request) -> Iterator[Session]:
    yield from session_scope(request.app.state.session_factory)


Db = Annotated[Session, Depends(get_db)]
