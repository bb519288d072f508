"""Fixtures for the end-to-end suite: one real `bayou server` per test module (xdist --dist loadfile)."""

from __future__ import annotations

import pytest
from botocore.config import Config

from .helpers import BayouServer, unique_bucket

DEFAULT = None
WHEN_REQUIRED = Config(
    request_checksum_calculation="when_required", response_checksum_validation="when_required"
)
PATH_STYLE = Config(s3={"addressing_style": "path"})
# botocore retries BadDigest with backoff; error-path tests use one attempt to stay fast.
ONCE = Config(retries={"max_attempts": 1})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and BayouServer.running:
        for server in BayouServer.running:
            tail = "\n".join(server.full_log().splitlines()[-80:])
            report.sections.append((f"bayou server log ({server.log_path})", tail))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> BayouServer:
    srv = BayouServer(tmp_path_factory.mktemp("bayou") / "data")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def s3(server):
    """boto3 with its default configuration (what users run)."""
    return server.client(DEFAULT)


@pytest.fixture(scope="module")
def s3_wr(server):
    """boto3 with request/response checksums only when required."""
    return server.client(WHEN_REQUIRED)


@pytest.fixture(scope="module")
def s3_path(server):
    return server.client(PATH_STYLE)


@pytest.fixture(scope="module", params=["default", "when_required"])
def any_s3(request, server):
    """Runs a test with both client configurations the issue names. A module may override `s3`
    with it: every test there, and the fixtures that take `s3` (such as `bucket`), run with each."""
    return server.client(DEFAULT if request.param == "default" else WHEN_REQUIRED)


@pytest.fixture(scope="module", params=["default", "when_required"])
def any_s3_once(request, server):
    """Both client configurations, without retries (for error paths botocore would retry)."""
    base = Config() if request.param == "default" else WHEN_REQUIRED
    return server.client(base.merge(ONCE))


@pytest.fixture(scope="module")
def s3_wr_once(server):
    return server.client(WHEN_REQUIRED.merge(ONCE))


@pytest.fixture
def bucket(s3) -> str:
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def bucket2(s3) -> str:
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    return name
