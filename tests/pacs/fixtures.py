"""The PACS fixtures: one Orthanc for the whole session (starting costs time), emptied before
each test that uses it. A plugin of the root conftest (``pytest_plugins``), so that the PACS
tests and the browser tests (tests/browser/test_pacs_browser.py) share one Orthanc and one
Chromium: importing a session fixture into a module would make a second one of each."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.pacs.orthanc import Orthanc, available


@pytest.fixture(scope="session")
def orthanc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    reason = available()
    if reason:
        if os.environ.get("MAMMOREAD_REQUIRE_PACS"):  # CI installs it: a skip would hide it
            pytest.fail(reason)
        pytest.skip(reason)
    server = Orthanc.start(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()


@pytest.fixture
def orthanc(orthanc_server: Orthanc) -> Iterator[Orthanc]:
    """The session's Orthanc, empty and answering."""
    orthanc_server.resume()  # a test that paused it and failed before resuming it
    orthanc_server.clear()
    yield orthanc_server
    orthanc_server.resume()
