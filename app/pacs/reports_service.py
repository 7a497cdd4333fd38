"""Reads back to the PACS: a project study's final label and each read as DICOM SR and GSPS,
downloaded as a zip or sent with STOW-RS to a configured DICOMweb source.

For administrators only (the routes check): a reader never gets another reader's read. The
objects reference the stored pseudonymised images (their Study, Series and SOP Instance UIDs,
the woman's pseudonymous key, the shifted dates). Writing against the original UIDs is not
offered: MammoRead keeps no mapping back to them, by design.

What the PACS answers to a STOW-RS request is about MammoRead's own objects (their UIDs and
DICOM failure reasons), so a refusal is reported in full; a PACS that cannot be reached or
refuses the credentials is a :class:`PacsError` (424) naming the problem.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from xml.etree.ElementTree import ParseError, fromstring

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.web import _load_xml_dataset
from pydicom import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.core.config import Settings
from app.core.database import begin_write
from app.core.errors import Conflict
from app.imaging.storage import BlobStore
from app.pacs import service
from app.pacs.dicomweb import Connection, Pacs, PacsError, answering
from app.pacs.gsps import build_gsps
from app.pacs.reports import Evidence, ReadToWrite, Role, completed
from app.pacs.sr import build_sr
from app.reading.models import ProjectStudy, ReadSubmission
from app.reading.rules.label import parse_label
from app.reading.service import projects
from app.reading.states import StudyStatus

SLOT_ROLES = {1: (Role.READER_1, "R1"), 2: (Role.READER_2, "R2"), 0: (Role.ARBITER, "Arbiter")}
FINAL_OBSERVER = "Final (consensus)"


class What(StrEnum):
    FINAL = "final"
    READS = "reads"
    ALL = "all"


@dataclass(frozen=True)
class Written:
    """One object to download or send: its name in the zip and the dataset."""

    name: str
    kind: str  # "SR" or "GSPS"
    role: str
    observer: str
    dataset: Dataset

    @property
    def sop_instance_uid(self) -> str:
        return str(self.dataset.SOPInstanceUID)

    def encoded(self) -> bytes:
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, self.dataset, enforce_file_format=True)
        return buffer.getvalue()


@dataclass(frozen=True)
class Built:
    project_study: ProjectStudy
    objects: list[Written]


def build(db: Session, store: BlobStore, project_id: int, study_id: str, what: What) -> Built:
    """The SR and GSPS of the study's final label and/or reads (``what``)."""
    project = projects.get_project(db, project_id)
    project_study = projects.get_project_study(db, project, study_id)
    reads = reads_to_write(db, project_study, what)
    evidence = evidence_of(store, project_study)
    objects: list[Written] = []
    folder = project_study.study.study_id
    for read in reads:
        for kind, dataset in (
            ("SR", build_sr(read, evidence, project_id)),
            ("GSPS", build_gsps(read, evidence, project_id)),
        ):
            objects.append(
                Written(
                    f"{folder}/{kind}-{read.file_stem}.dcm",
                    kind,
                    read.role.value,
                    read.observer,
                    dataset,
                )
            )
    return Built(project_study, objects)


@dataclass(frozen=True)
class StudyFacts:
    """What the page an admin sends a study from offers."""

    project_id: int
    study_id: str
    is_final: bool
    reads: int
    sources: list[tuple[int, str]]


def study_facts(db: Session, project_id: int, study_id: str) -> StudyFacts:
    project = projects.get_project(db, project_id)
    project_study = projects.get_project_study(db, project, study_id)
    return StudyFacts(
        project_id=project.id,
        study_id=project_study.study.study_id,
        is_final=is_final(project_study),
        reads=len(_reads(db, project_study)),
        sources=[(source.id, source.name) for source in service.list_sources(db)],
    )


def is_final(project_study: ProjectStudy) -> bool:
    return project_study.status == StudyStatus.FINAL and project_study.final_label is not None


def reads_to_write(db: Session, project_study: ProjectStudy, what: What) -> list[ReadToWrite]:
    """The final label (``final``), each submitted read (``reads``), or both (``all``).

    ``final`` on a study that is not final and ``reads`` on one without a read are refused
    (409); ``all`` needs one or the other."""
    final = is_final(project_study)
    if what == What.FINAL and not final:
        raise Conflict(
            f"Study {project_study.study.study_id} is not final "
            f"(it is {project_study.status.value}): it has no final label to send.",
            code="study_not_final",
        )
    wanted: list[ReadToWrite] = []
    if final and what in (What.FINAL, What.ALL):
        assert project_study.final_label is not None
        finalized = project_study.finalized_at.isoformat() if project_study.finalized_at else ""
        wanted.append(
            ReadToWrite(
                role=Role.FINAL,
                observer=FINAL_OBSERVER,
                label=parse_label(project_study.final_label),
                key=f"final:{finalized}:{project_study.final_source}",
                number=1,
                file_stem="final",
            )
        )
    if what in (What.READS, What.ALL):
        reads = _reads(db, project_study)
        if what == What.READS and not reads:
            raise Conflict(
                f"Study {project_study.study.study_id} has no submitted read yet.",
                code="no_reads",
            )
        wanted.extend(reads)
    if not wanted:
        raise Conflict(
            f"Study {project_study.study.study_id} has neither a final label nor a read yet.",
            code="no_reads",
        )
    return wanted


