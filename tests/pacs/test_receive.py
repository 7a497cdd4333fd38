"""``mammoread receive``, as an administrator runs it: the real command in a process of its
own, on a freshly migrated database, pushed to with dcmtk's ``storescu`` and ``echoscu``; then
the receiver started in-process (a batch that cannot be written), the command's refusals to
start, and the C-STORE answers directly."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner
from pydicom.uid import JPEG2000Lossless
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.cli import main
from app.core.config import Settings
from app.core.database import make_engine, make_session_factory
from app.imaging.importer import Outcome
from app.imaging.kit import ImagingKit
from app.imaging.models import Image, ImportBatch, Study
from app.imaging.states import ImportChannel, OutcomeStatus
from app.imaging.storage import LocalStore
from app.imaging.synthetic import PHI_VALUES, ExamOptions, synthetic_exam
from app.pacs.receive import (
    CANNOT_UNDERSTAND,
    NOT_THIS_SOP_CLASS,
    OUT_OF_RESOURCES,
    SUCCESS,
    ReceiveConfig,
    Receiver,
    answer_for,
    printable,
    syntaxes_offered,
    wrong_modality,
)
from tests.helpers import test_settings
from tests.imaging.helpers import SMALL, dataset_bytes

REPOSITORY = Path(__file__).resolve().parents[2]
ALLOWED = "MODALITY"
STARTUP_SECONDS = 60.0


# --- the receiver, in a process of its own --------------------------------------------------


@dataclass
class Running:
    """A running ``mammoread receive`` and where it logs."""

    process: subprocess.Popen[str]
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text()


def _environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "MAMMOREAD_DATA_DIR": str(settings.data_dir),
        "MAMMOREAD_DATABASE_URL": settings.resolved_database_url,
        "MAMMOREAD_SECRET_KEY": "test-secret-key-not-for-production",
        "MAMMOREAD_RECEIVE_ALLOWED_AE_TITLES": f"{ALLOWED}, PACS",
    }


def _announced_port(process: subprocess.Popen[str]) -> int:
    """The port the receiver prints once it listens ("Receiving as ... on host:port")."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            assert line, "the receiver exited before listening"
            if line.startswith("Receiving as"):
                return int(line.rsplit(":", 1)[1])
        assert process.poll() is None, "the receiver exited before listening"
    raise AssertionError("the receiver did not start listening in time")


@pytest.fixture
def receiver(settings: Settings, tmp_path: Path) -> Iterator[Running]:
    """``mammoread receive --port 0`` on the test's database; stopped with SIGTERM, which
    must end it cleanly."""
    log = tmp_path / "receive.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "receive", "--port", "0"],
            cwd=REPOSITORY,
            env=_environment(settings),
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
    try:
        running = Running(process, _announced_port(process), log)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert code == 0, log.read_text()
    assert "receiver stopped" in log.read_text()


# --- pushing ---------------------------------------------------------------------------------


