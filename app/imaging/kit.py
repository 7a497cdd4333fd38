"""What the imaging domain needs from the configuration, built once per application."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.config import Settings
from app.imaging.dicom import AcceptancePolicy
from app.imaging.pseudonymise import keep_set
from app.imaging.storage import BlobStore, LocalStore


def _words(text: str) -> frozenset[str]:
    return frozenset(word.strip() for word in text.split(",") if word.strip())


@dataclass(frozen=True)
class ImagingKit:
    store: BlobStore
    policy: AcceptancePolicy
    keep: frozenset[str]
    blackout_fraction: float
    max_zip_entries: int
    max_unzipped_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ImagingKit:
        return cls(
            store=LocalStore(settings.data_dir),
            policy=AcceptancePolicy(
                modalities=_words(settings.accepted_modalities.upper()),
                accept_for_processing=settings.accept_for_processing,
            ),
            keep=keep_set(_words(settings.dicom_keep_extra)),
            blackout_fraction=settings.blackout_corners,
            max_zip_entries=settings.max_zip_entries,
            max_unzipped_bytes=settings.max_unzipped_mb * 2**20,
        )
