"""OA tokens: sealed storage, single-use refresh under a lease, the hourly refresher, ops commands."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from fixtures.sender import Poller, Zalo, citizen_writes, outbound, simulated_zalo
from fixtures.waiting import until
from fixtures.webhook import Fault, demo_oa, items_with_prefix, receive
from tipline.adapters import aws, envelope, secrets, zalo
from tipline.adapters.table import Table
from tipline.config import get_settings
from tipline.domain import DeliveryStatus
from tipline.errors import DependencyUnavailable
from tipline.handlers import token_refresh
from tipline.keys import token_pk
from tipline.observability import metrics
from tipline.tokens import store as token_store_module
from tipline.tokens.store import (
    RefreshSummary,
    TokenStore,
    TokenUnavailable,
    health,
    refresh_due,
    token_context,
)
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


# -- the token store's rules, on a clock stopped where each rule turns ------------------------------
# Each test runs its own TokenStore on a Frozen clock and stores the demo OA's tokens at T0_MS, so
# every expiry, refresh time and failure time is an exact number.
T0_MS = 1_790_000_000_000
ZALO_TTL_MS = 25 * 3600 * 1000  # what the simulator's refresh answers (expires_in)
BEFORE_MS = 8 * 3_600_000  # token_refresh_before_hours' default


class Frozen:
    """The project clock, stopped at ``ms`` (half a millisecond in, so ``int(s * 1000)`` is exact)."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return (self.ms + 0.5) / 1000


class Watched:
    """The table as a store sees it, with one method wrapped to act around the real call."""

    def __init__(self, **wrappers: Callable[..., Any]) -> None:
        self.wrappers = wrappers

    def __getattr__(self, name: str) -> Any:
        if name in self.wrappers:
            real = getattr(table(), name)
            return lambda *args: self.wrappers[name](real, *args)
        return getattr(table(), name)


def _store(at: Frozen, on: Any = None, refresher: Any = zalo.refresh_tokens) -> TokenStore:
    return TokenStore(cast(Table, on or table()), get_settings(), clock=at, refresher=refresher)


