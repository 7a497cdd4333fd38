"""Talking to a DICOMweb source with dicomweb-client: QIDO-RS searches, WADO-RS retrievals,
and every way it can fail turned into one error that names the problem.

The PACS's answers are PHI: nothing here logs them, and dicomweb-client's own logger (which
logs request URLs, query parameters included, at DEBUG) is held at WARNING.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.errors import InvalidDicomError

from app.core.errors import AppError
from app.pacs.states import AuthKind

logging.getLogger("dicomweb_client").setLevel(logging.WARNING)

CONNECT_TIMEOUT = 5.0


class PacsError(AppError):
    """The PACS could not do what was asked: unreachable, credentials refused, or an error of
    its own. A 424 (failed dependency): the request was fine, the PACS it depends on was not;
    never a 5xx, which would say MammoRead failed."""

    status_code = 424
    code = "pacs_error"

    def __init__(self, message: str, *, code: str, transport: bool = False) -> None:
        super().__init__(message, code=code)
        # the PACS is out of reach or refuses us: the next request would fail the same way
        self.transport = transport


@dataclass(frozen=True)
class Connection:
    """Where a source answers and how to sign in (the secret in memory only)."""

    base_url: str
    qido_root: str | None = None
    wado_root: str | None = None
    auth_kind: AuthKind = AuthKind.NONE
    username: str | None = None
    secret: str | None = None
    timeout: float = 30.0

    @property
    def host(self) -> str:
        parts = urlsplit(self.base_url)
        return parts.netloc or self.base_url

    def __repr__(self) -> str:  # never print the secret
        return f"Connection({self.base_url!r}, auth={self.auth_kind})"


class Pacs:
    """One source's QIDO-RS and WADO-RS clients, sharing one HTTP session."""

    def __init__(self, connection: Connection, *, retries: int = 1) -> None:
        self.connection = connection
        session = requests.Session()
        if connection.auth_kind == AuthKind.BASIC:
            session.auth = (connection.username or "", connection.secret or "")
        elif connection.auth_kind == AuthKind.BEARER:
            session.headers["Authorization"] = f"Bearer {connection.secret or ''}"
        # a QIDO-RS answer cut short by the server says so in a Warning header (PS3.18 8.3.4.5)
        self.truncated = False
        session.hooks["response"].append(self._note_warning)
        self.session = session
        timeout = (min(CONNECT_TIMEOUT, connection.timeout), connection.timeout)
        self.qido = _client(connection.qido_root or connection.base_url, session, timeout)
        wado_url = connection.wado_root or connection.base_url
        self.wado = (
            self.qido
            if wado_url == (connection.qido_root or connection.base_url)
            else _client(wado_url, session, timeout)
        )
        for client in {id(self.qido): self.qido, id(self.wado): self.wado}.values():
            client.set_http_retry_params(retry=retries > 1, max_attempts=max(retries, 1))

    def _note_warning(self, response: requests.Response, *_: Any, **__: Any) -> None:
        self.truncated = "Warning" in response.headers

    def close(self) -> None:
        self.session.close()

    def search_studies(
        self, filters: dict[str, str], fields: list[str], *, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of studies, and whether the server said it has more (truncated)."""
        self.truncated = False
        with answering(self.connection):
            page = self.qido.search_for_studies(
                search_filters=filters, fields=fields, limit=limit, offset=offset or None
            )
        return page, self.truncated

    def instances_of(self, study_uid: str) -> list[tuple[str, str]]:
        """(Series Instance UID, SOP Instance UID) of every instance of a study."""
        with answering(self.connection, what="the study"):
            found = self.qido.search_for_instances(
                study_instance_uid=study_uid,
                fields=["SeriesInstanceUID", "SOPInstanceUID"],
            )
        pairs = []
        for item in found:
            series, sop = value(item, "0020000E"), value(item, "00080018")
            if series and sop:
                pairs.append((str(series), str(sop)))
        return pairs

    def instance_bytes(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        """One instance as a DICOM file, as the PACS stores it (any transfer syntax)."""
        with answering(self.connection, what="the instance"):
            dataset = self.wado.retrieve_instance(
                study_uid, series_uid, sop_uid, media_types=(("application/dicom", "*"),)
            )
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
        return buffer.getvalue()


def _client(url: str, session: requests.Session, timeout: tuple[float, float]) -> DICOMwebClient:
    return DICOMwebClient(url.rstrip("/"), session=session, timeout=timeout)


def value(item: dict[str, Any], tag: str) -> Any:
    """The first value of a DICOM JSON attribute (a person name's alphabetic form), or None."""
    values = (item.get(tag) or {}).get("Value") or []
    if not values:
        return None
    first = values[0]
    if isinstance(first, dict):
        return first.get("Alphabetic")
    return first


def values(item: dict[str, Any], tag: str) -> list[Any]:
    return list((item.get(tag) or {}).get("Value") or [])


@contextmanager
def answering(connection: Connection, what: str | None = None) -> Iterator[None]:
    """Turn whatever a request to the PACS raises into a :class:`PacsError` saying what went
    wrong in words an administrator can act on (never quoting the PACS's answer: PHI)."""
    host = connection.host
    try:
        yield
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        raise _http_error(host, status, what, connection.auth_kind) from None
    except requests.Timeout:
        raise PacsError(
            f"The PACS at {host} did not answer within {connection.timeout:g} s.",
            code="pacs_timeout",
            transport=True,
        ) from None
    except requests.ConnectionError:
        raise PacsError(
            f"The PACS at {host} cannot be reached (connection refused or no such host): "
            "check the URL and that the PACS is running.",
            code="pacs_unreachable",
            transport=True,
        ) from None
    except requests.RequestException:
        raise PacsError(
            f"The request to the PACS at {host} failed; check the URL.",
            code="pacs_unreachable",
            transport=True,
        ) from None
    except (ValueError, KeyError, IndexError, TypeError, InvalidDicomError):
        raise PacsError(
            f"The PACS at {host} answered with something that is not DICOMweb; "
            "check the URL (the DICOMweb root, e.g. https://pacs.example/dicom-web).",
            code="pacs_bad_answer",
        ) from None


def _http_error(host: str, status: int, what: str | None, auth: AuthKind) -> PacsError:
    if status in (401, 403) and auth == AuthKind.NONE:
        return PacsError(
            f"The PACS at {host} asks for credentials (HTTP {status}): set the sign-in "
            "(username and password, or a token) of this source.",
            code="pacs_credentials_refused",
            transport=True,
        )
    if status in (401, 403):
        return PacsError(
            f"The PACS at {host} refused MammoRead's credentials (HTTP {status}): check the "
            "username and password or token of this source.",
            code="pacs_credentials_refused",
            transport=True,
        )
    if status == 404 and what:
        return PacsError(
            f"The PACS at {host} does not have {what} (HTTP 404).", code="pacs_not_found"
        )
    if status == 404:
        return PacsError(
            f"The PACS at {host} has no DICOMweb service at this URL (HTTP 404): check the "
            "DICOMweb root (e.g. https://pacs.example/dicom-web).",
            code="pacs_not_dicomweb",
        )
    return PacsError(
        f"The PACS at {host} answered with an error (HTTP {status}).",
        code="pacs_error",
    )
