"""The generic DynamoDB gateway under every store: calls, conditional writes, pages, batches.

It knows no item type; the stores (tips, contacts, registry, ...) build keys with tipline.keys.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tipline import clock
from tipline.adapters import aws
from tipline.errors import DependencyUnavailable
from tipline.keys import META

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELLED = "TransactionCanceledException"
TRANSACT_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
BATCH_WRITE_ITEMS = 25  # and per BatchWriteItem
DAILY_SLOT_DAYS = 3  # a daily allowance's counter outlives its day by this many days


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    serializer = _serializer()
    return {key: serializer.serialize(value) for key, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    deserializer = _deserializer()
    values = {key: deserializer.deserialize(value) for key, value in item.items()}
    for key, value in values.items():
        if hasattr(value, "value") and type(value).__name__ == "Binary":
            values[key] = bytes(value.value)
        elif type(value).__name__ == "Decimal":
            values[key] = int(value) if value == int(value) else float(value)
    return values


def key(pk: str, sk: str = META) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


class DynamoGateway:
    """Typed-free access to one table: what every store is built on."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(aws.dynamodb(), operation)(TableName=self.name, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == CONDITION_FAILED:
                raise
            raise DependencyUnavailable(f"dynamodb {operation} failed") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable(f"dynamodb {operation} failed") from exc

    def _conditional(self, operation: str, **kwargs: Any) -> bool:
        """Run a conditional write; False when its condition did not hold."""
        try:
            self._call(operation, **kwargs)
        except ClientError:
            return False
        return True

    def _conditional_old(self, operation: str, **kwargs: Any) -> tuple[Any, dict[str, Any] | None]:
        """Run a conditional write that returns the item as it was when the condition failed
        (ReturnValuesOnConditionCheckFailure=ALL_OLD), saving a read before or after the write.

        Returns (the response, None) when the write happened, else (None, the item or {} if absent)."""
        try:
            return self._call(operation, ReturnValuesOnConditionCheckFailure="ALL_OLD", **kwargs), None
        except ClientError as exc:
            old: Any = exc.response.get("Item")
            return None, from_item(old) if old else {}

    # -- transactions: several items that must change together, in one call ------------------------
    def put_op(self, pk: str, sk: str, values: Mapping[str, Any], if_absent: bool = False) -> dict[str, Any]:
        """A Put for :meth:`transact` (``if_absent``: only if no item has that key)."""
        put: dict[str, Any] = {"TableName": self.name, "Item": to_item({**values, "pk": pk, "sk": sk})}
        if if_absent:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
            put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"Put": put}

    def update_op(
        self,
        pk: str,
        sk: str,
        expression: str,
        values: Mapping[str, Any] | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """An Update for :meth:`transact`; ``values`` are plain Python values (serialised here)."""
        update: dict[str, Any] = {"TableName": self.name, "Key": key(pk, sk), "UpdateExpression": expression}
        if values:
            update["ExpressionAttributeValues"] = {name: to_item({"v": v})["v"] for name, v in values.items()}
        if condition:
            update["ConditionExpression"] = condition
            update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if names:
            update["ExpressionAttributeNames"] = dict(names)
        return {"Update": update}

    def transact(self, operations: Sequence[dict[str, Any]]) -> list[dict[str, Any] | None] | None:
        """Apply ``operations`` (from put_op / update_op) all together or not at all (one
        TransactWriteItems call; IAM authorises each item by its own action, PutItem or UpdateItem).

        None when they were applied. Otherwise one entry per operation: None for an operation
        that was not the cause, or the stored item ({} when absent) whose condition failed.
        DependencyUnavailable for anything else, a conflict with another transaction included
        (the caller's event is then spilled and completed later)."""
        if len(operations) > TRANSACT_ITEMS:
            raise ValueError("too many operations for one transaction")
        try:
            aws.dynamodb().transact_write_items(TransactItems=list(operations))  # type: ignore[arg-type]
        except ClientError as exc:
            error = exc.response.get("Error", {}).get("Code")
            reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
            codes = [reason.get("Code") for reason in reasons]
            if error != TRANSACTION_CANCELLED or len(reasons) != len(operations):
                raise DependencyUnavailable("dynamodb transact_write_items failed") from exc
            if any(code not in ("None", "ConditionalCheckFailed", None) for code in codes):
                raise DependencyUnavailable(
                    f"dynamodb transaction cancelled: {sorted(set(map(str, codes)))}"
                ) from exc
            return [
                (from_item(reason["Item"]) if reason.get("Item") else {})
                if reason.get("Code") == "ConditionalCheckFailed"
                else None
                for reason in reasons
            ]
        except BotoCoreError as exc:
            raise DependencyUnavailable("dynamodb transact_write_items failed") from exc
        return None

    def paginate(self, operation: str, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a query or scan, page after page."""
        while True:
            response = self._call(operation, **kwargs)
            for item in response.get("Items", []):
                yield from_item(item)
            if "LastEvaluatedKey" not in response:
                return
            kwargs = {**kwargs, "ExclusiveStartKey": response["LastEvaluatedKey"]}

    def get(self, pk: str, sk: str = META, consistent: bool = True) -> dict[str, Any] | None:
        response = self._call("get_item", Key=key(pk, sk), ConsistentRead=consistent)
        item = response.get("Item")
        return from_item(item) if item else None

    def query_partition(self, pk: str, prefix: str = "", forward: bool = True) -> Iterator[dict[str, Any]]:
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values: dict[str, Any] = {":pk": {"S": pk}}
        if prefix:
            values[":prefix"] = {"S": prefix}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
            "ConsistentRead": True,
        }
        yield from self.paginate("query", kwargs)

    def query_index(
        self, index: str, partition: str, forward: bool = True, limit: int | None = None
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": f"{index}pk = :p",
            "ExpressionAttributeValues": {":p": {"S": partition}},
            "ScanIndexForward": forward,
        }
        items = []
        for item in self.paginate("query", kwargs):
            items.append(item)
            if limit is not None and len(items) >= limit:
                break
        return items

    def put(self, pk: str, sk: str, values: Mapping[str, Any], if_absent: bool = False) -> bool:
        item = to_item({**values, "pk": pk, "sk": sk})
        if not if_absent:
            self._call("put_item", Item=item)
            return True
        return self._conditional("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")

    def delete(self, pk: str, sk: str = META) -> None:
        self._call("delete_item", Key=key(pk, sk))

    def put_unless_status(self, pk: str, sk: str, values: Mapping[str, Any], status: str) -> bool:
        """Put an item unless the stored one already has ``status`` (e.g. never undo 'retrieved')."""
        item = to_item({**values, "pk": pk, "sk": sk})
        return self._conditional(
            "put_item",
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR #st <> :st",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={":st": {"S": status}},
        )

    def put_if_absent_or_status(self, pk: str, sk: str, values: Mapping[str, Any], status: str) -> bool:
        """Put an item only if none is stored or the stored one has ``status`` (a claim)."""
        return self._conditional(
            "put_item",
            Item=to_item({**values, "pk": pk, "sk": sk}),
            ConditionExpression="attribute_not_exists(pk) OR #st = :st",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={":st": {"S": status}},
        )

    def put_versioned(
        self, pk: str, sk: str, values: Mapping[str, Any], expected_version: int | None
    ) -> bool:
        """Replace an item only while its ``version`` is ``expected_version`` (None: only if absent).

        The new item carries ``version`` + 1 and no lease. False when another writer got there first.
        """
        item = to_item({**values, "pk": pk, "sk": sk, "version": (expected_version or 0) + 1})
        if expected_version is None:
            return self._conditional("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
        return self._conditional(
            "put_item",
            Item=item,
            ConditionExpression="version = :v",
            ExpressionAttributeValues={":v": {"N": str(expected_version)}},
        )

    def take_lease(self, pk: str, sk: str, owner: str, now_ms: int, until_ms: int) -> bool:
        """Hold an existing item's lease until ``until_ms``, unless another owner holds a live one."""
        return self._conditional(
            "update_item",
            Key=key(pk, sk),
            UpdateExpression="SET lease_owner = :o, lease_until_ms = :u",
            ConditionExpression=(
                "attribute_exists(pk) AND (attribute_not_exists(lease_until_ms)"
                " OR lease_until_ms < :now OR lease_owner = :o)"
            ),
            ExpressionAttributeValues={
                ":o": {"S": owner},
                ":u": {"N": str(until_ms)},
                ":now": {"N": str(now_ms)},
            },
        )

    def release_lease(
        self, pk: str, sk: str, owner: str, sets: Mapping[str, Any], increments: Mapping[str, int]
    ) -> bool:
        """Give up our lease, setting ``sets`` and adding ``increments``; False if it was not ours."""
        names = {f"#{n}": n for n in [*sets, *increments]}
        values = {f":{n}": to_item({"v": v})["v"] for n, v in {**sets, **increments}.items()}
        values[":owner"] = {"S": owner}
        expression = "REMOVE lease_owner, lease_until_ms"
        if sets:
            expression = "SET " + ", ".join(f"#{n} = :{n}" for n in sets) + " " + expression
        if increments:
            expression += " ADD " + ", ".join(f"#{n} :{n}" for n in increments)
        extra: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
        return self._conditional(
            "update_item",
            Key=key(pk, sk),
            UpdateExpression=expression,
            ConditionExpression="lease_owner = :owner",
            ExpressionAttributeValues=values,
            **extra,
        )

    def batch_get(
        self, keys: list[tuple[str, str]], projection: str | None = None, consistent: bool = False
    ) -> list[dict[str, Any]]:
        """The items of ``keys`` that exist (any order), 100 keys a call, unprocessed keys retried."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request: dict[str, Any] = {
                "Keys": [key(pk, sk) for pk, sk in dict.fromkeys(keys[start : start + BATCH_GET_KEYS])]
            }
            if projection:
                request["ProjectionExpression"] = projection
            if consistent:
                request["ConsistentRead"] = True
            pending: dict[str, Any] = {self.name: request}
            for attempt in range(8):
                response = self._call_batch("batch_get_item", RequestItems=pending)
                found.extend(from_item(item) for item in response.get("Responses", {}).get(self.name, []))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))
            else:
                raise DependencyUnavailable("dynamodb batch_get_item left keys unprocessed")
        return found

    def batch_put(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Unconditional puts, 25 a call, unprocessed items retried (each item has pk and sk)."""
        for start in range(0, len(items), BATCH_WRITE_ITEMS):
            pending: dict[str, Any] = {
                self.name: [
                    {"PutRequest": {"Item": to_item(values)}}
                    for values in items[start : start + BATCH_WRITE_ITEMS]
                ]
            }
            for attempt in range(8):
                response = self._call_batch("batch_write_item", RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))
            else:
                raise DependencyUnavailable("dynamodb batch_write_item left items unprocessed")

    def _call_batch(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(aws.dynamodb(), operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable(f"dynamodb {operation} failed") from exc

    def take_daily_slots(self, pk: str, day: str, wanted: int, limit: int) -> int:
        """Count up to ``wanted`` uses of a per-day allowance of ``limit``; returns how many fit."""
        take = min(wanted, limit)
        for _ in range(8):
            if take <= 0:
                return 0
            if self._conditional(
                "update_item",
                Key=key(pk, day),
                UpdateExpression="ADD used :take SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(used) OR used <= :most",
                ExpressionAttributeValues={
                    ":take": {"N": str(take)},
                    ":most": {"N": str(limit - take)},
                    ":expires": {"N": str(int(clock.now_s()) + DAILY_SLOT_DAYS * 86400)},
                },
            ):
                return take
            current = self.get(pk, day)
            take = min(wanted, limit - (int(current.get("used", 0)) if current else 0))
        raise DependencyUnavailable("the daily allowance is too contended; retrying")

    def return_daily_slots(self, pk: str, day: str, count: int) -> None:
        """Give back uses counted by take_daily_slots that were not spent."""
        self._call(
            "update_item",
            Key=key(pk, day),
            UpdateExpression="ADD used :minus",
            ExpressionAttributeValues={":minus": {"N": str(-count)}},
        )