def _reads(db: Session, project_study: ProjectStudy) -> list[ReadToWrite]:
    submissions = db.scalars(
        select(ReadSubmission)
        .where(
            ReadSubmission.project_study_id == project_study.id,
            ReadSubmission.exclusion.is_(None),  # a case a reader excluded was not read
        )
        .order_by(ReadSubmission.submitted_at, ReadSubmission.id)
    ).all()
    seen: Counter[str] = Counter()
    reads = []
    for index, submission in enumerate(submissions, start=2):
        role, observer = SLOT_ROLES.get(submission.slot, (Role.READER_1, f"R{submission.slot}"))
        seen[observer] += 1
        if seen[observer] > 1:  # a second arbitration after a reopen, another session's read
            observer = f"{observer} {seen[observer]}"
        reads.append(
            ReadToWrite(
                role=role,
                observer=observer,
                label=parse_label(submission.label),
                key=f"read:{submission.id}",
                number=index,
                file_stem=observer.lower().replace(" ", "-"),
            )
        )
    return reads


def evidence_of(store: BlobStore, project_study: ProjectStudy) -> Evidence:
    """The study's stored (pseudonymised) images, headers only."""
    images: dict[str, Dataset] = {}
    laterality: dict[str, str] = {}
    for image in project_study.study.images:
        images[image.image_id] = completed(_header(store, image.file_key))
        if image.laterality:
            laterality[image.image_id] = image.laterality
    if not images:
        raise Conflict(
            f"Study {project_study.study.study_id} has no stored image to refer to.",
            code="no_images",
        )
    return Evidence(images, laterality)


def _header(store: BlobStore, key: str) -> Dataset:
    """A stored file's header: read from its file when the store is local (a mammogram's
    pixels are tens of megabytes, never loaded), else from its bytes."""
    path = store.local_path(key)
    if path is not None:
        return pydicom.dcmread(path, stop_before_pixels=True)
    return pydicom.dcmread(io.BytesIO(store.get(key)), stop_before_pixels=True)


