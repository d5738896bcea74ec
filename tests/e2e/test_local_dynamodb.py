"""moto's DynamoDB as the intake needs it under load: a cancelled transaction undoes its own writes
and no one else's, and transactions side by side with other writes never fail with a 500
(tipline_local.emulator.correct_dynamodb)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tipline_local.provision import emulator_client


@pytest.fixture
def table(moto_endpoint: str) -> tuple[Any, str]:
    dynamodb = emulator_client(moto_endpoint, "dynamodb")
    name = f"tx-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb, name


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "META"}}


def _cancelled_transaction(dynamodb: Any, name: str, marker: str) -> None:
    """A new item and an update of an item that exists with a condition that fails: cancelled."""
    with pytest.raises(ClientError) as caught:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {**_key(f"NEW#{marker}"), "v": {"N": "1"}}}},
                {
                    "Update": {
                        "TableName": name,
                        "Key": _key("HELD"),
                        "UpdateExpression": "SET v = :two",
                        "ConditionExpression": "v = :nine",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":nine": {"N": "9"}},
                    }
                },
            ]
        )
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"


def test_a_cancelled_transaction_undoes_only_its_own_writes(table: tuple[Any, str]) -> None:
    dynamodb, name = table
    dynamodb.put_item(TableName=name, Item={**_key("HELD"), "v": {"N": "1"}})
    _cancelled_transaction(dynamodb, name, "one")
    assert "Item" not in dynamodb.get_item(TableName=name, Key=_key("NEW#one"))
    assert dynamodb.get_item(TableName=name, Key=_key("HELD"))["Item"]["v"] == {"N": "1"}


def test_writes_beside_cancelled_transactions_are_all_kept_and_none_fails(table: tuple[Any, str]) -> None:
    dynamodb, name = table
    dynamodb.put_item(TableName=name, Item={**_key("HELD"), "v": {"N": "1"}})
    for index in range(300):  # a table of some size: moto copied all of it for every transaction
        dynamodb.put_item(TableName=name, Item={**_key(f"OLD#{index}"), "v": {"N": str(index)}})
    errors: list[BaseException] = []
    writers, rounds = 3, 60
    started = threading.Barrier(writers + 2)

    def write(worker: int) -> None:
        try:
            started.wait()
            for index in range(rounds):
                dynamodb.put_item(TableName=name, Item={**_key(f"W{worker}#{index}"), "v": {"N": "1"}})
        except BaseException as exc:
            errors.append(exc)

    def cancel(worker: int) -> None:
        try:
            started.wait()
            for index in range(rounds):
                _cancelled_transaction(dynamodb, name, f"{worker}-{index}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    threads += [threading.Thread(target=cancel, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    items = dynamodb.scan(TableName=name, Select="COUNT", ConsistentRead=True)
    assert (
        items["Count"] == 1 + 300 + writers * rounds
    )  # no new item of a cancelled transaction, no write lost
