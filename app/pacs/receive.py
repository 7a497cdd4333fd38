"""``mammoread receive``: a DICOM storage SCP that modalities and the PACS push studies to.

What it accepts is decided in three places, so that a pushed image gets no easier way in than
an uploaded one:

* the association: only calling AE titles on the allow-list, addressed to our own AE title
  (anything else is refused with A-ASSOCIATE-RJ and logged with the AE and the peer); an empty
  allow-list starts nothing (a receiver open to every sender must be asked for by listing it);
* the presentation contexts: Verification (C-ECHO) and the storage SOP classes mammography
  arrives as, in the transfer syntaxes the import can decode;
* each C-STORE: the one import path (``app.imaging.importer``), one import batch per
  association (``receive_batch``), with its pseudonymisation, checks and idempotence. The
  answer is success for an image imported or already present, a failure status naming the
  reason otherwise.
"""

from __future__ import annotations

import io
import logging
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import pydicom
from pydicom import Dataset
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import (
    ComputedRadiographyImageStorage,
    DigitalMammographyXRayImageStorageForPresentation,
    DigitalMammographyXRayImageStorageForProcessing,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer
from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import Actor
from app.core.config import Settings
from app.imaging.dicom import decoding_plugin
from app.imaging.importer import Outcome, Source
from app.imaging.kit import ImagingKit
from app.imaging.states import OutcomeStatus
from app.pacs.receive_batch import AssociationBatch

log = logging.getLogger(__name__)

# Mammography arrives as MG, and from older or generic units as DX or CR objects whose Modality
# is still MG: the import's modality policy decides, with a reason the sender is told. The "for
# processing" classes are accepted as contexts so that such an image is answered with the
# import's reason (or imported, flagged, when the policy accepts them) rather than an opaque
# refusal of the context. Multi-frame tomosynthesis is not imported (yet): not offered.
STORAGE_CLASSES = (
    DigitalMammographyXRayImageStorageForPresentation,
    DigitalMammographyXRayImageStorageForProcessing,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    ComputedRadiographyImageStorage,
)
# Offered only when this installation can decode them (``decoding_plugin``): a sender able to
# convert then picks one the import reads, instead of sending an image refused afterwards.
# In order of preference (pynetdicom takes the acceptor's first that the sender proposes):
# lossless compression (exact pixels, smaller transfers and stored files), uncompressed, and
# lossy only when the sender offers nothing else.
WANTED_SYNTAXES = (
    JPEG2000Lossless,
    JPEGLSLossless,
    JPEGLosslessSV1,
    JPEGLossless,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    RLELossless,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGLSNearLossless,
    JPEG2000,
    HTJ2K,
    JPEGExtended12Bit,
    JPEGBaseline8Bit,
)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # "refused: out of resources": the sender may try again later
NOT_THIS_SOP_CLASS = 0xA900  # "data set does not match SOP class": not an accepted modality
CANNOT_UNDERSTAND = 0xC000  # any other refusal of the import, with its reason
ERROR_COMMENT_LENGTH = 64  # Error Comment is LO
STOP_GRACE_SECONDS = 8.0  # running associations may finish (docker stop waits 10 s)
REJECT_REASONS = {
    (0x01, 0x03): "calling AE title not recognised",
    (0x01, 0x07): "called AE title not recognised",
    (0x03, 0x02): "too many associations at once",
}
_AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")  # printable ASCII without backslash


class ReceiveConfigError(ValueError):
    """The receiver cannot start as configured (no sender allowed, not an AE title, the port
    taken); the message says what to change."""


def syntaxes_offered() -> list[UID]:
    """The transfer syntaxes accepted for storage: those the import can decode here."""
    return [syntax for syntax in WANTED_SYNTAXES if decoding_plugin(syntax) is not None]


@dataclass(frozen=True)
class ReceiveConfig:
    """Where and as whom the receiver listens, and whom it takes studies from."""

    ae_title: str
    host: str
    port: int
    allowed: tuple[str, ...]
    max_pdu: int
    max_associations: int

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        ae_title: str | None = None,
        host: str | None = None,
        port: int | None = None,
        allowed: tuple[str, ...] = (),
    ) -> ReceiveConfig:
        """The settings, with what the command line gave instead; checked, as the receiver
        refuses to start rather than run open or under a title peers cannot address."""
        listed = allowed or tuple(settings.receive_allowed_ae_titles.split(","))
        config = cls(
            ae_title=_ae_title(ae_title or settings.receive_ae_title, "the receiver's AE title"),
            host=host or settings.receive_host,
            port=settings.receive_port if port is None else port,
            allowed=tuple(
                dict.fromkeys(_ae_title(t, "an allowed AE title") for t in listed if t.strip())
            ),
            max_pdu=settings.receive_max_pdu,
            max_associations=settings.receive_max_associations,
        )
        if not config.allowed:
            raise ReceiveConfigError(
                "No calling AE title is allowed to push, so every association would be "
                "refused: list the senders in MAMMOREAD_RECEIVE_ALLOWED_AE_TITLES "
                "(comma-separated) or with --allow."
            )
        return config