def _stored_at(at: Frozen, *oas: Any) -> TokenStore:
    """The accounts' current tokens stored again at ``at`` (they stay valid in the simulator)."""
    store = _store(at)
    for account in oas or (OA,):
        store.save(
            account.oa_id, zalo.TokenPair(account.access_token, account.refresh_token, ZALO_TTL_MS // 1000)
        )
    return store


@contextmanager
def aws_calls(client: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every call the client makes in the block: (operation, parameters)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((model.name, dict(params)))

    service = client.meta.service_model.service_name
    client.meta.events.register(f"provide-client-params.{service}", note, unique_id=f"calls-{id(seen)}")
    try:
        yield seen
    finally:
        client.meta.events.unregister(f"provide-client-params.{service}", unique_id=f"calls-{id(seen)}")


def _metric_units(output: str, name: str) -> set[str | None]:
    units: set[str | None] = set()
    for line in output.splitlines():
        if line.startswith("{") and name in line:
            blob = json.loads(line)
            for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
                units.update(m.get("Unit") for m in directive["Metrics"] if m["Name"] == name)
    return units


def _delete(pk: str) -> None:
    boto3.client("dynamodb").delete_item(
        TableName=get_settings().table_name, Key={"pk": {"S": pk}, "sk": {"S": "META"}}
    )


def test_the_pair_is_sealed_under_exactly_the_oa_id_and_purpose_context(
    stack: Provisioned, zalo_sim: Zalo
) -> None:
    context = {"oa_id": OA.oa_id, "purpose": "oa-token"}  # as docs/data-model.md and the key policy name it
    [item] = items_with_prefix(stack, token_pk(OA.oa_id))
    opened = json.loads(envelope.open_sealed(get_settings().kms_key_id, item["sealed"]["B"], context))
    assert opened["refresh_token"] == OA.refresh_token
    with aws_calls(aws.kms()) as kms:
        _store(Frozen(T0_MS)).refresh(OA.oa_id)
    assert [(name, params["EncryptionContext"]) for name, params in kms] == [
        ("Decrypt", context),  # the refresh token, to spend it
        ("GenerateDataKey", context),  # the new pair, sealed
        ("Decrypt", context),  # the new access token, opened for use
    ]


def test_a_first_save_stores_its_time_expiry_and_a_clean_history(stack: Provisioned) -> None:
    at = Frozen(T0_MS)
    store = _store(at)
    token = store.save("4200000000000000001", zalo.TokenPair("at-1", "rt-1", 36_000))
    assert (token.oa_id, token.access_token, token.expires_at_ms, token.version) == (
        "4200000000000000001",
        "at-1",
        T0_MS + 36_000_000,
        1,
    )
    record = store.record("4200000000000000001")
    assert record is not None
    assert (record.version, record.expires_at_ms, record.refreshed_at_ms, record.refreshes) == (
        1,
        T0_MS + 36_000_000,
        T0_MS,
        1,
    )
    assert (record.failures, record.last_failure_ms, record.last_failure) == (0, 0, None)
    [item] = items_with_prefix(stack, token_pk("4200000000000000001"))
    assert {
        name: item[name]["N"] for name in ("failures", "refreshes", "refreshed_at_ms", "last_failure_ms")
    } == {
        "failures": "0",
        "refreshes": "1",
        "refreshed_at_ms": str(T0_MS),
        "last_failure_ms": "0",
    }
    [row] = health(store, ["4200000000000000001"])
    assert row["last_failure_ms"] is None and row["state"] == "ok"
    with aws_calls(aws.kms()) as kms, aws_calls(aws.dynamodb()) as dynamodb:
        assert store.access_token("4200000000000000001") == token  # the pair it just sealed, from memory
    assert kms == [] and dynamodb == []


def test_a_success_after_a_failure_counts_the_refresh_and_keeps_the_last_failure(
    stack: Provisioned, zalo_sim: Zalo
) -> None:
    at = Frozen(T0_MS)
    store = _stored_at(at)  # over the seeded record: its second write
    assert store.record(OA.oa_id).refreshes == 2  # type: ignore[union-attr]
    zalo_sim.sim.inject(error=-14014, path_prefix="/v4/oa/access_token")
    at.ms = T0_MS + 3_600_000
    with pytest.raises(TokenUnavailable, match=f"^the token of OA {OA.oa_id} could not be refreshed$"):
        store.refresh(OA.oa_id)
    failed = store.record(OA.oa_id)
    assert failed is not None and failed.last_failure and "refused" in failed.last_failure
    assert (failed.failures, failed.last_failure_ms, failed.lease_owner) == (1, T0_MS + 3_600_000, None)
    at.ms = T0_MS + 3_660_000
    assert store.refresh(OA.oa_id).expires_at_ms == T0_MS + 3_660_000 + ZALO_TTL_MS
    renewed = store.record(OA.oa_id)
    assert renewed is not None
    assert (renewed.failures, renewed.refreshes, renewed.refreshed_at_ms, renewed.version) == (
        0,
        3,
        T0_MS + 3_660_000,
        failed.version + 1,
    )
    assert (renewed.last_failure_ms, renewed.last_failure) == (failed.last_failure_ms, failed.last_failure)
    store.save(OA.oa_id, zalo.TokenPair("at-op", "rt-op", 3600))  # an operator's store-tokens
    saved = store.record(OA.oa_id)
    assert saved is not None and saved.refreshes == 4
    assert (saved.last_failure_ms, saved.last_failure) == (failed.last_failure_ms, failed.last_failure)


def _fails_with(exc: Exception) -> Any:
    def refresher(*_: Any) -> Any:
        raise exc

    return refresher


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("unregistered", f"OA {OA.oa_id} is not registered"),
        ("empty_app_secret", f"app {OA.app_id} has no app_secret"),
        ("bare_error", "DependencyUnavailable"),
        ("long_reason", "x" * 200),
    ],
)
def test_a_failed_refresh_records_a_readable_reason_and_spends_nothing(
    stack: Provisioned, zalo_sim: Zalo, breakage: str, reason: str
) -> None:
    at = Frozen(T0_MS)
    refresher: Any = zalo.refresh_tokens
    if breakage == "unregistered":
        _delete(f"OA#{OA.oa_id}")
    elif breakage == "empty_app_secret":
        secrets.put_secret_json(
            get_settings().app_secret_prefix + OA.app_id,
            {"oa_secret_key": OA.oa_secret_key, "app_secret": ""},
            get_settings().kms_key_id,
        )
    elif breakage == "bare_error":
        refresher = _fails_with(DependencyUnavailable())
    else:
        refresher = _fails_with(zalo.ZaloUnavailable("x" * 300))
    with pytest.raises(TokenUnavailable, match=f"^the token of OA {OA.oa_id} could not be refreshed$"):
        _store(at, refresher=refresher).refresh(OA.oa_id)
    record = _store(at).record(OA.oa_id)
    assert record is not None
    assert (record.last_failure, record.last_failure_ms, record.failures) == (reason, T0_MS, 1)
    assert record.lease_owner is None and record.version == 1
    assert zalo_sim.calls_to("/v4/oa/access_token") == []


