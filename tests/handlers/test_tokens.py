"""OA tokens: sealed storage, single-use refresh under a lease, the hourly refresher, ops commands."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from fixtures.sender import Poller, Zalo, citizen_writes, outbound, simulated_zalo
from fixtures.waiting import until
from fixtures.webhook import demo_oa, items_with_prefix, receive
from tipline.adapters import envelope, zalo
from tipline.adapters.table import Table
from tipline.config import get_settings
from tipline.domain import DeliveryStatus
from tipline.handlers import token_refresh
from tipline.keys import token_pk
from tipline.tokens.store import TokenStore, TokenUnavailable, token_context
from tipline.wiring import table, token_store
from tipline_local.provision import Provisioned
from tipline_ops.cli import main

OA = demo_oa()


@pytest.fixture
def zalo_sim(stack: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Iterator[Zalo]:
    yield from simulated_zalo(monkeypatch)


def _metric_values(output: str, name: str) -> list[float]:
    values: list[float] = []
    for line in output.splitlines():
        if line.startswith("{") and name in line:
            blob = json.loads(line)
            if "_aws" in blob and name in blob:
                found = blob[name]
                values.extend(found if isinstance(found, list) else [found])
    return values


def test_tokens_are_sealed_at_rest_under_the_oa_token_context(stack: Provisioned) -> None:
    [item] = items_with_prefix(stack, token_pk(OA.oa_id))
    raw = repr(item)
    assert OA.access_token not in raw and OA.refresh_token not in raw
    sealed = item["sealed"]["B"]
    opened = json.loads(envelope.open_sealed(get_settings().kms_key_id, sealed, token_context(OA.oa_id)))
    assert opened == {"access_token": OA.access_token, "refresh_token": OA.refresh_token}
    other = demo_oa(0).oa_id
    with pytest.raises(Exception, match=r"context|tag"):
        envelope.open_sealed(get_settings().kms_key_id, sealed, token_context(other))
    assert int(item["version"]["N"]) == 1


def test_two_concurrent_refreshers_spend_the_refresh_token_once_and_both_get_the_new_token(
    stack: Provisioned, zalo_sim: Zalo
) -> None:
    refused = threading.Event()

    class Watched:
        """The table as both containers see it, noting when one is refused the refresh lease."""

        def __getattr__(self, name: str) -> Any:
            return getattr(table(), name)

        def take_token_lease(self, *args: Any) -> bool:
            taken = bool(table().take_token_lease(*args))
            if not taken:
                refused.set()
            return taken

    def held_refresh(*args: Any) -> Any:
        # The winner spends the refresh token only once the other container is waiting for it:
        # the race happens on every run, however the threads are scheduled.
        until(refused.is_set, what="the other refresher to be refused the lease")
        return zalo.refresh_tokens(*args)

    stores = [TokenStore(cast(Table, Watched()), get_settings(), refresher=held_refresh) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[Any] = [None, None]

    def refresh(index: int) -> None:
        start.wait()
        try:
            results[index] = stores[index].refresh(OA.oa_id, seen_version=1)
        except Exception as exc:  # the test reports it below
            results[index] = exc

    threads = [threading.Thread(target=refresh, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(not isinstance(r, Exception) for r in results), results
    assert refused.is_set()  # they did overlap
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 1
    assert results[0].access_token == results[1].access_token == zalo_sim.sim.access_token(OA.oa_id)
    assert results[0].version == results[1].version == 2
    assert not zalo_sim.sim.is_locked(OA.oa_id) and not zalo_sim.sim.violations
    record = token_store().record(OA.oa_id)
    assert record is not None and record.lease_owner is None and record.failures == 0


def test_a_refresh_failure_is_recorded_alarmed_and_frees_the_lease(
    stack: Provisioned, zalo_sim: Zalo, capsys: pytest.CaptureFixture[str]
) -> None:
    from tipline.observability import metrics

    metrics.clear_metrics()
    zalo_sim.sim.inject(error=-14014, path_prefix="/v4/oa/access_token")
    store = token_store()
    with pytest.raises(TokenUnavailable):
        store.refresh(OA.oa_id)
    record = store.record(OA.oa_id)
    assert record is not None
    assert record.failures == 1 and record.lease_owner is None and record.version == 1
    assert record.last_failure and "refused" in record.last_failure
    metrics.flush_metrics()
    assert _metric_values(capsys.readouterr().out, "TokenRefreshFailed") == [1.0]
    # The next attempt can take the lease again and succeeds.
    assert store.refresh(OA.oa_id).version == 2
    assert token_store().record(OA.oa_id).failures == 0  # type: ignore[union-attr]


def test_the_hourly_refresher_renews_only_tokens_close_to_expiry(
    stack: Provisioned,
    zalo_sim: Zalo,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert token_refresh.handler({}, lambda_context) == {
        "refreshed": 0,
        "fresh": 3,
        "failed": 0,
        "missing": 0,
    }
    assert not zalo_sim.calls_to("/v4/oa/access_token")
    monkeypatch.setenv("TOKEN_REFRESH_BEFORE_HOURS", "25")  # every token is now "due"
    get_settings.cache_clear()
    token_store.cache_clear()
    summary = token_refresh.handler({}, lambda_context)
    assert summary == {"refreshed": 3, "fresh": 0, "failed": 0, "missing": 0}
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 3
    for index in range(3):
        oa_id = demo_oa(index).oa_id
        record = token_store().record(oa_id)
        assert record is not None and record.version == 2
        assert token_store().access_token(oa_id).access_token == zalo_sim.sim.access_token(oa_id)
    seconds = _metric_values(capsys.readouterr().out, "TokenSecondsToExpiry")
    assert len(seconds) == 6 and min(seconds) > 24 * 3600


def test_the_refresher_counts_oas_without_a_valid_token_for_their_alarm(
    stack: Provisioned,
    zalo_sim: Zalo,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    token_refresh.handler({}, lambda_context)
    assert _metric_values(capsys.readouterr().out, "OasWithoutValidToken") == [0.0]  # all valid: data, green
    (item,) = items_with_prefix(stack, token_pk(OA.oa_id))
    boto3.client("dynamodb").delete_item(
        TableName=get_settings().table_name, Key={"pk": item["pk"], "sk": item["sk"]}
    )
    assert token_refresh.handler({}, lambda_context)["missing"] == 1
    assert _metric_values(capsys.readouterr().out, "OasWithoutValidToken") == [1.0]


def test_a_failing_oa_does_not_stop_the_others(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN_REFRESH_BEFORE_HOURS", "25")
    get_settings.cache_clear()
    token_store.cache_clear()
    zalo_sim.sim.inject(status=503, path_prefix="/v4/oa/access_token")
    assert token_refresh.handler({}, lambda_context) == {
        "refreshed": 2,
        "fresh": 0,
        "failed": 1,
        "missing": 0,
    }


def test_replies_keep_flowing_after_the_scheduled_refresh(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN_REFRESH_BEFORE_HOURS", "25")
    get_settings.cache_clear()
    token_store.cache_clear()
    token_refresh.handler({}, lambda_context)
    citizen_writes(zalo_sim, lambda_context, "xin chào", "246845883529197922")
    Poller(stack, lambda_context).once()
    assert outbound(stack)[0].status == DeliveryStatus.SENT
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 3  # the sender used the refreshed token


# -- tipline-ops ---------------------------------------------------------------------------------
def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()  # the handlers' log and metric lines so far
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _exchange_code(code: str, verifier: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`tipline-ops exchange-code` for the demo OA with a verifier kept in a file."""
    return run(
        ["exchange-code", "--oa", OA.oa_id, "--code", code, "--code-verifier-file", str(verifier)], capsys
    )


