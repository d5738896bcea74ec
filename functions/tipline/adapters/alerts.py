"""SNS alerts for on-duty officers: ids and codes only, never what the citizen wrote."""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError

from tipline.adapters import aws
from tipline.errors import DependencyUnavailable


def publish(topic_arn: str, subject: str, payload: dict[str, str], unit_id: str) -> None:
    try:
        aws.sns().publish(
            TopicArn=topic_arn,
            Subject=subject,
            Message=json.dumps(payload, ensure_ascii=False),
            MessageAttributes={"unit_id": {"DataType": "String", "StringValue": unit_id}},
        )
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("sns publish failed") from exc