def test_an_oa_without_tokens_is_named_with_what_to_do(stack: Provisioned) -> None:
    store = _store(Frozen(T0_MS))
    expected = "^no token stored for OA 4200000000000000002: register it and exchange a code$"
    with pytest.raises(TokenUnavailable, match=expected):
        store.access_token("4200000000000000002")
    with pytest.raises(TokenUnavailable, match=expected):
        store.refresh("4200000000000000002")


def test_a_token_is_renewed_before_use_once_five_minutes_or_less_are_left(
    stack: Provisioned, zalo_sim: Zalo
) -> None:
    at = Frozen(T0_MS)
    store = _stored_at(at)
    expires = T0_MS + ZALO_TTL_MS
    first = store.access_token(OA.oa_id)
    at.ms = expires - 5 * 60_000 - 1
    assert store.access_token(OA.oa_id) == first
    assert _store(at).access_token(OA.oa_id) == first  # another container, from the record
    assert zalo_sim.calls_to("/v4/oa/access_token") == []
    at.ms = expires - 5 * 60_000
    renewed = store.access_token(OA.oa_id)
    assert renewed.version == first.version + 1 and renewed.oa_id == OA.oa_id
    assert renewed.access_token == zalo_sim.sim.access_token(OA.oa_id) != first.access_token
    assert renewed.expires_at_ms == at.ms + ZALO_TTL_MS
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 1


def _refreshed_by_another_container_after_the_first_read(at: Frozen) -> Watched:
    """A table whose first token read is followed by another container's refresh of that OA."""
    reads: list[str] = []

    def get_token(real: Callable[[str], Any], oa_id: str) -> Any:
        values = real(oa_id)
        reads.append(oa_id)
        if len(reads) == 1:
            _store(at).refresh(oa_id)
        return values

    return Watched(get_token=get_token)


def test_a_due_token_renewed_meanwhile_by_another_container_is_used_not_refreshed_again(
    stack: Provisioned, zalo_sim: Zalo
) -> None:
    at = Frozen(T0_MS)
    _stored_at(at)
    at.ms = T0_MS + ZALO_TTL_MS - 5 * 60_000  # due
    token = _store(at, on=_refreshed_by_another_container_after_the_first_read(at)).access_token(OA.oa_id)
    assert token.access_token == zalo_sim.sim.access_token(OA.oa_id) and token.version == 3
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 1  # spent once: the OA is not locked out
    assert not zalo_sim.sim.is_locked(OA.oa_id)


def test_the_scheduled_pass_uses_a_refresh_another_container_made_meanwhile(
    stack: Provisioned, zalo_sim: Zalo
) -> None:
    at = Frozen(T0_MS)
    _stored_at(at)
    at.ms = T0_MS + ZALO_TTL_MS - BEFORE_MS  # due for the pass
    store = _store(at, on=_refreshed_by_another_container_after_the_first_read(at))
    assert refresh_due(store, [OA.oa_id]) == RefreshSummary(refreshed=1)
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 1 and not zalo_sim.sim.is_locked(OA.oa_id)