def zipped(objects: Sequence[Written]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for written in objects:
            archive.writestr(written.name, written.encoded())
    return buffer.getvalue()


def record_download(db: Session, actor: Actor, built: Built, what: What) -> None:
    begin_write(db)
    record(
        db,
        actor,
        "pacs.reports_downloaded",
        object_type="project_study",
        object_id=built.project_study.id,
        what=what.value,
        objects=len(built.objects),
    )
    db.commit()


# --- STOW-RS --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectSent:
    name: str
    kind: str
    role: str
    sop_instance_uid: str
    stored: bool
    reason: str | None = None  # a failure or warning reason, as the PACS gave it


@dataclass(frozen=True)
class SendResult:
    source_id: int
    source_name: str
    host: str
    objects: list[ObjectSent] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return sum(1 for sent in self.objects if sent.stored)


def send(
    db: Session,
    settings: Settings,
    store: BlobStore,
    actor: Actor,
    project_id: int,
    study_id: str,
    source_id: int,
    what: What,
) -> SendResult:
    """Build the objects and STOW them to the source; a refusal raises a :class:`PacsError`
    listing what the PACS refused and why (and what it stored)."""
    source = service.get_source(db, source_id)
    link = service.connection(source, settings)
    stow_url = (source.stow_root or source.base_url).rstrip("/")
    source_name = source.name
    built = build(db, store, project_id, study_id, what)
    project_study_id = built.project_study.id
    db.rollback()  # no transaction held while waiting for the PACS
    pacs = Pacs(link)
    try:
        client = DICOMwebClient(
            stow_url,
            session=pacs.session,
            timeout=(min(5.0, link.timeout), link.timeout),
        )
        answer = stow(client, link, [written.dataset for written in built.objects])
    finally:
        pacs.close()
    result = SendResult(source_id, source_name, link.host, _outcomes(built.objects, answer))
    begin_write(db)
    record(
        db,
        actor,
        "pacs.reports_sent",
        object_type="project_study",
        object_id=project_study_id,
        source=source_id,
        what=what.value,
        objects=len(result.objects),
        stored=result.stored,
    )
    db.commit()
    refused = [sent for sent in result.objects if not sent.stored]
    if refused:
        raise _refused(link.host, None, result.objects)
    return result


def stow(
    client: DICOMwebClient,
    link: Connection,
    datasets: list[Dataset],
    study_uid: str | None = None,
) -> Dataset:
    """STOW-RS the datasets (to the study's URL when ``study_uid`` is given): the PACS's
    answer, or a :class:`PacsError` (``pacs_refused`` with the PACS's reasons when it
    answered a refusal)."""
    with answering(link):
        try:
            return client.store_instances(datasets, study_instance_uid=study_uid)
        except requests.HTTPError as error:
            answer = _answer_of(error.response)
            if answer is not None and "FailedSOPSequence" in answer:
                status = error.response.status_code if error.response is not None else None
                raise _refused(link.host, status, _outcomes_of(datasets, answer)) from None
            raise


def _answer_of(response: requests.Response | None) -> Dataset | None:
    """The STOW-RS answer (a DICOM JSON or XML dataset) carried by an error, if any; by its
    content type, else by its first character (Orthanc sends its JSON without a type)."""
    if response is None or not response.content:
        return None
    content_type = response.headers.get("Content-Type", "")
    start = response.content.lstrip()[:1]
    try:
        if "json" in content_type or start in (b"{", b"["):
            return Dataset.from_json(response.json())
        if "xml" in content_type or start == b"<":
            return _load_xml_dataset(fromstring(response.content))  # noqa: S314 - our PACS
    except (ValueError, KeyError, TypeError, AttributeError, ParseError):
        return None
    return None


def _outcomes(objects: Sequence[Written], answer: Dataset) -> list[ObjectSent]:
    failed = _reasons(answer, "FailedSOPSequence", "FailureReason")
    warned = _reasons(answer, "ReferencedSOPSequence", "WarningReason")
    referenced = {uid for uid, _ in _items(answer, "ReferencedSOPSequence")}
    outcomes = []
    for written in objects:
        uid = written.sop_instance_uid
        if uid in failed:
            stored, reason = False, failed[uid]
        elif uid in referenced or not failed:
            stored, reason = True, warned.get(uid)
        else:
            stored, reason = False, "not in the PACS's answer"
        outcomes.append(ObjectSent(written.name, written.kind, written.role, uid, stored, reason))
    return outcomes


def _outcomes_of(datasets: Sequence[Dataset], answer: Dataset) -> list[ObjectSent]:
    objects = [Written(str(ds.SOPInstanceUID), str(ds.Modality), "", "", ds) for ds in datasets]
    return _outcomes(objects, answer)


def _items(answer: Dataset, sequence: str) -> list[tuple[str, Dataset]]:
    return [
        (str(item.get("ReferencedSOPInstanceUID", "")), item)
        for item in answer.get(sequence, None) or []
    ]


def _reasons(answer: Dataset, sequence: str, attribute: str) -> dict[str, str]:
    reasons = {}
    for uid, item in _items(answer, sequence):
        code = item.get(attribute)
        if code is not None:
            reasons[uid] = f"0x{int(code):04X} {STOW_REASONS.get(int(code), '')}".strip()
        elif sequence == "FailedSOPSequence":
            reasons[uid] = "refused (no reason given)"
    return reasons


# PS3.18 Table I.2-3 / PS3.4 Annex B failure and warning reasons most PACSs give
STOW_REASONS = {
    0xA700: "out of resources",
    0xA900: "data set does not match SOP class",
    0xC000: "cannot understand",
    0xC122: "referenced transfer syntax not supported",
    0x0110: "processing failure",
    0x0122: "referenced SOP class not supported",
    0xB000: "coercion of data elements",
    0xB007: "data set does not match SOP class (stored anyway)",
    0xB006: "elements discarded",
}


def _refused(host: str, status: int | None, outcomes: list[ObjectSent]) -> PacsError:
    refused = [sent for sent in outcomes if not sent.stored]
    stored = len(outcomes) - len(refused)
    http = f" (HTTP {status})" if status else ""
    error = PacsError(
        f"The PACS at {host} refused {len(refused)} of {len(outcomes)} objects{http}; "
        f"{stored} stored. Its reasons are listed in the details.",
        code="pacs_refused",
    )
    error.details = [
        {
            "object": sent.name,
            "sop_instance_uid": sent.sop_instance_uid,
            "stored": sent.stored,
            "reason": sent.reason,
        }
        for sent in outcomes
    ]
    return error