def test_exchange_code_with_pkce_stores_the_first_tokens(
    stack: Provisioned, zalo_sim: Zalo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    verifier = "v" * 20 + "-._~" + "A1" * 12
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = zalo_sim.sim.authorize(OA.oa_id, code_challenge=challenge)
    (tmp_path / "verifier").write_text(verifier + "\n")
    status, out, _ = _exchange_code(code, tmp_path / "verifier", capsys)
    assert status == 0 and "first tokens stored" in out
    token = token_store().access_token(OA.oa_id)
    assert token.access_token == zalo_sim.sim.access_token(OA.oa_id) and token.version == 2
    assert zalo_sim.sim.access_token(OA.oa_id) not in out


def test_exchange_code_with_a_wrong_verifier_exits_2_and_changes_nothing(
    stack: Provisioned, zalo_sim: Zalo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = zalo_sim.sim.authorize(OA.oa_id, code_challenge="x" * 43)
    (tmp_path / "verifier").write_text("w" * 50)
    before = token_store().record(OA.oa_id)
    status, _, err = _exchange_code(code, tmp_path / "verifier", capsys)
    assert status == 2 and "authorise the app again" in err
    assert token_store().record(OA.oa_id) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["exchange-code", "--oa", "not-digits", "--code", "c"], "numeric"),
        (["exchange-code", "--oa", "999999", "--code", "c"], "not registered"),
        (["token-health", "--oa", "abc"], "numeric"),
        (["store-tokens", "--oa", OA.oa_id, "--tokens-file", "/nonexistent/tokens.json"], "cannot read"),
    ],
)
def test_bad_input_exits_2_with_a_reason(
    stack: Provisioned, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    before = items_with_prefix(stack, "TOKEN#")
    status, _, err = run(argv, capsys)
    assert status == 2 and message in err
    assert items_with_prefix(stack, "TOKEN#") == before


def test_store_tokens_refuses_a_file_with_other_fields(
    stack: Provisioned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"access_token": "a", "refresh_token": "r", "app_secret": "s"}))
    status, _, err = run(["store-tokens", "--oa", OA.oa_id, "--tokens-file", str(path)], capsys)
    assert status == 2 and "no more" in err
    path.write_text(json.dumps({"access_token": "a-new", "refresh_token": "r-new"}))
    status, out, _ = run(["store-tokens", "--oa", OA.oa_id, "--tokens-file", str(path)], capsys)
    assert status == 0 and "a-new" not in out
    assert token_store().access_token(OA.oa_id).access_token == "a-new"


