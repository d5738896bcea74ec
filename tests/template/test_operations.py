"""Operations: the template's alarms cover every queue and function, and the deploy outputs exist.

These read template.yaml, so a function or queue added later without its alarms fails here.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from fixtures.webhook import deliver, demo_oa, text_event
from tipline_local.provision import Provisioned
from tipline_local.template import load_template, resources_of_type


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _refers_to(value: Any, resource: str) -> bool:
    """True when a dimension value is Ref/GetAtt of ``resource``."""
    if not isinstance(value, dict):
        return False
    if value.get("Ref") == resource:
        return True
    target = value.get("Fn::GetAtt")
    if isinstance(target, list):
        return bool(target) and target[0] == resource
    return isinstance(target, str) and target.split(".", 1)[0] == resource


def _alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in resources_of_type(template, "AWS::CloudWatch::Alarm").values()]


def _alarmed(template: dict[str, Any], namespace: str, metric: str, resource: str) -> list[dict[str, Any]]:
    """The alarms on ``namespace/metric`` whose dimensions point at ``resource``."""
    return [
        alarm
        for alarm in _alarms(template)
        if alarm.get("Namespace") == namespace
        and alarm.get("MetricName") == metric
        and any(_refers_to(d.get("Value"), resource) for d in alarm.get("Dimensions", []))
    ]


def _dead_letter_queues(template: dict[str, Any]) -> set[str]:
    queues = resources_of_type(template, "AWS::SQS::Queue")
    targets = set()
    for queue in queues.values():
        redrive = queue.get("Properties", {}).get("RedrivePolicy")
        if redrive:
            arn = redrive["deadLetterTargetArn"]
            assert _refers_to(arn, _target_name(arn)), f"redrive target is not a GetAtt: {arn}"
            targets.add(_target_name(arn))
    for function in resources_of_type(template, "AWS::Serverless::Function").values():
        for event in function["Properties"].get("Events", {}).values():
            on_failure = event.get("Properties", {}).get("DestinationConfig", {}).get("OnFailure", {})
            if on_failure.get("Type") == "SQS":  # a stream's event source mapping parks failures here
                targets.add(_target_name(on_failure["Destination"]))
    return targets


def _target_name(value: dict[str, Any]) -> str:
    target = value["Fn::GetAtt"]
    return str(target[0] if isinstance(target, list) else target.split(".", 1)[0])


def _notifies_topic(alarm: dict[str, Any]) -> bool:
    return any(_refers_to(action, "AlarmTopic") for action in alarm.get("AlarmActions", []))


def test_every_dead_letter_queue_has_a_messages_alarm(template: dict[str, Any]) -> None:
    dlqs = _dead_letter_queues(template)
    assert dlqs, "the template declares no dead-letter queue"
    for dlq in sorted(dlqs):
        alarms = _alarmed(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq)
        assert alarms, f"{dlq} is a dead-letter queue without an ApproximateNumberOfMessagesVisible alarm"
        assert any(a["Threshold"] <= 1 and "GreaterThan" in a["ComparisonOperator"] for a in alarms), dlq


def test_every_queue_has_an_age_alarm(template: dict[str, Any]) -> None:
    for queue in sorted(resources_of_type(template, "AWS::SQS::Queue")):
        assert _alarmed(template, "AWS/SQS", "ApproximateAgeOfOldestMessage", queue), (
            f"{queue} has no ApproximateAgeOfOldestMessage alarm"
        )


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_errors_and_throttles_alarms(template: dict[str, Any], metric: str) -> None:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert functions
    missing = [name for name in sorted(functions) if not _alarmed(template, "AWS/Lambda", metric, name)]
    assert not missing, f"functions without a {metric} alarm: {missing}"


def test_every_alarm_notifies_the_alarm_topic(template: dict[str, Any]) -> None:
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    silent = [name for name, alarm in alarms.items() if not _notifies_topic(alarm.get("Properties", {}))]
    assert not silent, f"alarms that notify nobody: {silent}"


def test_the_alarm_email_is_subscribed_only_when_given(template: dict[str, Any]) -> None:
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    subscriptions = resources_of_type(template, "AWS::SNS::Subscription")
    email = [s for s in subscriptions.values() if s["Properties"].get("Protocol") == "email"]
    assert len(email) == 1
    assert email[0]["Condition"] == "HasAlarmEmail"
    assert _refers_to(email[0]["Properties"]["Endpoint"], "AlarmEmail")
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }


def test_a_pager_or_chat_endpoint_is_subscribed_over_https_when_given(template: dict[str, Any]) -> None:
    subscriptions = resources_of_type(template, "AWS::SNS::Subscription")
    (https,) = [s for s in subscriptions.values() if s["Properties"].get("Protocol") == "https"]
    assert https["Condition"] == "HasAlarmHttpsEndpoint"
    assert _refers_to(https["Properties"]["Endpoint"], "AlarmHttpsEndpoint")
    assert _refers_to(https["Properties"]["TopicArn"], "AlarmTopic")


@pytest.mark.parametrize(
    ("parameters", "refused"),
    [
        ({"Stage": "prod", "AlarmEmail": ""}, True),
        ({"Stage": "prod", "AlarmEmail": "", "AlarmHttpsEndpoint": ""}, True),
        ({"Stage": "prod", "AlarmEmail": "oncall@example.invalid"}, False),
        ({"Stage": "prod", "AlarmHttpsEndpoint": "https://events.example.invalid/sns"}, False),
        ({"Stage": "dev", "AlarmEmail": ""}, False),
    ],
)
def test_a_prod_deploy_needs_an_alarm_destination(parameters: dict[str, str], refused: bool) -> None:
    """CloudFormation evaluates the template's Rules before the change set; the rehearsal does too."""
    from tipline_local.rehearse import broken_rules
    from tipline_local.transform import transformed

    broken = broken_rules(transformed(), parameters)
    assert bool(broken) is refused, broken
    if refused:
        (message,) = broken
        assert "AlarmEmail" in message and "AlarmHttpsEndpoint" in message


