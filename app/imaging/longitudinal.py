"""Women, not just studies: DICOM PS3.15's "Retain Longitudinal Temporal Information with
Modified Dates" option (code 113107), as a pure rule.

- **Patient key.** A woman is named by HMAC-SHA256 of her Issuer of Patient ID and Patient ID
  under the pseudonymisation key, truncated to 32 hex characters: stable across imports with
  the same key, so a woman's exams imported months apart find each other; nobody without the
  key can re-link it to her medical record number. The hash input is domain-separated from the
  UID ids (``app.imaging.pseudonymise.keyed_id``), so no patient key equals a study id.
- **Modified dates.** Every date of a woman's exams is shifted back by her own offset of
  365 to 3,650 days, drawn from a second keyed hash of her patient key. The offset is never
  stored: it is recomputed from the key when her next exam arrives, so intervals between her
  exams survive exactly while no real date does. Times of day are not kept.
- **Age** stays as the file says it (the allow-list keeps Patient's Age), so age at exam is
  exact although the dates moved.

A file MammoRead pseudonymised already (an export imported again) carries its patient key as
Patient ID and its shifted Study Date, marked by Longitudinal Temporal Information Modified:
both are kept as they are, not hashed or shifted a second time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

MIN_SHIFT_DAYS = 365
MAX_SHIFT_DAYS = 3650
HEX_KEY = re.compile(r"[0-9a-f]{32}")
MODIFIED = "MODIFIED"  # Longitudinal Temporal Information Modified (0028,0303)
# DICOM's codes for what was done (CID 7050), written in De-identification Method Code Sequence
BASIC_PROFILE = ("DCM", "113100", "Basic Application Confidentiality Profile")
MODIFIED_DATES_OPTION = (
    "DCM",
    "113107",
    "Retain Longitudinal Temporal Information Modified Dates Option",
)
PATIENT_CHARACTERISTICS_OPTION = ("DCM", "113108", "Retain Patient Characteristics Option")


def dicom_date(text: str | None) -> date | None:
    """A DA value (``YYYYMMDD``) as a date; None when empty or not a real date."""
    text = (text or "").strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def as_dicom_date(day: date) -> str:
    return day.strftime("%Y%m%d")


def months_between(earlier: date, later: date) -> int:
    """Whole calendar months from ``earlier`` to ``later`` (negative when reversed), as a
    radiologist says "prior from 24 months ago"."""
    months = (later.year - earlier.year) * 12 + (later.month - earlier.month)
    if later.day < earlier.day:
        months -= 1 if months > 0 else 0
    return months


def woman_key(patient_key: str | None, study: object) -> str:
    """Who a study's woman is, for grouping and counting: her patient key, or, when the
    study has none, the study itself (a woman of its own; ``study`` is its id or row key)."""
    return patient_key or f"study:{study}"


@dataclass(frozen=True)
class Woman:
    """What the stored file and the database hold of a woman and her exam's date."""

    patient_key: str | None
    study_date: date | None
    carried: bool = False  # both came with a file MammoRead pseudonymised already


@dataclass(frozen=True)
class Longitudinal:
    """The rule under one pseudonymisation key."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("longitudinal pseudonyms need a pseudonymisation key")

    def patient_key(self, patient_id: str, issuer: str = "") -> str:
        message = b"patient\x00" + issuer.strip().encode() + b"\x00" + patient_id.strip().encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:32]

    def shift_days(self, patient_key: str) -> int:
        """The woman's offset in days, in [MIN_SHIFT_DAYS, MAX_SHIFT_DAYS]."""
        digest = hmac.new(self.key, b"date-shift\x00" + patient_key.encode(), hashlib.sha256)
        span = MAX_SHIFT_DAYS - MIN_SHIFT_DAYS + 1
        return MIN_SHIFT_DAYS + int.from_bytes(digest.digest()[:8], "big") % span

    def shifted(self, day: date, patient_key: str) -> date:
        return day - timedelta(days=self.shift_days(patient_key))

    def woman(
        self,
        patient_id: str | None,
        issuer: str | None,
        study_date: str | None,
        *,
        ours: bool = False,
        modified: bool = False,
    ) -> Woman:
        """The key and shifted date of an exam from its Patient ID, Issuer of Patient ID and
        Study Date. ``ours`` and ``modified``: the file says MammoRead pseudonymised it with
        modified dates, so a 32-hex Patient ID is a key and its date is shifted already. No
        Patient ID, no woman: the date is dropped too (there is no offset to shift it by)."""
        patient_id = (patient_id or "").strip()
        if ours and modified and HEX_KEY.fullmatch(patient_id):
            return Woman(patient_id, dicom_date(study_date), carried=True)
        if not patient_id:
            return Woman(None, None)
        key = self.patient_key(patient_id, issuer or "")
        day = dicom_date(study_date)
        return Woman(key, None if day is None else self.shifted(day, key))
