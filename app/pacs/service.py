"""PACS sources and searches: the use cases behind the API and the page.

A source's secret is sealed (``app.pacs.credentials``) before it reaches the session and only
opened to sign in to the PACS. A search asks the PACS (QIDO-RS, studies level) once per pasted
patient id and accession number, merges the answers by Study Instance UID and stops at the cap;
its results go back to the administrator and nowhere else: neither stored nor logged, and the
audit event counts them without naming any.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.core.config import Settings
from app.core.database import begin_write, utcnow
from app.core.errors import Conflict, NotFound, field_error
from app.imaging.longitudinal import dicom_date
from app.pacs import credentials
from app.pacs.dicomweb import Connection, Pacs, value, values
from app.pacs.models import PacsRetrieval, PacsSource
from app.pacs.states import AuthKind, RetrievalStatus

URL_FIELDS = ("base_url", "qido_root", "wado_root", "stow_root")
MAX_URL = 500
MAX_SECRET = 4096
MAX_IDS = 500  # pasted patient ids (one query each), and accession numbers
MAX_QUERIES = 1000  # patient ids x accession numbers
STUDY_FIELDS = [
    "StudyInstanceUID",
    "StudyDate",
    "AccessionNumber",
    "PatientID",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
]


# --- sources --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceData:
    """A source as given (by the API or the page): text to be checked by :func:`_checked`.
    ``secret`` None keeps the stored one (an update) or stores none (a new source)."""

    name: str
    base_url: str
    qido_root: str | None = None
    wado_root: str | None = None
    stow_root: str | None = None
    auth_kind: AuthKind | str = AuthKind.NONE
    username: str | None = None
    secret: str | None = None


def list_sources(db: Session) -> list[PacsSource]:
    return list(db.scalars(select(PacsSource).order_by(PacsSource.name)))


def get_source(db: Session, source_id: int) -> PacsSource:
    source = db.get(PacsSource, source_id)
    if source is None:
        raise NotFound(f"There is no PACS source {source_id}.")
    return source


def create_source(db: Session, actor: Actor, settings: Settings, data: SourceData) -> PacsSource:
    begin_write(db)
    source = PacsSource(created_by=actor.user.id if actor.user else None)
    _apply(source, data, settings)
    db.add(source)
    _flush_named(db, source.name)
    record(
        db,
        actor,
        "pacs.source_created",
        object_type="pacs_source",
        object_id=source.id,
        name=source.name,
        url=source.base_url,
        auth=source.auth_kind,
    )
    db.commit()
    return source


def update_source(
    db: Session, actor: Actor, settings: Settings, source_id: int, changes: Mapping[str, Any]
) -> PacsSource:
    """Change the fields in ``changes`` (the others stay); a ``secret`` of None keeps the
    stored one, an empty one removes it."""
    begin_write(db)
    source = get_source(db, source_id)
    current = SourceData(
        name=source.name,
        base_url=source.base_url,
        qido_root=source.qido_root,
        wado_root=source.wado_root,
        stow_root=source.stow_root,
        auth_kind=source.auth_kind,
        username=source.username,
    )
    data = SourceData(**{**current.__dict__, **dict(changes)})
    hosts_before = _hosts(current)
    _apply(source, data, settings)
    if source.secret_encrypted and data.secret is None and _hosts(source) != hosts_before:
        raise field_error(
            "secret",
            "The source now points at another host: enter its password or token again (a "
            "stored secret is only ever sent to the host it was given for).",
        )
    source.updated_at = utcnow()
    _flush_named(db, source.name)
    changed = sorted(changes)  # the names only: never the secret
    record(
        db,
        actor,
        "pacs.source_updated",
        object_type="pacs_source",
        object_id=source.id,
        fields=changed,
    )
    db.commit()
    return source


def delete_source(db: Session, actor: Actor, source_id: int) -> None:
    begin_write(db)
    source = get_source(db, source_id)
    running = db.scalar(
        select(PacsRetrieval.id).where(
            PacsRetrieval.source_id == source.id,
            PacsRetrieval.status.in_(RetrievalStatus.open()),
        )
    )
    if running is not None:
        raise Conflict(
            f"Retrieval {running} from {source.name!r} is still running; wait for it to end.",
            code="pacs_source_busy",
        )
    record(
        db,
        actor,
        "pacs.source_deleted",
        object_type="pacs_source",
        object_id=source.id,
        name=source.name,
    )
    db.delete(source)
    db.commit()


def secret_set(source: PacsSource) -> bool:
    return bool(source.secret_encrypted)


def _flush_named(db: Session, name: str) -> None:
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise Conflict(
            f"A PACS source named {name!r} exists already.", code="pacs_source_exists"
        ) from None


def _apply(source: PacsSource, data: SourceData, settings: Settings) -> None:
    name = (data.name or "").strip()
    if not name or len(name) > 120:
        raise field_error("name", "Give the source a name of 1 to 120 characters.")
    urls = {f: _url(f, getattr(data, f), required=f == "base_url") for f in URL_FIELDS}
    try:
        kind = AuthKind(data.auth_kind)
    except ValueError:
        raise field_error(
            "auth_kind", f"The sign-in must be one of {', '.join(AuthKind)}."
        ) from None
    username = (data.username or "").strip() or None
    if username is not None and (len(username) > 255 or not _header_safe(username)):
        raise field_error("username", "The username is too long or holds control characters.")
    if data.secret is not None and (len(data.secret) > MAX_SECRET or not _header_safe(data.secret)):
        raise field_error(
            "secret",
            f"The password or token must be at most {MAX_SECRET} printable characters (Latin-1).",
        )
    sealed = source.secret_encrypted
    if data.secret is not None:
        sealed = credentials.vault(settings).seal(data.secret) if data.secret else None
    if kind == AuthKind.NONE:
        username, sealed = None, None
    elif kind == AuthKind.BASIC and (username is None or sealed is None):
        raise field_error(
            "username" if username is None else "secret",
            "HTTP Basic sign-in needs a username and a password.",
        )
    elif kind == AuthKind.BEARER:
        username = None
        if sealed is None:
            raise field_error("secret", "Bearer sign-in needs the token.")
    source.name = name
    source.base_url = urls["base_url"] or ""
    source.qido_root, source.wado_root = urls["qido_root"], urls["wado_root"]
    source.stow_root = urls["stow_root"]
    source.auth_kind, source.username, source.secret_encrypted = kind, username, sealed


def _url(field_name: str, text: str | None, *, required: bool) -> str | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise field_error(
                field_name, "Give the DICOMweb URL, e.g. https://pacs.example/dicom-web."
            )
        return None
    problem = None
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        parts, port, problem = None, None, "is not a valid URL"
    if parts is not None and problem is None:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "must start with http:// or https:// and name a host"
        elif parts.username is not None or parts.password is not None:
            problem = "must not hold credentials (give them in the sign-in fields)"
        elif parts.query or parts.fragment:
            problem = "must not hold a query (?...) or fragment (#...)"
        elif len(text) > MAX_URL:
            problem = f"is longer than {MAX_URL} characters"
        elif not text.isascii() or any(c.isspace() for c in text):
            problem = "holds spaces or characters that are not ASCII"
        elif port == 0:
            problem = "names port 0"
    if problem:
        raise field_error(field_name, f"The URL {problem}.")
    return text.rstrip("/")


def _hosts(source: SourceData | PacsSource) -> set[str]:
    urls = (source.base_url, source.qido_root, source.wado_root, source.stow_root)
    return {urlsplit(url.strip()).netloc.lower() for url in urls if url and url.strip()}


def _header_safe(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return text.isprintable()


def connection(source: PacsSource, settings: Settings) -> Connection:
    """How to reach the source, its secret opened (in memory only)."""
    secret = (
        credentials.vault(settings).open(source.secret_encrypted)
        if source.secret_encrypted
        else None
    )
    return Connection(
        base_url=source.base_url,
        qido_root=source.qido_root,
        wado_root=source.wado_root,
        auth_kind=source.auth_kind,
        username=source.username,
        secret=secret,
        timeout=settings.pacs_timeout_seconds,
    )


@dataclass(frozen=True)
class Checked:
    message: str
    milliseconds: int


def check_connection(db: Session, settings: Settings, source_id: int) -> Checked:
    """Ask the source for one study (QIDO-RS): a :class:`PacsError` naming the problem when
    it is unreachable, refuses the credentials or is not DICOMweb."""
    link = connection(get_source(db, source_id), settings)
    db.rollback()  # no transaction held while waiting for the PACS
    pacs = Pacs(link)
    start = time.perf_counter()
    try:
        pacs.search_studies({}, ["StudyInstanceUID"], limit=1, offset=0)
    finally:
        pacs.close()
    elapsed = round((time.perf_counter() - start) * 1000)
    return Checked(
        f"The PACS at {pacs.connection.host} answered a QIDO-RS search in {elapsed} ms.", elapsed
    )


# --- searching ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Criteria:
    """A search: modality (empty: any), a date range (either end open), and exact accession
    numbers and patient ids, each one query (merged)."""

    modality: str | None = "MG"
    date_from: date | None = None
    date_to: date | None = None
    accession_numbers: tuple[str, ...] = ()
    patient_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class StudyRow:
    study_uid: str
    study_date: date | None
    accession_number: str | None
    patient_id: str | None
    modalities: tuple[str, ...]
    series: int | None
    instances: int | None


@dataclass
class Found:
    studies: list[StudyRow] = field(default_factory=list)
    capped: bool = False
    cap: int = 0
    queries: int = 0
    message: str = ""


def pasted(text: str) -> tuple[str, ...]:
    """Ids pasted one a line (or separated by commas, semicolons or tabs), blanks dropped."""
    for separator in (",", ";", "\t", "\r"):
        text = text.replace(separator, "\n")
    return tuple(part.strip() for part in text.split("\n") if part.strip())


def search(
    db: Session, actor: Actor, settings: Settings, source_id: int, criteria: Criteria
) -> Found:
    source = get_source(db, source_id)
    filters = _filters(criteria)
    patients = _ids("patient_ids", criteria.patient_ids, "patient id")
    accessions = _ids("accession_numbers", criteria.accession_numbers, "accession number")
    queries = [(p, a) for p in (patients or [None]) for a in (accessions or [None])]
    if len(queries) > MAX_QUERIES:
        raise field_error(
            "patient_ids",
            f"{len(patients)} patient ids x {len(accessions)} accession numbers make "
            f"{len(queries)} queries; at most {MAX_QUERIES}: give one list or the other.",
        )
    link = connection(source, settings)
    db.rollback()  # no transaction held while waiting for the PACS
    cap = settings.pacs_search_cap
    found: dict[str, StudyRow] = {}
    pacs = Pacs(link)
    try:
        for patient, accession in queries:
            wanted = dict(filters)
            if patient is not None:
                wanted["PatientID"] = patient
            if accession is not None:
                wanted["AccessionNumber"] = accession
            _collect(pacs, wanted, found, cap + 1)
            if len(found) > cap:
                break
    finally:
        pacs.close()
    rows = sorted(found.values(), key=_order)
    result = Found(rows[:cap], len(rows) > cap, cap, len(queries))
    result.message = (
        f"More than {cap} studies match: only {cap} are shown. Narrow the search (a shorter "
        "date range, accession numbers or patient ids)."
        if result.capped
        else f"{len(rows)} {'study matches' if len(rows) == 1 else 'studies match'}."
    )
    begin_write(db)
    record(
        db,
        actor,
        "pacs.searched",
        object_type="pacs_source",
        object_id=source_id,
        # what kind of search, never its values (patient ids and accessions are PHI)
        modality=criteria.modality or "any",
        dated=criteria.date_from is not None or criteria.date_to is not None,
        patient_ids=len(patients),
        accession_numbers=len(accessions),
        found=len(result.studies),
        capped=result.capped,
    )
    db.commit()
    return result


def _order(row: StudyRow) -> tuple[Any, ...]:
    return (row.patient_id or "", row.study_date or date.min, row.study_uid)


def _filters(criteria: Criteria) -> dict[str, str]:
    filters: dict[str, str] = {}
    modality = (criteria.modality or "").strip().upper()
    if modality:
        if len(modality) > 16 or not modality.replace("_", "").isalnum() or not modality.isascii():
            raise field_error("modality", "A modality is a short code such as MG.")
        filters["ModalitiesInStudy"] = modality
    start, end = criteria.date_from, criteria.date_to
    if start and end and start > end:
        raise field_error("date_to", "The range ends before it starts.")
    if start or end:
        filters["StudyDate"] = (
            f"{start.strftime('%Y%m%d') if start else ''}-{end.strftime('%Y%m%d') if end else ''}"
        )
    return filters


def _ids(field_name: str, given: Iterable[str], what: str) -> list[str]:
    ids: list[str] = []
    for raw in given:
        text = raw.strip()
        if not text:
            continue
        if len(text) > 64 or any(c in text for c in "*?\\") or not text.isprintable():
            raise field_error(
                field_name,
                f"A {what} is at most 64 characters, without wildcards (* ?) or backslashes.",
            )
        if text not in ids:
            ids.append(text)
    if len(ids) > MAX_IDS:
        raise field_error(field_name, f"At most {MAX_IDS} {what}s per search.")
    return ids


def _collect(pacs: Pacs, filters: dict[str, str], found: dict[str, StudyRow], enough: int) -> None:
    """One query's answers until they end or ``enough`` studies are found. All that is still
    wanted is asked for at once: some servers (Orthanc with filters) do not page reliably. A
    server that cuts its answer short says so (a Warning header): then the next page."""
    offset = 0
    while len(found) < enough:
        wanted = enough - len(found)
        page, truncated = pacs.search_studies(filters, STUDY_FIELDS, limit=wanted, offset=offset)
        new = 0
        for item in page:
            row = _row(item)
            if row is not None and row.study_uid not in found:
                found[row.study_uid] = row
                new += 1
        if not new or (len(page) < wanted and not truncated):
            return  # the end (or a server repeating itself)
        offset += len(page)


def _row(item: dict[str, Any]) -> StudyRow | None:
    uid = value(item, "0020000D")
    if not uid:
        return None
    return StudyRow(
        study_uid=str(uid),
        study_date=dicom_date(str(value(item, "00080020") or "")),
        accession_number=_text(value(item, "00080050")),
        patient_id=_text(value(item, "00100020")),
        modalities=tuple(str(m) for m in values(item, "00080061")),
        series=_count(value(item, "00201206")),
        instances=_count(value(item, "00201208")),
    )


def _text(raw: Any) -> str | None:
    return str(raw)[:64] if raw not in (None, "") else None


def _count(raw: Any) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None