def store(
    port: int, files: list[Path], *options: str, calling: str = ALLOWED
) -> subprocess.CompletedProcess[str]:
    """dcmtk's storescu pushing ``files`` (verbose: it prints each response)."""
    command = ["storescu", "-v", "-aet", calling, "-aec", "MAMMOREAD", *options]
    command += ["127.0.0.1", str(port), *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def echo(
    port: int, calling: str = ALLOWED, called: str = "MAMMOREAD"
) -> subprocess.CompletedProcess[str]:
    command = ["echoscu", "-v", "-aet", calling, "-aec", called, "127.0.0.1", str(port)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def exam_on_disk(folder: Path, seed: int, **options: object) -> list[Path]:
    """A small synthetic four-view exam written as DICOM files."""
    datasets, _ = synthetic_exam(seed, ExamOptions(**{**SMALL, **options}))
    return [
        _written(folder / f"{seed}-{ds.ImageLaterality}-{ds.ViewPosition}.dcm", ds)
        for ds in datasets
    ]


def _written(path: Path, dataset: pydicom.Dataset) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dataset_bytes(dataset))
    return path


# --- reading the database ---------------------------------------------------------------------


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as db:
        yield db
    engine.dispose()


def finished_batches(db: Session, count: int) -> list[ImportBatch]:
    """The finished import batches, once there are ``count`` (a batch finishes just after its
    association is released, so just after the sender returned)."""
    deadline = time.monotonic() + 30
    while True:
        db.expire_all()
        batches = db.scalars(
            select(ImportBatch).where(ImportBatch.finished_at.is_not(None)).order_by(ImportBatch.id)
        ).all()
        if len(batches) >= count or time.monotonic() > deadline:
            assert len(batches) == count, [b.outcomes for b in batches]
            return list(batches)
        time.sleep(0.1)


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


# --- the tests ---------------------------------------------------------------------------------


def test_pushed_exams_are_imported_like_uploads_and_only_once(
    receiver: Running, session: Session, settings: Settings, tmp_path: Path
) -> None:
    plain = exam_on_disk(
        tmp_path / "push", 1, with_phi=True, patient_id="P-4711", study_date="20240102"
    )
    compressed = exam_on_disk(
        tmp_path / "push", 2, transfer_syntax=JPEG2000Lossless, accession_number="A-2"
    )

    first = store(receiver.port, plain)
    assert first.returncode == 0, first.stdout + first.stderr
    # -xv: storescu proposes JPEG 2000 lossless, which the receiver prefers to uncompressed
    second = store(receiver.port, compressed, "-xv")
    assert second.returncode == 0, second.stdout + second.stderr

    batches = finished_batches(session, 2)
    for batch in batches:
        assert batch.channel == ImportChannel.RECEIVE
        assert batch.actor_name == f"DICOM push from {ALLOWED}@127.0.0.1"
        assert (batch.imported, batch.already_present, batch.rejected) == (4, 0, 0)
    assert count(session, Study) == 2
    images = session.scalars(select(Image)).all()
    assert len(images) == 8
    syntaxes = {image.import_batch_id: image.transfer_syntax for image in images}
    assert syntaxes[batches[1].id] == JPEG2000Lossless  # kept as sent, not decompressed

    # pseudonymised like an upload: new identifiers, no identifying value in the stored files
    originals = {pydicom.dcmread(path).StudyInstanceUID for path in plain + compressed}
    assert not originals & set(session.scalars(select(Study.study_id)))
    store_ = LocalStore(settings.data_dir)
    for image in images:
        stored = store_.get(image.file_key)
        assert not any(value.encode() in stored for value in PHI_VALUES)

    # the same images again: success, and nothing changes
    again = store(receiver.port, plain)
    assert again.returncode == 0, again.stdout + again.stderr
    repeated = finished_batches(session, 3)[2]
    assert (repeated.imported, repeated.already_present, repeated.rejected) == (0, 4, 0)
    assert count(session, Image) == 8
    audited = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "images.imported")
    ).all()
    assert [event.object_id for event in audited] == [
        str(b.id) for b in finished_batches(session, 3)
    ]
    assert {event.ip_address for event in audited} == {"127.0.0.1"}


def test_refused_images_get_a_failure_status_and_are_not_stored(
    receiver: Running, session: Session, tmp_path: Path
) -> None:
    datasets, _ = synthetic_exam(5, ExamOptions(**SMALL))
    datasets[0].Modality = "CT"
    not_mammography = _written(tmp_path / "ct.dcm", datasets[0])
    for_processing = exam_on_disk(tmp_path, 6, presentation_intent="FOR PROCESSING")[0]

    # -d: storescu prints the whole response, its Error Comment included
    refused = store(receiver.port, [not_mammography], "-d")
    assert refused.returncode != 0
    said = refused.stderr + refused.stdout
    assert "0xa900: Error: Data Set does not match SOP Class" in said
    assert "[Modality CT is not accepted here (accepted: MG).] #  48, 1 ErrorComment" in said
    raw = store(receiver.port, [for_processing], "-d")
    assert raw.returncode != 0
    said = raw.stderr + raw.stdout
    assert "0xc000: Error: Cannot understand" in said
    assert "[A 'for processing' image (raw detector data) is not for reading.]" in said

    batches = finished_batches(session, 2)
    assert [(b.imported, b.rejected) for b in batches] == [(0, 1), (0, 1)]
    reasons = [b.outcomes[0]["reason"] for b in batches]
    assert "Modality CT is not accepted" in reasons[0]
    assert "'for processing'" in reasons[1]
    assert all(b.outcomes[0]["status"] == OutcomeStatus.REJECTED for b in batches)
    assert count(session, Image) == 0
    assert count(session, Study) == 0
    log = receiver.log_text()
    assert "refused with status 0xA900: Modality CT is not accepted" in log
    assert "refused with status 0xC000: A 'for processing' image" in log