def test_the_prod_rehearsal_with_samconfigs_values_is_refused_before_any_change() -> None:
    """samconfig.toml ships AlarmEmail="" for prod: deploying it as is must stop, saying what to add."""
    import tomllib
    from pathlib import Path

    from tipline_local.rehearse import rehearse

    config = tomllib.loads((Path(__file__).resolve().parents[2] / "samconfig.toml").read_text("utf-8"))
    deploy = config["prod"]["deploy"]["parameters"]
    overrides = dict(item.split("=", 1) for item in deploy["parameter_overrides"])
    parameters = {name: value.strip('"') for name, value in overrides.items()}
    out = io.StringIO()
    assert rehearse(parameters, out) == 1
    assert "REFUSED  rule ProdAlarmsReachAPerson" in out.getvalue()
    assert "OK " not in out.getvalue()  # nothing was created


def test_no_template_alarm_starts_red_on_an_idle_stack(template: dict[str, Any]) -> None:
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    red = [n for n, a in alarms.items() if a["Properties"].get("TreatMissingData") != "notBreaching"]
    assert not red, f"alarms that treat missing data as breaching (or leave it unset): {red}"


def test_the_silence_alarm_needs_connected_oas_to_fire(template: dict[str, Any]) -> None:
    """No events is only alarming while OAs hold tokens (the refresher's hourly per-OA sample)."""
    alarm = template["Resources"]["NoWebhookEventsAlarm"]["Properties"]
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    (returned,) = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
    assert returned["Expression"] == "IF(FILL(connected, 0) > 0, FILL(accepted, 0), 1)"
    assert metrics["accepted"]["MetricStat"]["Metric"]["MetricName"] == "WebhookAccepted"
    assert metrics["connected"]["MetricStat"]["Metric"]["MetricName"] == "TokenSecondsToExpiry"
    assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 1


def test_webhook_latency_is_watched_below_zalos_deadline(template: dict[str, Any]) -> None:
    durations = _alarmed(template, "AWS/Lambda", "Duration", "WebhookFunction")
    assert durations
    assert all(a["ExtendedStatistic"] == "p99" and a["Threshold"] < 2000 for a in durations)


def test_the_dashboard_names_no_personal_data(template: dict[str, Any]) -> None:
    (dashboard,) = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    for forbidden in ("user_id", "sender", "text", "phone", "pseudonym"):
        assert forbidden not in body.lower()


