"""Create the template's stateful resources in an AWS endpoint (moto's server) and derive each
function's environment from them. Everything comes from template.yaml; nothing is declared twice.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3

from tipline_local.template import Resolver, functions, load_template, parameter_defaults

REGION = "ap-southeast-1"
ACCOUNT = "123456789012"


@dataclass
class Provisioned:
    template: dict[str, Any]
    resolver: Resolver
    environments: dict[str, dict[str, str]] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)

    def env(self, function: str) -> dict[str, str]:
        return self.environments[function]


_CLIENTS_LOCK = threading.Lock()


@functools.cache
def _emulator_session() -> boto3.session.Session:
    # One session: botocore then loads its endpoint and model files once for every service.
    return boto3.session.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        region_name=REGION,
    )


@functools.cache
def emulator_client(endpoint_url: str, service: str) -> Any:
    """A client of the local emulator (moto accepts any credentials), one per endpoint and service."""
    with _CLIENTS_LOCK:  # creating clients from one session is not thread-safe; using them is
        return _emulator_session().client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]


def _order(resource_type: str) -> int:
    return (
        [
            "AWS::KMS::Key",
            "AWS::KMS::Alias",
            "AWS::SecretsManager::Secret",
            "AWS::DynamoDB::Table",
            "AWS::SQS::Queue",
            "AWS::SNS::Topic",
            "AWS::S3::Bucket",
        ].index(resource_type)
        if resource_type in _HANDLERS
        else 99
    )


def provision(endpoint_url: str, parameters: dict[str, str] | None = None) -> Provisioned:
    template = load_template()
    params = {**parameter_defaults(template), "Stage": "local", **(parameters or {})}
    pseudo = {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": f"tipline-{params['Stage']}",
    }
    resolver = Resolver({**params, **pseudo}, refs={}, attributes={}, conditions=template.get("Conditions"))
    result = Provisioned(template=template, resolver=resolver)
    resources = template.get("Resources", {})
    # Dead-letter queues first: a queue's redrive policy needs its DLQ's ARN.
    ordered = sorted(
        resources.items(),
        key=lambda item: (_order(item[1]["Type"]), "RedrivePolicy" in item[1].get("Properties", {})),
    )
    for name, resource in ordered:
        create = _HANDLERS.get(resource["Type"])
        if create is not None:
            create(endpoint_url, name, resource.get("Properties", {}), result)
            result.created.append(name)
    for name, properties in functions(template).items():
        variables = properties.get("Environment", {}).get("Variables", {})
        result.environments[name] = {key: str(resolver.resolve(value)) for key, value in variables.items()}
    return result


def _kms_key(endpoint: str, name: str, props: dict[str, Any], out: Provisioned) -> None:
    kms = emulator_client(endpoint, "kms")
    key = kms.create_key(Description=str(props.get("Description", name)))["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    out.resolver.refs[name] = key["KeyId"]
    out.resolver.attributes[f"{name}.Arn"] = key["Arn"]


def _kms_alias(endpoint: str, name: str, props: dict[str, Any], out: Provisioned) -> None:
    kms = emulator_client(endpoint, "kms")
    alias = out.resolver.resolve(props["AliasName"])
    target = out.resolver.resolve(props["TargetKeyId"])
    existing = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    if alias in existing:
        kms.update_alias(AliasName=alias, TargetKeyId=target)
    else:
        kms.create_alias(AliasName=alias, TargetKeyId=target)
    out.resolver.refs[name] = alias


def _secret(endpoint: str, name: str, props: dict[str, Any], out: Provisioned) -> None:
    sm = emulator_client(endpoint, "secretsmanager")
    secret_name = out.resolver.resolve(props.get("Name", name))
    try:
        arn = sm.describe_secret(SecretId=secret_name)["ARN"]
    except sm.exceptions.ResourceNotFoundException:
        generate = props.get("GenerateSecretString", {})
        value = sm.get_random_password(
            PasswordLength=int(generate.get("PasswordLength", 32)),
            ExcludePunctuation=bool(generate.get("ExcludePunctuation", False)),
        )["RandomPassword"]
        extra = {"KmsKeyId": out.resolver.resolve(props["KmsKeyId"])} if "KmsKeyId" in props else {}
        arn = sm.create_secret(Name=secret_name, SecretString=value, **extra)["ARN"]
    out.resolver.refs[name] = arn


def _table(endpoint: str, name: str, props: dict[str, Any], out: Provisioned) -> None:
    ddb = emulator_client(endpoint, "dynamodb")
    table_name = out.resolver.resolve(props.get("TableName", f"tipline-local-{name}"))
    spec: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        spec["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("StreamSpecification"):  # the audit table's stream feeds its archive
        spec["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if props.get("DeletionProtectionEnabled"):
        spec["DeletionProtectionEnabled"] = True
    try:
        description = ddb.create_table(**spec)["TableDescription"]
    except ddb.exceptions.ResourceInUseException:
        description = ddb.describe_table(TableName=table_name)["Table"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
    out.resolver.refs[name] = table_name
    out.resolver.attributes[f"{name}.Arn"] = description["TableArn"]
    out.resolver.attributes[f"{name}.StreamArn"] = description.get("LatestStreamArn", "")


_QUEUE_ATTRIBUTES = {
    "VisibilityTimeout": "VisibilityTimeout",
    "MessageRetentionPeriod": "MessageRetentionPeriod",
    "DelaySeconds": "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "ContentBasedDeduplication": "ContentBasedDeduplication",
}


def _queue(endpoint: str, name: str, props: dict[str, Any], out: Provisioned) -> None:
    sqs = emulator_client(endpoint, "sqs")
    fifo = bool(props.get("FifoQueue"))
    queue_name = out.resolver.resolve(
        props.get("QueueName", f"tipline-local-{name}" + (".fifo" if fifo else ""))
    )
    attributes = {
        attr: str(out.resolver.resolve(props[key])).lower()
        if isinstance(props[key], bool)
        else str(out.resolver.resolve(props[key]))
        for key, attr in _QUEUE_ATTRIBUTES.items()
        if key in props
    }
    if fifo:
        attributes["FifoQueue"] = "true"
    if "RedrivePolicy" in props:
        redrive = out.resolver.resolve(props["RedrivePolicy"])
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                "maxReceiveCount": int(redrive["maxReceiveCount"]),
            }
        )
    url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    out.resolver.refs[name] = url
    out.resolver.attributes[f"{name}.Arn"] = arn
    out.resolver.attributes[f"{name}.QueueName"] = queue_name
    out.resolver.attributes[f"{name}.QueueUrl"] = url
    out.queue_urls[name] = url


def _topic(endpoint: str, name: str, props: dict[str, Any], out: Provisioned) -> None:
    sns = emulator_client(endpoint, "sns")
    topic_name = out.resolver.resolve(props.get("TopicName", f"tipline-local-{name}"))
    arn = sns.create_topic(Name=topic_name)["TopicArn"]
    out.resolver.refs[name] = arn
    out.resolver.attributes[f"{name}.TopicName"] = topic_name


def _bucket(endpoint: str, name: str, props: dict[str, Any], out: Provisioned) -> None:
    s3 = emulator_client(endpoint, "s3")
    bucket = str(out.resolver.resolve(props.get("BucketName", f"tipline-local-{name.lower()}")))
    locked = bool(out.resolver.resolve(props.get("ObjectLockEnabled", False)))
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(
            Bucket=bucket,
            CreateBucketConfiguration={"LocationConstraint": REGION},
            ObjectLockEnabledForBucket=locked,
        )
    if props.get("VersioningConfiguration"):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    lock = out.resolver.resolve(props.get("ObjectLockConfiguration"))
    if locked and lock:
        default = lock["Rule"]["DefaultRetention"]
        retention = {k: int(v) if k in ("Days", "Years") else v for k, v in default.items()}
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": retention}},
        )
    if props.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    encryption = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
    if encryption:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False)),
            }
            for rule in out.resolver.resolve(encryption)
        ]
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
    lifecycle = props.get("LifecycleConfiguration", {}).get("Rules")
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={"Rules": [_lifecycle_rule(out.resolver.resolve(r)) for r in lifecycle]},
        )
    out.resolver.refs[name] = bucket
    out.resolver.attributes[f"{name}.Arn"] = f"arn:aws:s3:::{bucket}"


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    api: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule.get("Status", "Enabled")}
    tags = [{"Key": t["Key"], "Value": str(t["Value"])} for t in rule.get("TagFilters", [])]
    prefix = rule.get("Prefix")
    if tags and len(tags) == 1 and prefix is None:
        api["Filter"] = {"Tag": tags[0]}
    elif tags:
        api["Filter"] = {"And": {"Prefix": prefix or "", "Tags": tags}}
    else:
        api["Filter"] = {"Prefix": prefix or ""}
    expiration: dict[str, Any] = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = bool(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        api["Expiration"] = expiration
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return api


_HANDLERS = {
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Topic": _topic,
    "AWS::S3::Bucket": _bucket,
}