def test_only_allowed_calling_ae_titles_may_associate(
    receiver: Running, session: Session, tmp_path: Path
) -> None:
    answered = echo(receiver.port)
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert echo(receiver.port, calling="PACS").returncode == 0  # the second listed title

    stranger = echo(receiver.port, calling="STRANGER")
    assert stranger.returncode != 0
    assert "Calling AE Title Not Recognized" in stranger.stdout + stranger.stderr
    pushed = store(receiver.port, exam_on_disk(tmp_path, 3), calling="STRANGER")
    assert pushed.returncode != 0
    misaddressed = echo(receiver.port, called="SOMEONEELSE")
    assert "Called AE Title Not Recognized" in misaddressed.stdout + misaddressed.stderr

    log = receiver.log_text()
    assert "refused an association from AE 'STRANGER' at 127.0.0.1:" in log
    assert "calling AE title not recognised" in log
    assert "(called 'SOMEONEELSE'): called AE title not recognised" in log
    # nothing imported, and an association that only echoes leaves no empty batch
    assert count(session, ImportBatch) == 0
    assert count(session, Image) == 0


def test_a_push_running_at_shutdown_is_finished_first(
    receiver: Running, session: Session, tmp_path: Path
) -> None:
    files = [path for seed in (7, 8, 9, 10) for path in exam_on_disk(tmp_path, seed)]
    command = ["storescu", "-aet", ALLOWED, "-aec", "MAMMOREAD", "127.0.0.1"]
    pusher = subprocess.Popen([*command, str(receiver.port), *map(str, files)])
    try:
        deadline = time.monotonic() + 30
        while "C-STORE" not in receiver.log_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        receiver.process.send_signal(signal.SIGTERM)  # while the association runs
        assert receiver.process.wait(timeout=30) == 0
        assert pusher.wait(timeout=60) == 0
    finally:
        if pusher.poll() is None:
            pusher.kill()
    log = receiver.log_text()
    assert log.index("SIGTERM: stopping") < log.index("ended: import batch")
    batch = finished_batches(session, 1)[0]
    assert (batch.imported, batch.rejected) == (16, 0)
    assert count(session, Image) == 16
    assert echo(receiver.port).returncode != 0  # no longer listening


