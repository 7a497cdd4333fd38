"""Effective configuration: environment variables prefixed ``MAMMOREAD_``, then defaults."""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from app.core.private import DIR_MODE, FILE_MODE, make_private_dir, tighten

ENV_PREFIX = "MAMMOREAD_"
SECRET_KEY_FILE = "secret_key"
PSEUDONYM_KEY_FILE = "pseudonym_key"
MASK = "********"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(
        default=Path("./var"),
        description="Where the SQLite database, the secret key and stored images live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file mammoread.db in the data directory.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key for keyed hashes of session and API tokens; "
        "generated into <data_dir>/secret_key on first run when not given.",
    )
    session_lifetime_minutes: int = Field(
        default=720, ge=5, description="Absolute lifetime of a browser session."
    )
    session_idle_minutes: int = Field(
        default=120, ge=1, description="A browser session unused this long ends."
    )
    token_lifetime_days: int = Field(default=30, ge=1, description="Lifetime of API tokens.")
    max_upload_mb: int = Field(default=2048, ge=1, description="Largest request body accepted.")
    job_threads: int = Field(
        default=1,
        ge=0,
        le=64,
        description="Jobs (imports, exports) each server process runs at once. On PostgreSQL "
        "0 leaves them to `mammoread worker` processes; on SQLite the server always runs them "
        "(at least 1).",
    )
    job_stalled_after_seconds: float = Field(
        default=20.0,
        ge=2.0,
        le=600.0,
        description="A worker silent this long (it beats every quarter of it) is taken for "
        "dead, and the jobs it ran are run again (PostgreSQL).",
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Force the Secure cookie flag on or off; default: on when served over https.",
    )
    login_slowdown_after: int = Field(
        default=3, ge=1, description="Failed logins after which each retry must wait."
    )
    login_lockout_after: int = Field(
        default=10, ge=2, description="Failed logins after which the account name is locked."
    )
    login_lockout_minutes: int = Field(default=15, ge=1, description="How long a lockout lasts.")
    password_min_length: int = Field(default=10, ge=8, description="Shortest password accepted.")
    argon2_time_cost: int = Field(default=3, ge=1, description="Argon2id iterations.")
    argon2_memory_kib: int = Field(default=65536, ge=8, description="Argon2id memory per hash.")
    accepted_modalities: str = Field(
        default="MG", description="Comma-separated DICOM modalities accepted at import."
    )
    accept_for_processing: bool = Field(
        default=False, description="Import 'for processing' images (flagged) instead of refusing."
    )
    dicom_keep_extra: str = Field(
        default="",
        description="Comma-separated DICOM keywords kept at import beyond VinDr's allow-list.",
    )
    blackout_corners: float = Field(
        default=0.0,
        ge=0.0,
        le=0.25,
        description="Blank this fraction of the shorter side in each image corner (burned-in "
        "text); 0 = off.",
    )
    pseudonym_scheme: Literal["auto", "hmac", "md5"] = Field(
        default="auto",
        description="How pseudonymous ids are made from original UIDs: 'hmac' (keyed with the "
        "pseudonymisation key: nobody holding the source UIDs can re-link a released dataset), "
        "'md5' (VinDr-Mammo's unsalted MD5, only to reproduce VinDr's ids), or 'auto': hmac for "
        "a new installation, md5 for one whose images were named by md5 (so a file imported "
        "again is still recognised).",
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="Key of the keyed pseudonymous ids, kept apart from the secret key; "
        "generated into <data_dir>/pseudonym_key on first run when not given.",
    )
    longitudinal: bool = Field(
        default=True,
        description="DICOM PS3.15's Retain Longitudinal Temporal Information with Modified "
        "Dates option: a woman's Patient ID becomes a keyed pseudonymous key and her exam dates "
        "move back by her own offset of 1 to 10 years, so her priors are found and intervals "
        "survive while no real id or date does. Off: neither Patient ID nor any date is kept.",
    )
    keep_device_names: bool = Field(
        default=True,
        description="Keep Manufacturer and ManufacturerModelName (free text, useful for "
        "statistics per device) when they look like a device name; off drops both.",
    )
    max_zip_entries: int = Field(default=20000, ge=1, description="Most files taken from a zip.")
    max_unzipped_mb: int = Field(
        default=8192, ge=1, description="Most bytes a zip may expand to (zip bombs)."
    )
    workers: int = Field(default=1, ge=1, le=64, description="Server worker processes (serve).")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For/-Proto headers are trusted (uvicorn).",
    )
    # --- receiving pushed studies (mammoread receive, app.pacs.receive) ---
    receive_ae_title: str = Field(
        default="MAMMOREAD", description="AE title of the storage SCP (mammoread receive)."
    )
    receive_host: str = Field(
        default="127.0.0.1",
        description="Address the storage SCP listens on (0.0.0.0: every interface).",
    )
    receive_port: int = Field(
        default=11112, ge=0, le=65535, description="Port of the storage SCP (0: any free port)."
    )
    receive_allowed_ae_titles: str = Field(
        default="",
        description="Comma-separated calling AE titles allowed to push studies; any other is "
        "refused. Empty: mammoread receive does not start (it would refuse everyone).",
    )
    receive_max_pdu: int = Field(
        default=131072,
        ge=0,
        description="Largest PDU the storage SCP accepts, in bytes (0: no limit).",
    )
    receive_max_associations: int = Field(
        default=4, ge=1, le=64, description="Most senders pushing to the storage SCP at once."
    )
    # --- end of receiving pushed studies ---
    # --- PACS query and retrieve (app.pacs) ---
    credentials_key: SecretStr | None = Field(
        default=None,
        description="Key that encrypts the stored credentials of PACS sources (Fernet), kept "
        "apart from the secret key; generated into <data_dir>/credentials_key on first use "
        "when not given.",
    )
    pacs_search_cap: int = Field(
        default=500,
        ge=1,
        le=5000,
        description="Most studies one PACS search shows; a search finding more says to narrow it.",
    )
    pacs_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="How long MammoRead waits for a PACS to answer one request.",
    )

    @field_validator("credentials_key", mode="before")
    @classmethod
    def _empty_credentials_key_means_unset(cls, value: object) -> object:
        return None if value == "" else value

    # --- end of PACS query and retrieve ---
    # --- where images and pyramids are kept (app.imaging.storage, app.imaging.object_store) ---
    storage: Literal["local", "s3"] = Field(
        default="local",
        description="local: files under <data_dir>; s3: objects in an S3-compatible bucket "
        "(the MAMMOREAD_S3_* settings), which several app nodes can share.",
    )
    s3_endpoint: str | None = Field(
        default=None,
        description="URL of the S3-compatible service (http://seaweedfs:8333, https://minio...); "
        "unset: Amazon S3 in s3_region.",
    )
    s3_bucket: str | None = Field(default=None, description="Bucket holding the objects.")
    s3_prefix: str = Field(
        default="",
        description="Folder inside the bucket for this installation's objects (for example "
        "mammoread/); empty: the bucket's top.",
    )
    s3_region: str = Field(default="us-east-1", description="Region of the bucket.")
    s3_access_key_id: str | None = Field(
        default=None, description="Access key; unset: the environment's own AWS credentials."
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None, description="Secret of the access key (never logged or shown)."
    )
    s3_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="How often a failed object store request is tried again, with backoff, "
        "before the request answers 503.",
    )
    s3_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long one object store request may take, retries included.",
    )

    @field_validator(
        "s3_endpoint", "s3_bucket", "s3_access_key_id", "s3_secret_access_key", mode="before"
    )
    @classmethod
    def _empty_s3_setting_means_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("s3_prefix")
    @classmethod
    def _prefix_is_a_folder(cls, value: str) -> str:
        value = value.strip("/")
        if any(part in ("", ".", "..") for part in value.split("/")) and value:
            raise ValueError("s3_prefix must be a folder path such as mammoread/ (no . or ..)")
        return f"{value}/" if value else ""

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Settings:
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("MAMMOREAD_S3_BUCKET must be set when MAMMOREAD_STORAGE is s3")
        return self

    # --- end of where images are kept ---

    @field_validator("database_url", "secret_key", "pseudonym_key", "cookie_secure", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        """An empty environment variable (common in compose files) means "use the default"."""
        return None if value == "" else value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'mammoread.db').resolve()}"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @cached_property
    def secret_bytes(self) -> bytes:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return load_or_create_secret(self.data_dir).encode()

    @cached_property
    def pseudonym_key_bytes(self) -> bytes:
        if self.pseudonym_key is not None:
            return self.pseudonym_key.get_secret_value().encode()
        return load_or_create_secret(self.data_dir, PSEUDONYM_KEY_FILE).encode()

    def ensure_data_dir(self) -> None:
        """The data directory for the service's user only: 0700 (tightened if looser), its
        key files and the SQLite database 0600 (SQLite gives -wal and -shm the same mode)."""
        make_private_dir(self.data_dir)
        tighten(self.data_dir, DIR_MODE)
        for name in (SECRET_KEY_FILE, PSEUDONYM_KEY_FILE):
            tighten(self.data_dir / name, FILE_MODE)
        private_sqlite_file(self.resolved_database_url)

    def describe(self) -> list[tuple[str, str, str]]:
        """(environment variable, effective value with secrets masked, description)."""
        rows = []
        for name, field in type(self).model_fields.items():
            value = self._display_value(name)
            rows.append((ENV_PREFIX + name.upper(), value, field.description or ""))
        return rows

    def _display_value(self, name: str) -> str:
        value: Any = getattr(self, name)
        if name in ("secret_key", "pseudonym_key"):
            file = SECRET_KEY_FILE if name == "secret_key" else PSEUDONYM_KEY_FILE
            source = "environment" if value is not None else f"{self.data_dir / file}"
            return f"{MASK} (from {source})"
        if name == "database_url":
            return mask_url_password(self.resolved_database_url)
        if value is None:
            return "auto"
        return str(value)


def mask_url_password(url: str) -> str:
    parsed = make_url(url)
    if parsed.password is None:
        return url
    return parsed.set(password=MASK).render_as_string(hide_password=False)


def private_sqlite_file(url: str) -> None:
    """Create a SQLite database file 0600 before SQLite does (it would follow the umask), and
    tighten an existing one and its -wal, -shm and -journal files."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    if not path.parent.is_dir():
        return
    if not parsed.query:  # a URI filename may ask for read-only: leave it to SQLite
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for suffix in ("", "-wal", "-shm", "-journal"):
        tighten(Path(f"{path}{suffix}"), FILE_MODE)


def load_or_create_secret(data_dir: Path, file_name: str = SECRET_KEY_FILE) -> str:
    """Read a key file, creating it (mode 0600) with a fresh random key if absent."""
    path = data_dir / file_name
    if path.exists():
        return path.read_text().strip()
    make_private_dir(data_dir)
    key = secrets.token_urlsafe(48)
    draft = data_dir / f".{file_name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    try:
        os.link(draft, path)  # atomic and refuses to overwrite: concurrent workers agree
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()
