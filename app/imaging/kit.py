"""What the imaging domain needs from the configuration, built once per application."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from app.core.config import Settings
from app.core.database import make_engine
from app.imaging.dicom import AcceptancePolicy
from app.imaging.longitudinal import Longitudinal
from app.imaging.pseudonymise import IdScheme, keep_set
from app.imaging.storage import BlobStore, LocalStore


def _words(text: str) -> frozenset[str]:
    return frozenset(word.strip() for word in text.split(",") if word.strip())


@dataclass(frozen=True)
class ImagingKit:
    store: BlobStore
    policy: AcceptancePolicy
    keep: frozenset[str]
    pseudonyms: IdScheme
    keep_device_names: bool
    blackout_fraction: float
    max_zip_entries: int
    max_unzipped_bytes: int
    # PS3.15's modified-dates option: a woman's key and shifted dates (None: option off)
    longitudinal: Longitudinal | None = None

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine | None = None) -> ImagingKit:
        """``engine`` (default: one opened for the moment) tells ``auto`` which scheme the
        installation's images were named by."""
        return cls(
            store=store_from_settings(settings),
            policy=AcceptancePolicy(
                modalities=_words(settings.accepted_modalities.upper()),
                accept_for_processing=settings.accept_for_processing,
            ),
            keep=keep_set(_words(settings.dicom_keep_extra)),
            pseudonyms=_id_scheme(settings, engine),
            keep_device_names=settings.keep_device_names,
            blackout_fraction=settings.blackout_corners,
            max_zip_entries=settings.max_zip_entries,
            max_unzipped_bytes=settings.max_unzipped_mb * 2**20,
            longitudinal=(
                Longitudinal(settings.pseudonym_key_bytes) if settings.longitudinal else None
            ),
        )


def store_from_settings(settings: Settings) -> BlobStore:
    """Local files under the data directory (the default), or the configured S3 bucket."""
    if settings.storage == "s3":
        from app.imaging.object_store import S3Config, S3Store

        assert settings.s3_bucket is not None  # the settings' own validator says so
        secret = settings.s3_secret_access_key
        return S3Store(
            S3Config(
                bucket=settings.s3_bucket,
                endpoint=settings.s3_endpoint,
                prefix=settings.s3_prefix,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=secret.get_secret_value() if secret else None,
                retries=settings.s3_retries,
                timeout_seconds=settings.s3_timeout_seconds,
            )
        )
    return LocalStore(settings.data_dir)


def _id_scheme(settings: Settings, engine: Engine | None) -> IdScheme:
    """The configured scheme; the pseudonymisation key is read (or made) only for ``hmac``."""
    name = settings.pseudonym_scheme
    if name == "auto":
        name = installed_scheme(engine or settings.resolved_database_url)
    if name == "md5":
        return IdScheme("md5")
    return IdScheme("hmac", settings.pseudonym_key_bytes)


def installed_scheme(where: Engine | str) -> str:
    """``md5`` when the newest image named by a scheme (not one whose ids were kept) was named
    by md5: an installation from before keyed ids keeps recognising re-imported files. A new
    installation (no such image, or no schema yet) gets ``hmac``."""
    engine = make_engine(where) if isinstance(where, str) else where
    newest = text(
        "SELECT pseudonym_scheme FROM images WHERE pseudonym_scheme IN ('hmac', 'md5') "
        "ORDER BY id DESC LIMIT 1"
    )
    try:
        with engine.connect() as connection:
            found = connection.execute(newest).scalar()
    except DBAPIError:  # no images table yet: a new installation
        found = None
    finally:
        if isinstance(where, str):
            engine.dispose()
    return "md5" if found == "md5" else "hmac"