def test_token_health_shows_expiry_refreshes_and_failures_never_tokens(
    stack: Provisioned, zalo_sim: Zalo, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(["token-health"], capsys)
    assert status == 0 and err == ""  # every token works
    zalo_sim.sim.inject(error=-14014, path_prefix="/v4/oa/access_token")
    with pytest.raises(TokenUnavailable):
        token_store().refresh(OA.oa_id)
    status, out, _ = run(["token-health", "--json"], capsys)
    assert status == 1  # one token is failing: non-zero, for scripts and monitors
    rows = {row["oa_id"]: row for row in json.loads(out)["oas"]}
    assert set(rows) == {demo_oa(i).oa_id for i in range(3)}
    assert rows[OA.oa_id]["state"] == "failing" and rows[OA.oa_id]["failures"] == 1
    assert rows[demo_oa(0).oa_id]["state"] == "ok" and rows[demo_oa(0).oa_id]["seconds_left"] > 24 * 3600
    status, text, err = run(["token-health"], capsys)
    assert status == 1 and "failing" in text and "last failure" in text
    assert f"1 OA(s) without a working token: {OA.oa_id}" in err
    for index in range(3):
        account = demo_oa(index)
        assert account.access_token not in out + text and account.refresh_token not in out + text


def test_redrive_moves_dead_letters_back_and_they_are_sent_once(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Zalo is down longer than maxReceiveCount backoffs: the reply waits in the DLQ (deferred, with
    its reason), and `make redrive` (tipline-ops redrive) sends it once Zalo is back."""
    citizen_writes(zalo_sim, lambda_context, "xin chào", "246845883529197922")
    zalo_sim.sim.inject(status=503, count=10**6, path_prefix="/v3.0/oa/message/cs")
    poller = Poller(stack, lambda_context)
    for _ in range(12):
        messages, failed = poller.once()
        if not messages:
            break
        poller.release(failed)
    assert receive(stack, "RepliesQueue") == []
    [dead] = receive(stack, "RepliesDeadLetterQueue")
    boto3.client("sqs").change_message_visibility(
        QueueUrl=stack.queue_urls["RepliesDeadLetterQueue"],
        ReceiptHandle=dead["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    entry = outbound(stack)[0]
    assert entry.status == DeliveryStatus.DEFERRED and entry.reason and "503" in entry.reason
    status, out, _ = run(["dlq-inspect", "--queue", "replies", "--json"], capsys)
    [shown] = json.loads(out)["messages"]  # parked by the sender itself: why, and which OA
    assert "503" in shown["reason"] and shown["oa_id"] == demo_oa().oa_id
    zalo_sim.sim.clear_faults()
    status, out, _ = run(["redrive", "--queue", "replies"], capsys)
    assert status == 0 and "1 message(s) moved back" in out
    assert receive(stack, "RepliesDeadLetterQueue") == []
    poller.drain()
    assert outbound(stack)[0].status == DeliveryStatus.SENT
    assert len(zalo_sim.cs_sent()) == 1