def test_an_opened_token_is_kept_in_memory_per_version(stack: Provisioned, zalo_sim: Zalo) -> None:
    at = Frozen(T0_MS)
    store = _stored_at(at)
    store.forget()
    first = store.access_token(OA.oa_id)
    with aws_calls(aws.kms()) as kms, aws_calls(aws.dynamodb()) as dynamodb:
        assert store.access_token(OA.oa_id) == first  # neither read nor decrypted again
    assert kms == [] and dynamodb == []
    with aws_calls(aws.kms()) as kms:
        assert store.refresh(OA.oa_id, seen_version=first.version - 1) == first  # already newer than seen
    assert kms == [] and zalo_sim.calls_to("/v4/oa/access_token") == []
    other = _store(at).save(OA.oa_id, zalo.TokenPair("at-op", "rt-op", 3600))  # another container
    newer = store.refresh(OA.oa_id, seen_version=first.version)
    assert (newer.oa_id, newer.access_token, newer.version) == (OA.oa_id, "at-op", other.version)
    assert zalo_sim.calls_to("/v4/oa/access_token") == []


def test_a_refresh_that_finds_the_version_moved_under_its_lease_frees_it_and_uses_the_new_token(
    stack: Provisioned, zalo_sim: Zalo
) -> None:
    at = Frozen(T0_MS)
    _stored_at(at)

    def take_token_lease(real: Callable[..., bool], *args: Any) -> bool:
        _store(at).save(OA.oa_id, zalo.TokenPair("at-op", "rt-op", 3600))  # lands between read and lease
        return real(*args)

    token = _store(at, on=Watched(take_token_lease=take_token_lease)).refresh(OA.oa_id, seen_version=2)
    assert (token.oa_id, token.access_token, token.version) == (OA.oa_id, "at-op", 3)
    record = _store(at).record(OA.oa_id)
    assert record is not None and (record.lease_owner, record.lease_until_ms) == (None, 0)
    assert (record.version, record.failures) == (3, 0)
    assert zalo_sim.calls_to("/v4/oa/access_token") == []


@pytest.mark.parametrize("when", ["under_the_lease", "after_the_write"])
def test_a_record_deleted_during_a_refresh_is_reported_as_vanished(
    stack: Provisioned, zalo_sim: Zalo, when: str
) -> None:
    at = Frozen(T0_MS)
    _stored_at(at)

    def then_delete(real: Callable[..., bool], *args: Any) -> bool:
        done = real(*args)
        _delete(token_pk(OA.oa_id))
        return done

    wrapped = {"take_token_lease" if when == "under_the_lease" else "put_token": then_delete}
    with pytest.raises(TokenUnavailable, match=f"^the token record of OA {OA.oa_id} vanished$"):
        _store(at, on=Watched(**wrapped)).refresh(OA.oa_id)


def test_a_refresh_whose_write_is_refused_records_the_lost_lease(stack: Provisioned, zalo_sim: Zalo) -> None:
    at = Frozen(T0_MS)
    store = _stored_at(at)
    at.ms = T0_MS + 60_000
    refused = Fault(
        aws.dynamodb(),
        "PutItem",
        "ConditionalCheckFailedException",
        when=lambda params: params["Item"]["pk"]["S"] == token_pk(OA.oa_id),
    )
    with refused, pytest.raises(TokenUnavailable, match=f"^the refresh of OA {OA.oa_id} lost its lease$"):
        store.refresh(OA.oa_id)
    record = store.record(OA.oa_id)
    assert record is not None and (record.version, record.lease_owner) == (2, None)
    assert (record.failures, record.last_failure_ms) == (1, T0_MS + 60_000)
    assert record.last_failure == "the refreshed tokens could not be stored (lease lost)"


def test_a_save_gives_up_after_five_tries_while_others_keep_writing(stack: Provisioned) -> None:
    at = Frozen(T0_MS)
    tries: list[int] = []

    def put_token(real: Callable[..., bool], *args: Any) -> bool:
        tries.append(1)
        _store(at).save(OA.oa_id, zalo.TokenPair(f"at-{len(tries)}", "rt", 3600))  # wins every time
        return real(*args)

    store = _store(at, on=Watched(put_token=put_token))
    with pytest.raises(
        TokenUnavailable, match=f"^the token record of OA {OA.oa_id} kept changing; try again$"
    ):
        store.save(OA.oa_id, zalo.TokenPair("at-mine", "rt-mine", 3600))
    assert len(tries) == 5
    assert _store(at).access_token(OA.oa_id).access_token == "at-5"