def test_outputs_name_what_ops_paste_and_use(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert "WebhookUrl" in outputs
    assert "AlarmTopicArn" in outputs
    assert outputs["DataKeyId"]["Value"] == {"Ref": "DataKey"}  # kms rotation commands take the key id


def test_the_webhook_counts_accepted_events_per_oa(
    stack: Provisioned, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tipline-ops watch-oa` alarms on OaEvents{oa_id}: the webhook must emit it, with no personal data."""
    oa = demo_oa()
    capsys.readouterr()
    assert deliver(lambda_context, text_event("canary-ops-7731"))["statusCode"] == 200
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if line.startswith("{") and '"_aws"' in line]
    documents = [json.loads(line) for line in lines]
    per_oa = [d for d in documents if "OaEvents" in d]
    assert len(per_oa) == 1
    assert per_oa[0]["oa_id"] == oa.oa_id
    assert per_oa[0]["service"] == "tipline"
    (directive,) = per_oa[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "ZaloTipline"
    assert sorted(directive["Dimensions"][0]) == ["oa_id", "service"]
    assert "canary-ops-7731" not in printed


def test_the_deploy_rehearsal_creates_the_stack_and_lists_every_resource() -> None:
    from tipline_local.rehearse import rehearse
    from tipline_local.transform import transformed

    out = io.StringIO()
    assert rehearse({"Stage": "dev", "AlarmEmail": "ops@example.invalid"}, out) == 0, out.getvalue()
    report = out.getvalue()
    listed = {line.split()[1] for line in report.splitlines() if line.split()[:1] in (["OK"], ["SKIPPED"])}
    assert listed == set(transformed()["Resources"])
    assert "FAIL" not in report.replace("0 FAIL", "")
    assert "cannot create HTTP APIs" in report  # skips are said, not silent


def test_the_deploy_rehearsal_fails_on_a_real_mismatch() -> None:
    from tipline_local.rehearse import rehearse
    from tipline_local.transform import transformed

    template = transformed()
    del template["Resources"]["IntakeSpillQueue"]["Properties"]["RedrivePolicy"]
    template["Resources"]["FetcherFunctionFetch"]["Properties"].pop("FunctionResponseTypes")
    out = io.StringIO()
    assert rehearse({"Stage": "dev", "AlarmEmail": ""}, out, template=template) == 1
    report = out.getvalue()
    assert "FAIL     IntakeSpillQueue" in report
    assert "work queue without a dead-letter queue" in report
    assert "FAIL     FetcherFunctionFetch" in report
    assert "SKIPPED  AlarmEmailSubscription" in report  # the condition is false without an e-mail


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_samconfig_environments_set_only_parameters_the_template_declares(
    template: dict[str, Any], environment: str
) -> None:
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[2] / "samconfig.toml").read_text("utf-8"))
    deploy = config[environment]["deploy"]["parameters"]
    overrides = dict(item.split("=", 1) for item in deploy["parameter_overrides"])
    assert overrides["Stage"] == environment
    assert set(overrides) <= set(template["Parameters"])
    assert {"Stage", "LogLevel", "RetentionDays", "AlarmEmail"} <= set(overrides)
    for name, value in overrides.items():
        allowed = template["Parameters"][name].get("AllowedValues")
        assert allowed is None or value in [str(a) for a in allowed], (name, value)
    assert "CAPABILITY_IAM" in deploy["capabilities"]
    assert deploy["stack_name"] == f"tipline-{environment}"


def _calls_kms_directly(function: dict[str, Any]) -> bool:
    """A policy statement allows KMS data-key calls not made through another service (kms:ViaService)."""
    for policy in function.get("Properties", {}).get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            via = "kms:ViaService" in json.dumps(statement.get("Condition", {}))
            if not via and any(a in ("kms:Decrypt", "kms:GenerateDataKey") for a in actions):
                return True
    return False


def test_every_function_that_calls_kms_counts_its_throttles_for_the_kms_alarm(
    template: dict[str, Any],
) -> None:
    """KMS publishes no throttle metric: each such function's log group feeds KmsThrottled."""
    functions = resources_of_type(template, "AWS::Serverless::Function")
    direct = {name for name, spec in functions.items() if _calls_kms_directly(spec)}
    assert {"SenderFunction", "OfficerApiFunction", "AdvisorySenderFunction", "WebhookFunction"} <= direct
    counted = {
        f["Properties"]["LogGroupName"]["Ref"]
        for f in resources_of_type(template, "AWS::Logs::MetricFilter").values()
        if f["Properties"]["MetricTransformations"][0]["MetricName"] == "KmsThrottled"
    }
    missing = [
        name
        for name in sorted(direct)
        if functions[name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] not in counted
    ]
    assert not missing, f"functions calling KMS without a KmsThrottled metric filter: {missing}"
    (alarm,) = [a for a in _alarms(template) if a.get("MetricName") == "KmsThrottled"]
    assert alarm["Namespace"] == "ZaloTipline" and not alarm.get("Dimensions")


def test_an_oa_without_a_valid_token_raises_an_alarm(template: dict[str, Any]) -> None:
    (alarm,) = [a for a in _alarms(template) if a.get("MetricName") == "OasWithoutValidToken"]
    assert alarm["Namespace"] == "ZaloTipline"
    assert alarm["Statistic"] == "Maximum" and alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Period"] <= 3600  # the refresher runs hourly


_RUNBOOK = re.compile(r'Runbook: docs/operations\.md "([^"]+)"$')


def _runbook_sections() -> dict[str, set[str]]:
    """docs/operations.md's sections (title without its number) and the alarms on their Alarms: line."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text("utf-8")
    sections: dict[str, set[str]] = {}
    for chunk in re.split(r"^## ", text, flags=re.M)[1:]:
        heading, _, body = chunk.partition("\n")
        title = re.sub(r"^\d+\.\s*", "", heading.strip())
        listed = re.search(r"^Alarms: (.+?)(?:\n\n|\Z)", body, flags=re.M | re.S)
        sections[title] = (
            set(re.findall(r"`([a-z0-9-]+)`", listed.group(1).split("(")[0])) if listed else set()
        )
    return sections


def test_every_alarm_names_its_runbook_section_and_the_section_names_it(template: dict[str, Any]) -> None:
    sections = _runbook_sections()
    pointed: dict[str, set[str]] = {}
    for logical, alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        name = props["AlarmName"]["Fn::Sub"].removeprefix("tipline-${Stage}-")
        found = _RUNBOOK.search(props["AlarmDescription"])
        assert found, f"{logical}: the description does not end with its runbook section"
        assert found.group(1) in sections, f"{logical}: no section {found.group(1)!r} in docs/operations.md"
        pointed.setdefault(found.group(1), set()).add(name)
    for title, names in sorted(sections.items()):
        assert names == pointed.get(title, set()), f"section {title!r}: Alarms: line out of step"


def test_a_burst_of_401s_raises_an_alarm_within_minutes(template: dict[str, Any]) -> None:
    """A wrong OA secret key loses every event of that OA: 5 minutes, not the 6-hour silence alarm."""
    (alarm,) = [a for a in _alarms(template) if a.get("MetricName") == "WebhookRejected401"]
    assert alarm["Namespace"] == "ZaloTipline" and alarm["Statistic"] == "Sum"
    assert alarm["Period"] * alarm["EvaluationPeriods"] <= 300 and alarm["Threshold"] <= 5
    assert alarm["AlarmDescription"].endswith('"A wrong or rotated OA secret key"')


@pytest.mark.parametrize(
    ("queue", "consumer_limit"),
    [("RepliesQueue", "tipline.replies.batch"), ("FetchQueue", "tipline.handlers.fetcher")],
)
def test_the_consumers_park_on_their_queues_last_receive(
    template: dict[str, Any], queue: str, consumer_limit: str
) -> None:
    """The sender and the fetcher park a failing message with its reason on the receive after which
    SQS would move it without one: their MAX_RECEIVES is the queue's maxReceiveCount."""
    import importlib

    policy = template["Resources"][queue]["Properties"]["RedrivePolicy"]
    assert policy["maxReceiveCount"] == importlib.import_module(consumer_limit).MAX_RECEIVES
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    dead_letter = policy["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert dead_letter in {v.get("Ref") for v in variables.values() if isinstance(v, dict)}


@pytest.mark.parametrize("restored", ["", "tipline-prod-table-restored"])
def test_restored_table_name_points_every_function_and_role_at_the_restored_table(
    template: dict[str, Any], restored: str
) -> None:
    """PITR recovery (docs/operations.md section 7): RestoredTableName swaps the table every function
    uses and every role's table statements name, and nothing else; empty, the live table as before."""
    from tipline_local.template import Resolver, functions, parameter_defaults

    live = "tipline-prod-TiplineTable-LIVE"
    arn = "arn:aws:dynamodb:ap-southeast-1:123456789012:table/"
    resolver = Resolver(
        {
            **parameter_defaults(template),
            "Stage": "prod",
            "RestoredTableName": restored,
            "AWS::Partition": "aws",
            "AWS::Region": "ap-southeast-1",
            "AWS::AccountId": "123456789012",
            "AWS::StackName": "tipline-prod",
        },
        refs={"TiplineTable": live},
        attributes={"TiplineTable.Arn": arn + live},
        conditions=template["Conditions"],
    )
    expected = restored or live
    for name, properties in functions(template).items():
        variables = properties.get("Environment", {}).get("Variables", {})
        if "TABLE_NAME" in variables:
            assert resolver.resolve(variables["TABLE_NAME"]) == expected, name
    named: set[str] = set()
    for logical, resource in template["Resources"].items():
        text = json.dumps(resource)
        if (
            resource["Type"] not in ("AWS::IAM::Role", "AWS::Serverless::Function")
            or "TiplineTable" not in text
        ):
            continue
        for policy in resource["Properties"].get("Policies", []):
            statements = policy.get("PolicyDocument", policy).get("Statement", [])
            for statement in statements:
                if "TiplineTable" not in json.dumps(statement):
                    continue
                resources = resolver.resolve(statement["Resource"])
                for value in resources if isinstance(resources, list) else [resources]:
                    assert value.startswith(arn + expected), (logical, statement.get("Sid"), value)
                    named.add(logical)
    assert len(named) >= 10  # the functions that use the table, and the operator role
