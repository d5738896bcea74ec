"""Each resource type's check: what the emulator reads back against what the template declares."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from tipline_local.rehearse.model import (
    ALL_VIEWER_EXCEPT_HOST_HEADER,
    CACHING_DISABLED,
    EDGE_REGION,
    Result,
    _not_created,
    _same,
    _short,
)

if TYPE_CHECKING:
    from tipline_local.rehearse.engine import Rehearsal


def _unresolved(r: Rehearsal, res: Result, text: str, what: str) -> None:
    """A ${Name} left in a created resource is ours unless Name is a resource the emulator skips."""
    for name in sorted(set(re.findall(r"\$\{([^}]+)\}", text))):
        target = name.split(".")[0]
        kind = r.template["Resources"].get(target, {}).get("Type", "")
        if _not_created(kind):
            res.notes.append(f"{what} uses {target} (not created here: {_not_created(kind)})")
        else:
            res.bad(f"{what} has an unresolved ${{{name}}}")


def _referenced(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            for name in text.split("${")[1:]:
                if not name.startswith("AWS::"):
                    return name.split("}")[0].split(".")[0]
    return None


def _table(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    ddb = r.client("dynamodb")
    table = ddb.describe_table(TableName=physical)["Table"]
    res.expect("keys", props["KeySchema"], table["KeySchema"])
    res.expect(
        "attributes",
        sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
    )
    declared = {
        g["IndexName"]: (g["KeySchema"], g["Projection"]) for g in props.get("GlobalSecondaryIndexes", [])
    }
    actual = {
        g["IndexName"]: (g["KeySchema"], {"ProjectionType": g["Projection"]["ProjectionType"]})
        for g in table.get("GlobalSecondaryIndexes", [])
    }
    res.expect("indexes", declared, actual)
    res.expect("billing", props.get("BillingMode", "PROVISIONED"), table["BillingModeSummary"]["BillingMode"])
    ttl = props.get("TimeToLiveSpecification")
    if not ttl or not ttl.get("Enabled"):
        res.bad("no TTL declared (closed tips must expire)")
    else:
        reported = ddb.describe_time_to_live(TableName=physical)["TimeToLiveDescription"]
        if reported.get("TimeToLiveStatus") == "ENABLED":
            res.expect("ttl", ttl["AttributeName"], reported.get("AttributeName"))
        else:
            res.gap("TimeToLiveSpecification", ttl)
    pitr = props.get("PointInTimeRecoverySpecification", {})
    if not pitr.get("PointInTimeRecoveryEnabled"):
        res.bad("PITR not declared (restores need it)")
    else:
        res.gap("PointInTimeRecoverySpecification", pitr)
    sse = props.get("SSESpecification", {})
    if not sse.get("SSEEnabled"):
        res.bad("SSE with the project's key not declared")
    else:
        res.gap("SSESpecification", {"SSEType": sse.get("SSEType")})
    if not props.get("DeletionProtectionEnabled"):
        res.bad("deletion protection not declared (a table holds the only copy between backups)")
    else:
        res.expect("deletion protection", True, table.get("DeletionProtectionEnabled"))
    if "StreamSpecification" in props:
        declared_view = props["StreamSpecification"]["StreamViewType"]
        res.expect("stream", declared_view, table.get("StreamSpecification", {}).get("StreamViewType"))


def _queue(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    attrs = r._queue(physical)
    fifo = bool(props.get("FifoQueue", False))
    res.expect("fifo", fifo, attrs.get("FifoQueue", "false"))
    if fifo:
        res.expect(
            "content dedup", props.get("ContentBasedDeduplication", False), attrs["ContentBasedDeduplication"]
        )
    for name, default in (("VisibilityTimeout", 30), ("MessageRetentionPeriod", 345600)):
        res.expect(name, props.get(name, default), attrs[name])
    if "KmsMasterKeyId" in props:
        res.expect("kms key", r.resolve(props["KmsMasterKeyId"]), attrs.get("KmsMasterKeyId"))
    elif props.get("SqsManagedSseEnabled"):
        res.expect("sse", True, attrs.get("SqsManagedSseEnabled"))
    else:
        res.bad("queue is not encrypted")
    redrive = props.get("RedrivePolicy")
    is_dlq = res.logical in _dead_letter_targets(r.template)
    if redrive:
        declared = {
            "deadLetterTargetArn": r.resolve(redrive["deadLetterTargetArn"]),
            "maxReceiveCount": int(redrive["maxReceiveCount"]),
        }
        res.expect("redrive", declared, json.loads(attrs.get("RedrivePolicy", "{}")))
        target = _referenced(redrive["deadLetterTargetArn"]) or ""
        target_fifo = bool(r.template["Resources"][target]["Properties"].get("FifoQueue", False))
        if target_fifo != fifo:
            res.bad(f"dead-letter queue {target} is {'FIFO' if target_fifo else 'standard'}, queue is not")
    elif is_dlq:
        res.good("dead-letter queue")
    else:
        res.bad("work queue without a dead-letter queue")
    for function, timeout in _consumers(r.template, res.logical):
        visibility = int(props.get("VisibilityTimeout", 30))
        if visibility < 6 * timeout:
            res.bad(f"visibility {visibility}s < 6x {function}'s timeout {timeout}s")
        else:
            res.good(f"visibility >= 6x {function} timeout")


def _dead_letter_targets(template: dict[str, Any]) -> set[str]:
    """Queues that are DLQs: redrive targets, and where a stream's event source mapping parks failures."""
    redrive = {
        _referenced(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) or ""
        for q in template["Resources"].values()
        if q["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in q.get("Properties", {})
    }
    on_failure = {
        _referenced(m["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]) or ""
        for m in template["Resources"].values()
        if m["Type"] == "AWS::Lambda::EventSourceMapping"
        and "OnFailure" in m.get("Properties", {}).get("DestinationConfig", {})
    }
    return redrive | on_failure


def _consumers(template: dict[str, Any], queue: str) -> list[tuple[str, int]]:
    found = []
    for mapping in template["Resources"].values():
        props = mapping.get("Properties", {})
        if (
            mapping["Type"] == "AWS::Lambda::EventSourceMapping"
            and _referenced(props.get("EventSourceArn")) == queue
        ):
            function = _referenced(props["FunctionName"]) or ""
            timeout = int(template["Resources"][function]["Properties"].get("Timeout", 3))
            found.append((function, timeout))
    return found


def _function(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    lam = r.client("lambda")
    described = lam.get_function(FunctionName=physical)
    config = described["Configuration"]
    for name in ("Handler", "Runtime", "Timeout", "MemorySize"):
        res.expect(name.lower(), props.get(name), config.get(name))
    if "ReservedConcurrentExecutions" in props:
        reserved = described.get("Concurrency", {}).get("ReservedConcurrentExecutions")
        res.expect("reserved concurrency", props["ReservedConcurrentExecutions"], reserved)
    if props.get("Architectures") != ["arm64"]:
        res.bad(f"architecture {props.get('Architectures')} (the layer is built for arm64)")
    else:
        res.gap("Architectures", props["Architectures"])
    res.gap("Layers", [_referenced(layer) for layer in props.get("Layers", [])])
    res.expect("role", r.resolve(props["Role"]), config["Role"])
    declared = props.get("Environment", {}).get("Variables", {})
    actual = config.get("Environment", {}).get("Variables", {})
    wired, skipped = 0, []
    for name, value in sorted(declared.items()):
        expected = r.references(res, f"env {name}", value)
        if expected is None:
            skipped.append(name)
            continue
        if name not in actual:
            res.bad(f"env {name} missing")
        elif not _same(str(expected), str(actual[name])):
            res.bad(f"env {name}: declared {_short(expected)}, stack has {_short(actual[name])}")
        else:
            wired += 1
    res.good(f"env {wired}/{len(declared)} wired to stack resources")


def _mapping(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    source = r.resolve(props["EventSourceArn"])
    function = r.physical.get(_referenced(props["FunctionName"]) or "", "?")
    found = [
        m for m in r.mappings if m["EventSourceArn"] == source and m["FunctionArn"].endswith(f":{function}")
    ]
    if len(found) != 1:
        res.bad(f"{len(found)} event source mappings from {source} to {function}")
        return
    mapping = found[0]
    res.expect("batch", props.get("BatchSize", 10), mapping["BatchSize"])
    res.expect(
        "response types", props.get("FunctionResponseTypes", []), mapping.get("FunctionResponseTypes", [])
    )
    if ":sqs:" in source and "ReportBatchItemFailures" not in props.get("FunctionResponseTypes", []):
        res.bad("SQS source without ReportBatchItemFailures (one bad message would retry the batch)")
    if "ScalingConfig" in props:
        res.expect("scaling", props["ScalingConfig"], mapping.get("ScalingConfig"))


def _key(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    kms = r.client("kms")
    rotation = kms.get_key_rotation_status(KeyId=physical)["KeyRotationEnabled"]
    res.expect("rotation", bool(props.get("EnableKeyRotation")), rotation)
    if not props.get("EnableKeyRotation"):
        res.bad("key rotation not declared")
    res.gap("KeyPolicy", f"{len(props['KeyPolicy']['Statement'])} statements")


def _alias(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in r.client("kms").list_aliases()["Aliases"]}
    name = r.resolve(props["AliasName"])
    res.expect("target", r.resolve(props["TargetKeyId"]), aliases.get(name))


def _topic(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    attrs = r.client("sns").get_topic_attributes(TopicArn=physical)["Attributes"]
    if "KmsMasterKeyId" in props:
        res.expect("kms key", r.resolve(props["KmsMasterKeyId"]), attrs.get("KmsMasterKeyId"))
    else:
        res.bad("topic is not encrypted")


def _log_group(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    groups = r.client("logs").describe_log_groups(logGroupNamePrefix=physical)["logGroups"]
    group: dict[str, Any] = next((g for g in groups if g["logGroupName"] == physical), {})
    res.expect("retention days", r.resolve(props.get("RetentionInDays")), group.get("retentionInDays"))
    if "KmsKeyId" not in props:
        res.bad("log group not encrypted with the project's key")


# Buckets that must be under Object Lock, and the mode their purpose needs.
_LOCK_MODES = {
    "EvidenceBucket": (
        "GOVERNANCE",
        "evidence stays unchanged until its retention; the sweeper still purges",
    ),
    "AuditArchiveBucket": ("COMPLIANCE", "the audit archive is write-once: nobody may delete or shorten it"),
}


def _bucket(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    s3 = r.client("s3")
    declared = props.get("VersioningConfiguration", {}).get("Status")
    reported = s3.get_bucket_versioning(Bucket=physical).get("Status")
    if declared != "Enabled":
        res.bad("versioning not enabled (evidence must survive an overwrite)")
    elif reported is None:
        res.gap("VersioningConfiguration", declared)
    else:
        res.expect("versioning", declared, reported)
    if res.logical in _LOCK_MODES:
        _object_lock(r, res, props, physical)
    block = props.get("PublicAccessBlockConfiguration")
    if not block or not all(block.values()):
        res.bad("public access not fully blocked")
    else:
        res.good("public access blocked (declared)")


def _object_lock(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    """The Object Lock mode the bucket's purpose needs (``_LOCK_MODES``), as declared and reported."""
    s3 = r.client("s3")
    mode, why = _LOCK_MODES[res.logical]
    lock = props.get("ObjectLockConfiguration", {})
    default = lock.get("Rule", {}).get("DefaultRetention", {})
    if not (props.get("ObjectLockEnabled") and lock.get("ObjectLockEnabled") == "Enabled"):
        res.bad(f"Object Lock not enabled ({why})")
    elif default.get("Mode") != mode:
        res.bad(f"Object Lock default retention is not {mode} mode ({why})")
    else:
        try:
            reported = s3.get_object_lock_configuration(Bucket=physical)["ObjectLockConfiguration"]
        except s3.exceptions.ClientError:
            res.gap("ObjectLockConfiguration", r.resolve(lock))
        else:
            res.expect("object lock", r.resolve(lock), reported)


def _role(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    iam = r.client("iam")
    role = iam.get_role(RoleName=physical)["Role"]
    principals = [s.get("Principal", {}) for s in role["AssumeRolePolicyDocument"]["Statement"]]
    declared = [s.get("Principal", {}) for s in r.resolve(props["AssumeRolePolicyDocument"])["Statement"]]
    res.expect("trusted by", declared, principals)
    inline = iam.list_role_policies(RoleName=physical)["PolicyNames"]
    res.expect("inline policies", len(props.get("Policies", [])), len(inline))
    if "Path" in props:  # the key policy names roles by path
        res.expect("path", r.resolve(props["Path"]), role["Path"])


def _dashboard(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    body = json.loads(r.client("cloudwatch").get_dashboard(DashboardName=physical)["DashboardBody"])
    res.good(f"{len(body['widgets'])} widgets, body is valid JSON")
    _unresolved(r, res, json.dumps(body), "body")


def _permission(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    """moto keeps no physical id for permissions: look for the statement on the function instead."""
    function = r.physical.get(_referenced(props["FunctionName"]) or "", "")
    try:
        policy = json.loads(r.client("lambda").get_policy(FunctionName=function)["Policy"])
    except Exception as exc:  # any failure means the permission is not there
        res.bad(f"no resource policy on {function}: {type(exc).__name__}")
        return
    principals = [s.get("Principal", {}).get("Service") for s in policy.get("Statement", [])]
    if props.get("Principal") in principals:
        res.good(f"{props.get('Principal')} may {props.get('Action')} {_referenced(props['FunctionName'])}")
    else:
        res.bad(f"{props.get('Principal')} missing from {function}'s resource policy")


def _api(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    for path, methods in props.get("Body", {}).get("paths", {}).items():
        for verb, operation in methods.items():
            uri = operation.get("x-amazon-apigateway-integration", {}).get("uri")
            target = r.references(res, f"{verb.upper()} {path}", uri)
            if target is not None:
                res.good(f"{verb.upper()} {path} -> {_referenced(uri)}")


def _schedule(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    target = r.references(res, "target", props["Target"]["Arn"])
    if target is not None:
        zone = props.get("ScheduleExpressionTimezone", "UTC")
        res.good(f"{props['ScheduleExpression']} {zone} -> {_referenced(props['Target']['Arn'])}")
    if not str(props["ScheduleExpression"]).startswith(("cron(", "rate(", "at(")):
        res.bad(f"schedule expression {props['ScheduleExpression']}")


def _alarm(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    dimensions = list(props.get("Dimensions", []))
    for query in props.get("Metrics", []):
        dimensions += query.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    for dimension in dimensions:
        r.references(res, f"dimension {dimension['Name']}", dimension["Value"])
    for action in props.get("AlarmActions", []):
        r.references(res, "action", action)
    metric = props.get("MetricName") or "metric math"
    res.good(f"{props.get('Namespace', '')} {metric} -> {len(props.get('AlarmActions', []))} action(s)")


def _metric_filter(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    r.references(res, "log group", props["LogGroupName"])
    transforms = props.get("MetricTransformations", [])
    res.good(", ".join(f"{t['MetricNamespace']}/{t['MetricName']}" for t in transforms))


def _declared_only(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    for name, value in props.items():
        if isinstance(value, dict) and _referenced(value):
            r.references(res, name, value)


def _names(value: Any) -> Iterator[str]:
    """Every resource or parameter name a declaration refers to (Ref, GetAtt, ${...} in Sub), at any depth."""
    if isinstance(value, list):
        for item in value:
            yield from _names(item)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            yield str(arg)
            return
        if fn == "Fn::GetAtt":
            yield str(arg[0] if isinstance(arg, list) else arg.split(".")[0])
            return
        if fn == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            for name in re.findall(r"\$\{([^}!]+)\}", text):
                if name not in local:
                    yield name.split(".")[0]
            yield from _names(local)
            return
    for item in value.values():
        yield from _names(item)


def _wiring(r: Rehearsal, res: Result, props: dict[str, Any]) -> None:
    """Each name the declaration uses exists: a parameter, a created resource, or one the emulator skips."""
    created, skipped = [], []
    for name in sorted(set(_names(props))):
        if name.startswith("AWS::") or name in r.template.get("Parameters", {}):
            continue
        kind = r.template["Resources"].get(name, {}).get("Type")
        if kind is None:
            res.bad(f"refers to {name}, which the template does not declare")
        elif _not_created(kind):
            skipped.append(name)
        elif name in r.physical or kind == "AWS::Lambda::LayerVersion":
            created.append(name)
        else:
            res.bad(f"refers to {name}, which the stack lacks")
    if created:
        res.good(f"wired to {', '.join(created)}")
    for name in skipped:
        res.notes.append(f"uses {name} (not created here either)")


def _distribution(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    """The console distribution's invariants: private origin, WAF, /v1 never cached, no error rewrite."""
    _wiring(r, res, props)
    config = props["DistributionConfig"]
    acl = str(r.resolve(config.get("WebACLId", "")))
    if not re.fullmatch(rf"arn:aws:wafv2:{EDGE_REGION}:\d{{12}}:global/webacl/.+", acl):
        res.bad(f"no CLOUDFRONT web ACL from {EDGE_REGION} (WebACLId {acl!r})")
    else:
        res.good("web ACL attached")
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    for origin_id, origin in origins.items():
        if "S3OriginConfig" in origin and not origin.get("OriginAccessControlId"):
            res.bad(f"bucket origin {origin_id} without origin access control")
    behaviours = {b["PathPattern"]: b for b in config.get("CacheBehaviors", [])}
    api = behaviours.get("/v1/*")
    if api is None:
        res.bad("no /v1/* behaviour: the console's API would be answered by the bucket")
    else:
        res.expect("/v1/* cache policy", CACHING_DISABLED, api.get("CachePolicyId"))
        res.expect(
            "/v1/* origin request policy", ALL_VIEWER_EXCEPT_HOST_HEADER, api.get("OriginRequestPolicyId")
        )
        if "S3OriginConfig" in origins.get(api["TargetOriginId"], {}):
            res.bad("/v1/* goes to the bucket")
    for error in config.get("CustomErrorResponses", []):
        if str(error.get("ResponsePagePath", "")).endswith(".html"):
            res.bad(f"error response {error.get('ErrorCode')} -> a page: it would rewrite /v1 errors too")
    res.expect("default root object", "index.html", config.get("DefaultRootObject"))


def _web_acl(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    """The console's web ACL: CloudFront's scope, and per-IP rate rules that block."""
    _wiring(r, res, props)
    res.expect("scope", "CLOUDFRONT", props.get("Scope"))
    rates = [
        rule["Name"]
        for rule in props.get("Rules", [])
        if rule.get("Statement", {}).get("RateBasedStatement", {}).get("AggregateKeyType") == "IP"
        and "Block" in rule.get("Action", {})
    ]
    if rates:
        res.good(f"per-IP rate rules {', '.join(rates)}")
    else:
        res.bad("no per-IP rate rule that blocks")


def _rule(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    events = r.client("events")
    rule = events.describe_rule(Name=physical)
    res.expect("pattern", r.resolve(props["EventPattern"]), json.loads(rule.get("EventPattern", "{}")))
    targets = events.list_targets_by_rule(Rule=physical)["Targets"]
    # A log group's Fn::GetAtt Arn ends in ":*" in AWS; moto's CloudFormation leaves it off.
    declared = [str(r.resolve(t["Arn"])).removesuffix(":*") for t in props.get("Targets", [])]
    res.expect("targets", declared, [t["Arn"].removesuffix(":*") for t in targets])


def _user_pool(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    """Declared settings only (the emulator cannot create user pools)."""
    if props.get("MfaConfiguration") != "ON":
        res.bad("officers' MFA is not required")
    mode = r.resolve(props.get("UserPoolAddOns", {}).get("AdvancedSecurityMode", "OFF"))
    res.gap("UserPoolAddOns", {"AdvancedSecurityMode": mode})


def _user_pool_client(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    """Declared settings only (the emulator cannot create user pool clients), and their wiring. A
    client whose settings a custom resource applies (the console's) is checked with those."""
    _wiring(r, res, props)
    for name, resource in sorted(r.template["Resources"].items()):
        applied = resource.get("Properties", {})
        if resource["Type"].startswith("Custom::") and applied.get("ClientId") == {"Ref": res.logical}:
            props = {**props, **applied}
            res.good(f"settings applied by {name}")
    if "WriteAttributes" not in props or "email" in props["WriteAttributes"]:
        res.bad("officers may change their own e-mail (no WriteAttributes means every attribute)")
    else:
        res.good(f"self-writable attributes {props['WriteAttributes']} (declared)")
    res.good(f"id token {props.get('IdTokenValidity')} {props.get('TokenValidityUnits', {}).get('IdToken')}")


def _custom(r: Rehearsal, res: Result, props: dict[str, Any], physical: str) -> None:
    """A custom resource: its Lambda is in the stack and its properties are wired."""
    token = _referenced(props.get("ServiceToken"))
    kind = r.template["Resources"].get(token or "", {}).get("Type")
    if kind != "AWS::Lambda::Function":
        res.bad(f"ServiceToken is not a function of this stack ({token})")
    elif token in r.physical:
        res.good(f"served by {token} ({r.physical[token]})")
    _wiring(r, res, {k: v for k, v in props.items() if k != "ServiceToken"})


_CHECKS: dict[str, Callable[[Rehearsal, Result, dict[str, Any], str], None]] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::EventSourceMapping": _mapping,
    "AWS::KMS::Key": _key,
    "AWS::KMS::Alias": _alias,
    "AWS::SNS::Topic": _topic,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::S3::Bucket": _bucket,
    "AWS::IAM::Role": _role,
    "AWS::CloudWatch::Dashboard": _dashboard,
    "AWS::ApiGatewayV2::Api": _api,
    "AWS::ApiGatewayV2::Stage": _declared_only,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::Logs::MetricFilter": _metric_filter,
    "AWS::SNS::Subscription": _declared_only,
    "AWS::S3::BucketPolicy": _declared_only,
    "AWS::SecretsManager::Secret": _declared_only,
    "AWS::CloudFront::Distribution": _distribution,
    "AWS::CloudFront::OriginAccessControl": lambda r, res, props, _: _wiring(r, res, props),
    "AWS::CloudFront::Function": lambda r, res, props, _: _wiring(r, res, props),
    "AWS::CloudFront::ResponseHeadersPolicy": lambda r, res, props, _: _wiring(r, res, props),
    "AWS::Cognito::UserPoolDomain": lambda r, res, props, _: _wiring(r, res, props),
    "AWS::Cognito::UserPoolClient": _user_pool_client,
    "AWS::Cognito::UserPool": _user_pool,
    "AWS::Events::Rule": _rule,
    "AWS::WAFv2::WebACL": _web_acl,
    "AWS::WAFv2::LoggingConfiguration": lambda r, res, props, _: _wiring(r, res, props),
}