class Waiting:
    """``time`` as the store's wait loop sees it: each sleep moves it on, and may let something happen."""

    def __init__(self, on_sleep: Callable[[int], None] = lambda n: None) -> None:
        self.elapsed = 0.0
        self.sleeps = 0
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        assert self.elapsed < 120, "still waiting long after the lease ran out"
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += seconds
        self.sleeps += 1
        self.on_sleep(self.sleeps)


def _leased_by_another(at: Frozen) -> None:
    assert table().take_token_lease(OA.oa_id, "other-container", at.ms, at.ms + 30_000)


def _waiting_on_another(monkeypatch: pytest.MonkeyPatch, waiting: Waiting) -> Frozen:
    """A stored token whose refresh another container holds; this one's waits go to ``waiting``."""
    at = Frozen(T0_MS)
    _stored_at(at)
    _leased_by_another(at)
    monkeypatch.setattr(token_store_module, "time", waiting)
    return at


def test_a_waiter_gives_up_once_the_holders_lease_and_two_seconds_have_passed(
    stack: Provisioned, zalo_sim: Zalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = Waiting()
    at = _waiting_on_another(monkeypatch, waiting)
    with pytest.raises(TokenUnavailable, match=f"^another refresh of OA {OA.oa_id} did not finish$"):
        _store(at).refresh(OA.oa_id)
    assert 32 <= waiting.elapsed < 32.2  # the lease (30 s) and a grace of 2 s, then no more
    assert zalo_sim.calls_to("/v4/oa/access_token") == []


def test_a_waiter_reports_the_holders_failure_and_spends_nothing(
    stack: Provisioned, zalo_sim: Zalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    def holder_fails(sleeps: int) -> None:
        if sleeps == 3:
            sets = {"last_failure": "Zalo refused the token request: invalid", "last_failure_ms": T0_MS}
            assert table().release_token_lease(OA.oa_id, "other-container", sets, {"failures": 1})

    waiting = Waiting(holder_fails)
    at = _waiting_on_another(monkeypatch, waiting)
    with pytest.raises(
        TokenUnavailable,
        match=f"^another refresh of OA {OA.oa_id} failed: Zalo refused the token request: invalid$",
    ):
        _store(at).refresh(OA.oa_id)
    assert waiting.sleeps == 3 and zalo_sim.calls_to("/v4/oa/access_token") == []


def test_a_waiter_whose_record_is_deleted_gives_up(
    stack: Provisioned, zalo_sim: Zalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _waiting_on_another(monkeypatch, Waiting(lambda n: _delete(token_pk(OA.oa_id))))
    with pytest.raises(TokenUnavailable, match=f"^another refresh of OA {OA.oa_id} did not finish$"):
        _store(at).refresh(OA.oa_id)


def _row(store: TokenStore, oa_id: str) -> dict[str, Any]:
    [row] = health(store, [oa_id])
    return row


def test_health_rows_name_every_oa_and_its_exact_state(stack: Provisioned, zalo_sim: Zalo) -> None:
    at = Frozen(T0_MS)
    store = _stored_at(at, OA, demo_oa(0))
    expires = T0_MS + ZALO_TTL_MS
    at.ms = T0_MS + 500
    rows = health(store, ["4200000000000000003", OA.oa_id, demo_oa(0).oa_id])
    assert rows[0] == {"oa_id": "4200000000000000003", "state": "missing"}
    assert rows[1] == {
        "oa_id": OA.oa_id,
        "state": "ok",
        "expires_at_ms": expires,
        "seconds_left": 89_999,  # whole seconds, rounded down
        "refreshed_at_ms": T0_MS,
        "refreshes": 2,
        "failures": 0,
        "last_failure_ms": None,
        "last_failure": None,
        "version": 2,
    }
    assert rows[2]["oa_id"] == demo_oa(0).oa_id and rows[2]["state"] == "ok"
    for left_ms, state, seconds in [
        (BEFORE_MS + 1000, "ok", 28_801),
        (BEFORE_MS, "due", 28_800),
        (1000, "due", 1),
        (999, "expired", 0),
        (0, "expired", 0),
        (-1000, "expired", -1),
    ]:
        at.ms = expires - left_ms
        row = _row(store, OA.oa_id)
        assert (row["state"], row["seconds_left"]) == (state, seconds), left_ms


def test_health_shows_a_failing_oa_with_its_last_failure_time(stack: Provisioned, zalo_sim: Zalo) -> None:
    at = Frozen(T0_MS)
    store = _stored_at(at)
    zalo_sim.sim.inject(error=-14014, path_prefix="/v4/oa/access_token")
    at.ms = T0_MS + 7_000
    with pytest.raises(TokenUnavailable):
        store.refresh(OA.oa_id)
    row = _row(store, OA.oa_id)
    assert (row["state"], row["failures"], row["last_failure_ms"]) == ("failing", 1, T0_MS + 7_000)
    at.ms = T0_MS + ZALO_TTL_MS
    assert _row(store, OA.oa_id)["state"] == "expired"  # expired says more than failing


def test_the_scheduled_pass_renews_from_exactly_its_lead_time_and_counts_every_oa(
    stack: Provisioned, zalo_sim: Zalo, capsys: pytest.CaptureFixture[str]
) -> None:
    from tipline.observability import metrics

    due, fresh = demo_oa(0), OA
    at = Frozen(T0_MS)
    _stored_at(at, due)
    at.ms = T0_MS + 1
    store = _stored_at(at, fresh)  # expires a millisecond later
    at.ms = T0_MS + ZALO_TTL_MS - BEFORE_MS  # the first is exactly due, the second 1 ms short of it
    metrics.clear_metrics()
    capsys.readouterr()
    missing = ["4200000000000000004", "4200000000000000005"]
    summary = refresh_due(store, [*missing, due.oa_id, fresh.oa_id])
    assert summary == RefreshSummary(refreshed=1, fresh=1, failed=0, missing=2)
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 1
    metrics.flush_metrics()
    out = capsys.readouterr().out
    assert _metric_values(out, "TokenSecondsToExpiry") == [ZALO_TTL_MS // 1000, BEFORE_MS // 1000]
    assert _metric_values(out, "OasWithoutValidToken") == [2.0]
    assert _metric_units(out, "TokenSecondsToExpiry") == {"Seconds"}
    assert _metric_units(out, "OasWithoutValidToken") == {"Count"}


def test_the_scheduled_pass_counts_expired_tokens_it_could_not_renew_as_without_a_valid_token(
    stack: Provisioned, zalo_sim: Zalo, capsys: pytest.CaptureFixture[str]
) -> None:
    from tipline.observability import metrics

    at = Frozen(T0_MS)
    store = _stored_at(at, OA, demo_oa(2))
    _delete(token_pk(demo_oa(0).oa_id))
    zalo_sim.sim.inject(status=503, count=10**6, path_prefix="/v4/oa/access_token")
    at.ms = T0_MS + ZALO_TTL_MS + 1_000_000
    metrics.clear_metrics()
    capsys.readouterr()
    summary = refresh_due(store, [demo_oa(0).oa_id, OA.oa_id, demo_oa(2).oa_id])
    assert summary == RefreshSummary(refreshed=0, fresh=0, failed=2, missing=1)
    metrics.flush_metrics()
    out = capsys.readouterr().out
    assert _metric_values(out, "TokenSecondsToExpiry") == [0.0, 0.0]
    assert _metric_values(out, "OasWithoutValidToken") == [3.0]  # one missing and two expired
    assert _metric_values(out, "TokenRefreshFailed") == [1.0, 1.0]
    assert _metric_units(out, "TokenRefreshFailed") == {"Count"}


def test_a_refresh_reads_the_registry_and_app_secret_through_their_configured_caches(
    stack: Provisioned, zalo_sim: Zalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_CACHE_SECONDS", "0")  # a rotated app secret is used at once
    get_settings.cache_clear()
    at = Frozen(T0_MS)
    store = _store(at)  # the registry cache keeps its default, a minute
    with aws_calls(aws.dynamodb()) as dynamodb, aws_calls(aws.secretsmanager()) as secretsmanager:
        store.refresh(OA.oa_id)
        store.refresh(OA.oa_id)
    registry_reads = [
        p for name, p in dynamodb if name == "GetItem" and p["Key"]["pk"]["S"] == f"OA#{OA.oa_id}"
    ]
    assert len(registry_reads) == 1
    assert [name for name, _ in secretsmanager] == ["GetSecretValue", "GetSecretValue"]
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 2


def test_a_waiter_whose_winner_stored_no_pair_says_no_token_is_stored(
    stack: Provisioned, zalo_sim: Zalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = Frozen(T0_MS)
    _stored_at(at)
    _leased_by_another(at)

    def cleared(sleeps: int) -> None:  # the record rewritten without its pair (a newer version)
        boto3.client("dynamodb").put_item(
            TableName=get_settings().table_name,
            Item={
                "pk": {"S": token_pk(OA.oa_id)},
                "sk": {"S": "META"},
                "oa_id": {"S": OA.oa_id},
                "version": {"N": "3"},
            },
        )

    monkeypatch.setattr(token_store_module, "time", Waiting(cleared))
    with pytest.raises(TokenUnavailable, match=f"^no token stored for OA {OA.oa_id}$"):
        _store(at).refresh(OA.oa_id)


def test_an_aws_fault_on_one_oa_does_not_stop_the_scheduled_pass_for_the_others(
    stack: Provisioned, zalo_sim: Zalo, captured_logs: Any
) -> None:
    """DynamoDB fails as the first OA's lease is taken: that OA counts as failed (and the log says
    so, by id and error type), the next OA is still renewed."""
    first, second = demo_oa(0), OA
    at = Frozen(T0_MS)
    store = _stored_at(at, first, second)
    at.ms = T0_MS + ZALO_TTL_MS  # both due

    def of_first(params: dict[str, Any]) -> bool:
        return params.get("Key", {}).get("pk", {}).get("S") == token_pk(first.oa_id)

    with Fault(aws.dynamodb(), "UpdateItem", "InternalServerError", when=of_first) as fault:
        summary = refresh_due(store, [first.oa_id, second.oa_id])
    assert fault.hits >= 1
    assert summary == RefreshSummary(refreshed=1, fresh=0, failed=1, missing=0)
    assert store.access_token(second.oa_id).expires_at_ms == at.ms + ZALO_TTL_MS
    lines = [json.loads(line) for line in captured_logs.getvalue().splitlines() if line.startswith("{")]
    assert [
        (line["oa_id"], line["error"]) for line in lines if line["message"] == "oa token refresh interrupted"
    ] == [(first.oa_id, "DependencyUnavailable")]


@pytest.mark.parametrize(
    ("client", "operation", "code"),
    [("kms", "GenerateDataKey", "KMSInternalException"), ("dynamodb", "PutItem", "InternalServerError")],
)
def test_new_tokens_that_cannot_be_stored_after_the_refresh_token_was_spent_are_recorded_and_alarmed(
    stack: Provisioned,
    zalo_sim: Zalo,
    capsys: pytest.CaptureFixture[str],
    client: str,
    operation: str,
    code: str,
) -> None:
    """Zalo's refresh token is single-use: once spent, a pair that cannot be sealed or written is
    lost. That must not pass unseen: the failure is recorded with what to do, alarmed, and the lease
    freed, so the next pass can try (and ops see why, in token-health, if it fails too)."""
    at = Frozen(T0_MS)
    store = _stored_at(at)
    at.ms = T0_MS + 60_000
    before = store.record(OA.oa_id)
    assert before is not None
    metrics.clear_metrics()
    with (
        Fault(getattr(aws, client)(), operation, code) as fault,
        pytest.raises(TokenUnavailable, match=f"^the refreshed tokens of OA {OA.oa_id} could not be stored$"),
    ):
        store.refresh(OA.oa_id)
    assert fault.hits >= 1
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 1, "the refresh token was spent"
    record = store.record(OA.oa_id)
    assert record is not None
    assert (record.version, record.lease_owner, record.failures) == (before.version, None, 1)
    assert (record.last_failure, record.last_failure_ms) == (token_store_module.PAIR_LOST, T0_MS + 60_000)
    metrics.flush_metrics()
    assert _metric_values(capsys.readouterr().out, "TokenRefreshFailed") == [1.0]
