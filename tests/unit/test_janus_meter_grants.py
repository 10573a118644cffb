"""Bill grants read by Janus's meter: an answer it cannot use is refused, never taken for an outage
(money-path finding 4), and a real outage is one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tawa.janus.metering import Meter
from tawa.janus.metrics import Metrics
from tawa.janus.spool import Spool
from tawa.names import Grant
from tawa.refusal import Refusal
from tawa.wallet.client import AsyncWalletClient


def grants_with(tmp_path: Path, answer: httpx.Response | Exception) -> frozenset[Grant]:
    def reply(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def run() -> frozenset[Grant]:
        wallet = AsyncWalletClient("http://wallet", "t", transport=httpx.MockTransport(reply))
        meter = Meter(wallet, Spool(tmp_path / "spool.db"), Metrics(), hold_ttl=60, chunk=10, chunk_max=100,
                      margin=5, settle_interval=1, settle_batch=10, grants_ttl=30, fail_open_cap=0, wallet_retry=1)
        try:
            return await meter.grants("bigco")
        finally:
            await wallet.aclose()

    return asyncio.run(run())


def test_grants_are_read_as_caller_identities(tmp_path: Path) -> None:
    answer = httpx.Response(200, json={"wallet": "wallet-bigco", "grants": [{"org": "acme", "service": "quoter"}]})
    assert grants_with(tmp_path, answer) == {Grant("acme", "quoter")}


@pytest.mark.parametrize("answer", [
    httpx.Response(200, json={"wallet": "wallet-bigco", "services": ["quoter"]}),  # the old shape
    httpx.Response(200, content=b"<html>"),
    httpx.Response(400, json={"error": "WHAT"}),
])
def test_an_unusable_answer_is_a_503_refusal_not_an_outage(tmp_path: Path, answer: httpx.Response) -> None:
    with pytest.raises(Refusal) as refused:
        grants_with(tmp_path, answer)
    assert refused.value.status == 503 and refused.value.code == "WALLET_REFUSED"


def test_an_outage_without_a_cached_answer_is_503_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Refusal) as refused:
        grants_with(tmp_path, httpx.ConnectError("refused"))
    assert refused.value.code == "WALLET_UNAVAILABLE"
