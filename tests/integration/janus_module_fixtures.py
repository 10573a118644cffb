"""One wallet, one upstream and one Janus per test module: starting processes is
most of an integration test's time. Each test pays with an org of its own.
Import these names into a test module to use them."""

from __future__ import annotations

import pytest

from tests.fixtures.janus import JanusProcess, RecordingUpstream
from tests.fixtures.wallet import WalletServer


@pytest.fixture
def wallet(module_wallet: WalletServer) -> WalletServer:
    return module_wallet


@pytest.fixture
def upstream(module_upstream: RecordingUpstream) -> RecordingUpstream:
    module_upstream.clear()
    return module_upstream


@pytest.fixture
def janus(module_janus: JanusProcess, upstream: RecordingUpstream) -> JanusProcess:
    return module_janus