def test_a_batch_that_cannot_be_kept_asks_the_sender_to_retry(
    tmp_path: Path, empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """In-process this time (``Receiver.start`` and ``stop``), on a database without tables:
    the batch cannot be written, so the sender is told "out of resources" (retry later)
    rather than that its image was refused."""
    settings = test_settings(tmp_path / "var", empty_database_url)
    engine = make_engine(empty_database_url)
    config = ReceiveConfig.from_settings(settings, port=0, allowed=(ALLOWED,))
    receiver = Receiver(config, make_session_factory(engine), ImagingKit.from_settings(settings))
    _, port = receiver.start()
    try:
        pushed = store(port, exam_on_disk(tmp_path, 12)[:1], "-d")
    finally:
        receiver.stop(grace=5)
        engine.dispose()
    assert pushed.returncode != 0
    said = pushed.stdout + pushed.stderr
    assert "0xa700" in said
    assert "[The image could not be stored now (logged); retry.]" in said
    assert f"the import batch of DICOM push from {ALLOWED}@127.0.0.1 failed" in caplog.text


# --- refusing to start -------------------------------------------------------------------------


def _invoke(tmp_path: Path, *args: str, **env: str):
    environment = {
        "MAMMOREAD_DATA_DIR": str(tmp_path / "var"),
        "MAMMOREAD_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
        "MAMMOREAD_RECEIVE_ALLOWED_AE_TITLES": "",
        **env,
    }
    return CliRunner().invoke(main, ["receive", *args], env=environment)


def test_receive_refuses_to_start_without_an_allow_list(tmp_path: Path) -> None:
    result = _invoke(tmp_path)
    assert result.exit_code == 1
    assert "No calling AE title is allowed to push" in result.output
    assert "MAMMOREAD_RECEIVE_ALLOWED_AE_TITLES" in result.output


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--ae-title", "A_TITLE_FAR_TOO_LONG"), {"MAMMOREAD_RECEIVE_ALLOWED_AE_TITLES": "X"}),
        (("--allow", "BACK\\SLASH"), {}),
    ],
)
def test_receive_refuses_what_is_not_an_ae_title(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    result = _invoke(tmp_path, *args, **env)
    assert result.exit_code == 1
    assert "is not an AE title" in result.output


# --- the answers, directly -----------------------------------------------------------------------


def _outcome(status: OutcomeStatus, reason: str | None = None) -> Outcome:
    return Outcome("c-store-1.dcm", status, reason)


@pytest.mark.parametrize(
    ("outcome", "wrong", "code"),
    [
        (_outcome(OutcomeStatus.IMPORTED), False, SUCCESS),
        (
            _outcome(OutcomeStatus.ALREADY_PRESENT, "This image was imported before."),
            False,
            SUCCESS,
        ),
        (_outcome(OutcomeStatus.REJECTED, "Modality CT is not accepted"), True, NOT_THIS_SOP_CLASS),
        (_outcome(OutcomeStatus.REJECTED, "The DICOM file is damaged."), False, CANNOT_UNDERSTAND),
        (None, False, OUT_OF_RESOURCES),
    ],
)
def test_each_outcome_has_its_status(outcome: Outcome | None, wrong: bool, code: int) -> None:
    answer = answer_for(outcome, wrong)
    assert answer.Status == code
    assert ("ErrorComment" in answer) == (code != SUCCESS)


def test_only_a_stated_modality_not_accepted_is_the_wrong_one() -> None:
    datasets, _ = synthetic_exam(11, ExamOptions(**SMALL))
    mammogram = dataset_bytes(datasets[0])
    datasets[1].Modality = "CT"
    assert not wrong_modality(mammogram, frozenset({"MG"}))
    assert wrong_modality(dataset_bytes(datasets[1]), frozenset({"MG"}))
    assert not wrong_modality(b"not DICOM at all", frozenset({"MG"}))
    del datasets[2].Modality
    assert not wrong_modality(dataset_bytes(datasets[2]), frozenset({"MG"}))


def test_an_error_comment_fits_its_value_representation() -> None:
    answer = answer_for(_outcome(OutcomeStatus.REJECTED, "x\\y\n" + "z" * 100), False)
    assert len(answer.ErrorComment) == 64
    assert answer.ErrorComment.startswith("x?y?zz")
    assert answer.ErrorComment.endswith("...")
    assert printable("AE\x1b[31m") == "AE?[31m"


def test_the_lossless_and_uncompressed_syntaxes_are_offered_first() -> None:
    offered = [str(syntax) for syntax in syntaxes_offered()]
    expected = [
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
        "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
        "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
        "1.2.840.10008.1.2.4.57",  # JPEG lossless
    ]
    assert offered[:4] == expected
    assert {"1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"} <= set(offered)
    assert offered.index("1.2.840.10008.1.2") < offered.index("1.2.840.10008.1.2.4.50")


def test_receive_says_when_its_port_is_taken(tmp_path: Path, database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = _invoke(
            tmp_path,
            "--port",
            port,
            "--allow",
            ALLOWED,
            MAMMOREAD_DATABASE_URL=database_url,
        )
    assert result.exit_code == 1, result.output
    assert f"Cannot listen on 127.0.0.1:{port}: Address already in use." in result.output
