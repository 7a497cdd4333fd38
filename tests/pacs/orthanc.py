"""A real PACS for the tests: Debian's Orthanc with its DICOMweb plugin, started on free ports
with a configuration of our own (its own storage and index, HTTP Basic sign-in, DICOMweb at
/dicom-web/), loaded and emptied through its REST API."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.helpers import free_port

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USERNAME = "mammoread"
PASSWORD = "orthanc-test-password-7f3a"
START_SECONDS = 30.0


def available() -> str | None:
    """Why Orthanc cannot run here, or None when it can."""
    if not ORTHANC.exists():
        return f"{ORTHANC} is not installed (apt-get install orthanc)"
    if not DICOMWEB_PLUGIN.exists():
        return f"{DICOMWEB_PLUGIN} is not installed (apt-get install orthanc-dicomweb)"
    return None


def configuration(folder: Path, http_port: int, dicom_port: int) -> dict:
    storage = folder / "storage"
    return {
        "Name": "MammoRead test PACS",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "MRTESTPACS",
        "DicomModalities": {},
        "RemoteAccessAllowed": True,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USERNAME: PASSWORD},
        "HttpCompressionEnabled": False,
        "StorageCompression": False,
        "ConcurrentJobs": 1,
        "HttpThreadsCount": 8,
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
    }


@dataclass
class Orthanc:
    """A running Orthanc: ``url`` is its REST API, ``dicomweb_url`` its DICOMweb root."""

    folder: Path
    http_port: int
    dicom_port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def auth(self) -> tuple[str, str]:
        return (USERNAME, PASSWORD)

    @classmethod
    def start(cls, folder: Path) -> Orthanc:
        folder.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):  # a free port may be taken between the probe and the start
            server = cls(folder, free_port(), free_port())
            config = folder / "orthanc.json"
            config.write_text(
                json.dumps(configuration(folder, server.http_port, server.dicom_port))
            )
            log = (folder / "orthanc.log").open("ab")
            server.process = subprocess.Popen(
                [str(ORTHANC), str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=folder,
                start_new_session=True,
            )
            log.close()
            if server.wait_until_ready():
                return server
            server.stop()
        raise RuntimeError(f"Orthanc did not start; see {folder / 'orthanc.log'}")

    def wait_until_ready(self) -> bool:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                if requests.get(f"{self.url}/system", auth=self.auth, timeout=2).ok:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def pause(self) -> None:
        """Stop answering (the process stays, its port refuses nothing but never answers)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    # --- the REST API --------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: object) -> requests.Response:
        response = requests.request(
            method, f"{self.url}{path}", auth=self.auth, timeout=60, **kwargs
        )
        response.raise_for_status()
        return response

    def upload(self, files: Iterable[bytes]) -> list[str]:
        """Store DICOM files (POST /instances); their Orthanc ids."""
        ids = []
        for data in files:
            answer = self._call(
                "POST", "/instances", data=data, headers={"Content-Type": "application/dicom"}
            ).json()
            ids.append(answer["ID"])
        return ids

    def clear(self) -> None:
        """Delete every patient (and so every study and instance)."""
        for patient in self._call("GET", "/patients").json():
            self._call("DELETE", f"/patients/{patient}")

    def instance_id(self, sop_instance_uid: str) -> str:
        found = self._call("POST", "/tools/lookup", data=sop_instance_uid).json()
        ids = [item["ID"] for item in found if item["Type"] == "Instance"]
        assert ids, f"no instance {sop_instance_uid}"
        return ids[0]

    def instance_file(self, orthanc_id: str) -> bytes:
        return self._call("GET", f"/instances/{orthanc_id}/file").content

    def delete_instance(self, orthanc_id: str) -> None:
        self._call("DELETE", f"/instances/{orthanc_id}")

    def instances(self) -> list[str]:
        return self._call("GET", "/instances").json()

    def studies(self) -> list[str]:
        return self._call("GET", "/studies").json()


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
