"""The object store fixtures: one SeaweedFS for the whole session (per xdist worker), each test
in a folder (prefix) of its own in the one bucket. A plugin of the root conftest
(``pytest_plugins``), so that every test's settings can use it: with
``MAMMOREAD_TEST_STORAGE=s3`` the application of every test keeps its images there instead of
on local disk (the S3 variant of the suite, run by .ci/run)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.objectstore.seaweedfs import S3_VARIANT, SeaweedFS, available


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    reason = available()
    if reason:
        if os.environ.get("MAMMOREAD_REQUIRE_S3") or S3_VARIANT:  # a skip would hide it
            pytest.fail(reason)
        pytest.skip(reason)
    server = SeaweedFS.start(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()