def _ae_title(value: str, what: str) -> str:
    title = value.strip()
    if not _AE_TITLE.fullmatch(title):
        raise ReceiveConfigError(
            f"{what} {value!r} is not an AE title (1 to 16 printable ASCII characters, no "
            "backslash)."
        )
    return title


def printable(value: object, limit: int = 64) -> str:
    """A peer's value as it may appear in a log line or a status: printable ASCII, no
    backslash (a value a sender chose must not forge log lines or break a DICOM string)."""
    text = re.sub(r"[^\x20-\x5b\x5d-\x7e]", "?", str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def status(code: int, comment: str | None = None) -> Dataset:
    """A C-STORE response status, with its reason as Error Comment."""
    answer = Dataset()
    answer.Status = code
    if comment:
        answer.ErrorComment = printable(comment, ERROR_COMMENT_LENGTH)
    return answer


def answer_for(outcome: Outcome | None, wrong_modality: bool) -> Dataset:
    """What the sender is told of one file: success when the image is here (imported now or
    before: a push repeated changes nothing), else why not; ``wrong_modality``: the refused
    file is of a modality not accepted here."""
    if outcome is None:
        return status(OUT_OF_RESOURCES, "The image could not be stored now (logged); retry.")
    if outcome.status in (OutcomeStatus.IMPORTED, OutcomeStatus.ALREADY_PRESENT):
        return status(SUCCESS)
    code = NOT_THIS_SOP_CLASS if wrong_modality else CANNOT_UNDERSTAND
    return status(code, outcome.reason or "Refused.")


def wrong_modality(data: bytes, accepted: frozenset[str]) -> bool:
    """Whether a received file states a Modality not accepted here (read without its pixel
    data; a file that cannot be read is not said to be of the wrong modality)."""
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except Exception:  # a damaged file: the import's own reason says so
        return False
    modality = str(dataset.get("Modality", "")).strip().upper()
    return bool(modality) and modality not in accepted


@dataclass(frozen=True)
class Peer:
    """Who is calling: the AE title it gave and where from."""

    ae_title: str
    address: str
    port: int

    @classmethod
    def of(cls, event: Event) -> Peer:
        requestor = event.assoc.requestor
        return cls(printable(requestor.ae_title, 16), printable(requestor.address), requestor.port)

    @property
    def actor(self) -> Actor:
        """How the batch and the audit log name a push: no user, the AE and its address."""
        name = f"DICOM push from {self.ae_title}@{self.address}"
        return Actor(None, self.address, name=name[:64])


class Receiver:
    """The storage SCP: started in threads (``start``), stopped gracefully (``stop``)."""

    def __init__(
        self, config: ReceiveConfig, factory: sessionmaker[Session], kit: ImagingKit
    ) -> None:
        self.config = config
        self._factory = factory
        self._kit = kit
        self._server: ThreadedAssociationServer | None = None
        self._batches: dict[int, AssociationBatch] = {}  # by id of the association
        self._all_batches: list[AssociationBatch] = []
        self._lock = threading.Lock()
        self._counter = 0

    def start(self) -> tuple[str, int]:
        """Listen (in threads); the address bound, with the port chosen when 0 was asked."""
        ae = self._application_entity()
        handlers = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_RELEASED, self._on_end),
            (evt.EVT_ABORTED, self._on_end),
            (evt.EVT_CONN_CLOSE, self._on_end),
        ]
        address = (self.config.host, self.config.port)
        try:
            self._server = ae.start_server(address, block=False, evt_handlers=handlers)
        except OSError as error:  # the port is taken, or the address is not this machine's
            where = f"{self.config.host}:{self.config.port}"
            raise ReceiveConfigError(f"Cannot listen on {where}: {error.strerror}.") from None
        host, port = self._server.server_address[:2]
        log.info(
            "receiving as %s on %s:%s from %s",
            self.config.ae_title,
            host,
            port,
            ", ".join(self.config.allowed),
        )
        return str(host), int(port)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop listening, let running associations finish for ``grace`` seconds, abort the
        rest, and wait for their batches: each file is then whole or absent (the import's
        promise), and every batch is finished."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        deadline = time.monotonic() + grace
        while server.active_associations and time.monotonic() < deadline:
            time.sleep(0.1)
        for association in server.active_associations:
            log.warning("aborting an association still running at shutdown")
            association.abort()
        with self._lock:
            batches = list(self._all_batches)
        for batch in batches:
            batch.close()
            batch.join()
        log.info("receiver stopped")

    def _application_entity(self) -> AE:
        ae = AE(ae_title=self.config.ae_title)
        ae.require_calling_aet = list(self.config.allowed)
        ae.require_called_aet = True
        ae.maximum_pdu_size = self.config.max_pdu
        ae.maximum_associations = self.config.max_associations
        ae.add_supported_context(Verification)
        syntaxes = syntaxes_offered()
        for sop_class in STORAGE_CLASSES:
            ae.add_supported_context(sop_class, syntaxes)
        return ae

    # --- events (in the association's thread; a closed connection in its DUL thread) ---------

    def _on_store(self, event: Event) -> Dataset:
        """One received image through the import; the sender is told its outcome."""
        peer = Peer.of(event)
        data = event.encoded_dataset()  # a DICOM Part 10 file, as the import expects
        with self._lock:
            self._counter += 1
            number = self._counter
        batch = self._batch_of(event, peer)
        outcome = batch.submit(Source(f"c-store-{number}.dcm", lambda: data))
        wrong = _refused(outcome) and wrong_modality(data, self._kit.policy.modalities)
        answer = answer_for(outcome, wrong)
        self._log_answer(peer, number, outcome, answer)
        return answer

    def _batch_of(self, event: Event, peer: Peer) -> AssociationBatch:
        key = id(event.assoc)
        with self._lock:
            batch = self._batches.get(key)
            if batch is None or batch.finished:  # a new association, or its batch failed
                batch = AssociationBatch(self._factory, self._kit, peer.actor, event.assoc.is_alive)
                self._batches[key] = batch
                self._all_batches.append(batch)
            return batch

    def _on_end(self, event: Event) -> None:
        """The association ended (released, aborted, or its connection closed): its batch
        finishes."""
        with self._lock:
            batch = self._batches.pop(id(event.assoc), None)
            self._all_batches = [b for b in self._all_batches if not b.finished]
        if batch is not None:
            batch.close()

    def _on_rejected(self, event: Event) -> None:
        """A refused association, logged with who asked and from where."""
        peer = Peer.of(event)
        primitive = event.assoc.acceptor.primitive
        key = (getattr(primitive, "result_source", None), getattr(primitive, "diagnostic", None))
        log.warning(
            "refused an association from AE %r at %s:%s (called %r): %s",
            peer.ae_title,
            peer.address,
            peer.port,
            printable(getattr(event.assoc.requestor.primitive, "called_ae_title", "?"), 16),
            REJECT_REASONS.get(key, "refused"),
        )

    def _log_answer(
        self, peer: Peer, number: int, outcome: Outcome | None, answer: Dataset
    ) -> None:
        code = int(answer.Status)
        if code == SUCCESS and outcome is not None:
            log.info(
                "C-STORE %s from %s@%s: %s (study %s)",
                number,
                peer.ae_title,
                peer.address,
                outcome.status.value.replace("_", " "),
                outcome.study_id,
            )
            return
        log.warning(
            "C-STORE %s from %s@%s refused with status 0x%04X: %s",
            number,
            peer.ae_title,
            peer.address,
            code,
            answer.get("ErrorComment", ""),
        )


def _refused(outcome: Outcome | None) -> bool:
    return outcome is not None and outcome.status == OutcomeStatus.REJECTED


# --- running it until told to stop ------------------------------------------------------------


def configure_logging() -> None:
    """The receiver's own lines (associations refused, images refused, batches) on stderr,
    for the service's journal; pynetdicom's protocol chatter only when it goes wrong."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


def run_until_signalled(receiver: Receiver, announce: Callable[[str], None] = print) -> None:
    """Run the receiver in the foreground until SIGINT or SIGTERM, then stop it gracefully
    (what an administrator, systemd or docker expects of a service)."""
    stopping = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)  # logged outside: a handler must not wait on logging's lock
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        host, port = receiver.start()
        announce(f"Receiving as {receiver.config.ae_title} on {host}:{port}")
        while not stopping.wait(1.0):
            pass
        log.info("%s: stopping", signal.Signals(received[0]).name)
    finally:
        receiver.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
