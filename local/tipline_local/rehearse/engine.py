"""The stack created in moto's CloudFormation, each resource checked (tipline_local.rehearse.checks)."""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import sys
import urllib.request
import warnings
import zipfile
from typing import Any

import boto3

from tipline_local import emulator
from tipline_local.provision import ACCOUNT, REGION
from tipline_local.rehearse.checks import (
    _CHECKS,
    _custom,
    _permission,
    _referenced,
)
from tipline_local.rehearse.model import (
    EDGE_REGION,
    EDGE_TEMPLATE,
    FAIL,
    OK,
    REHEARSAL_PARAMETERS,
    SKIPPED,
    STACK,
    Result,
    _not_created,
    broken_rules,
    condition_holds,
)
from tipline_local.template import Resolver, load_template
from tipline_local.transform import transformed


class Rehearsal:
    def __init__(
        self,
        endpoint: str,
        template: dict[str, Any],
        parameters: dict[str, str],
        region: str = REGION,
        stack: str = STACK,
    ) -> None:
        self.endpoint = endpoint
        self.template = template
        self.parameters = parameters
        self.region = region
        self.stack = stack
        self.session = boto3.session.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
            region_name=region,
        )
        self.physical: dict[str, str] = {}
        self.resolver = Resolver({}, refs={}, attributes={})
        self.mappings: list[dict[str, Any]] = []

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    # -- deploy --------------------------------------------------------------------------------
    def deploy(self) -> str:
        # moto keeps one state per process (every server in it shares it): start from nothing.
        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(reset).close()  # noqa: S310 - our own loopback moto server
        self._upload_artifacts()
        cfn = self.client("cloudformation")
        cfn.create_stack(
            StackName=self.stack,
            TemplateBody=json.dumps(_for_emulator(self.template)),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in self.parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        stack = cfn.describe_stacks(StackName=self.stack)["Stacks"][0]
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=self.stack):
            for summary in page["StackResourceSummaries"]:
                if summary.get("PhysicalResourceId") and summary["LogicalResourceId"]:
                    self.physical[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
        self._index_attributes()
        self.mappings = self.client("lambda").list_event_source_mappings()["EventSourceMappings"]
        return str(stack["StackStatus"])

    def _upload_artifacts(self) -> None:
        """`sam package` would upload the code; a placeholder zip at each S3 location is enough here."""
        s3 = self.client("s3")
        locations = set()
        for resource in self.template["Resources"].values():
            code = resource.get("Properties", {}).get("Code") or resource.get("Properties", {}).get("Content")
            if isinstance(code, dict) and "S3Bucket" in code:
                locations.add((code["S3Bucket"], code["S3Key"]))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("placeholder.py", "")
        for bucket in {b for b, _ in locations}:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
        for bucket, key in locations:
            s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())

    def _index_attributes(self) -> None:
        """Ref and Fn::GetAtt values of the created resources, for resolving the declarations."""
        stage = self.parameters["Stage"]
        params = {name: str(spec.get("Default", "")) for name, spec in self.template["Parameters"].items()}
        params.update(self.parameters)
        params.update(
            {
                "AWS::Region": self.region,
                "AWS::AccountId": ACCOUNT,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackName": self.stack,
                "Stage": stage,
            }
        )
        self.resolver = Resolver(params, refs=dict(self.physical), attributes={})
        attrs = self.resolver.attributes
        for logical, physical in self.physical.items():
            kind = self.template["Resources"].get(logical, {}).get("Type", "")
            if kind == "AWS::SQS::Queue":
                attrs[f"{logical}.Arn"] = self._queue(physical)["QueueArn"]
                attrs[f"{logical}.QueueName"] = physical.rsplit("/", 1)[-1]
                attrs[f"{logical}.QueueUrl"] = physical
            elif kind == "AWS::DynamoDB::Table":
                table = self.client("dynamodb").describe_table(TableName=physical)["Table"]
                attrs[f"{logical}.Arn"] = table["TableArn"]
                if "LatestStreamArn" in table:
                    attrs[f"{logical}.StreamArn"] = table["LatestStreamArn"]
            elif kind == "AWS::KMS::Key":
                attrs[f"{logical}.Arn"] = f"arn:aws:kms:{self.region}:{ACCOUNT}:key/{physical}"
            elif kind == "AWS::Lambda::Function":
                attrs[f"{logical}.Arn"] = f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{physical}"
            elif kind == "AWS::IAM::Role":  # the ARN carries the role's path
                attrs[f"{logical}.Arn"] = self.client("iam").get_role(RoleName=physical)["Role"]["Arn"]
            elif kind == "AWS::Logs::LogGroup":
                attrs[f"{logical}.Arn"] = f"arn:aws:logs:{self.region}:{ACCOUNT}:log-group:{physical}:*"
            elif kind == "AWS::S3::Bucket":
                attrs[f"{logical}.Arn"] = f"arn:aws:s3:::{physical}"
            elif kind == "AWS::SNS::Topic":
                attrs[f"{logical}.TopicArn"] = physical
                attrs[f"{logical}.TopicName"] = physical.rsplit(":", 1)[-1]

    def _queue(self, url: str) -> dict[str, str]:
        attributes = self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        return attributes["Attributes"]  # type: ignore[no-any-return]

    def resolve(self, value: Any) -> Any:
        """The declared value with intrinsics resolved; raises KeyError naming what is not in the stack."""
        if isinstance(value, dict) and len(value) == 1 and "Fn::If" in value:
            condition, when_true, when_false = value["Fn::If"]
            return self.resolve(when_true if self._condition(condition) else when_false)
        return self.resolver.resolve(value)

    def _condition(self, name: str) -> bool:
        return condition_holds(self.template, name, self.resolver)

    # -- checks --------------------------------------------------------------------------------
    def check_all(self) -> list[Result]:
        results = []
        for logical, resource in sorted(self.template["Resources"].items()):
            result = Result(logical, resource["Type"])
            condition = resource.get("Condition")
            if condition and not self._condition(condition):
                result.status = SKIPPED
                result.notes.append(f"condition {condition} is false with these parameters")
            else:
                self._check(result, resource.get("Properties", {}))
            results.append(result)
        return results

    def _check(self, result: Result, props: dict[str, Any]) -> None:
        checker = _CHECKS.get(result.type) or (_custom if result.type.startswith("Custom::") else None)
        if _not_created(result.type):
            result.status = SKIPPED
            result.notes.insert(0, _not_created(result.type))
            if checker is not None:
                checker(self, result, props, "")
            if result.notes and any(n.startswith("MISMATCH") for n in result.notes):
                result.status = FAIL
            return
        physical = self.physical.get(result.logical)
        if not physical and result.type == "AWS::Lambda::Permission":
            _permission(self, result, props, "")
            return
        if not physical:
            if result.type == "AWS::Lambda::LayerVersion":
                result.status = SKIPPED
                result.notes.append("moto's CloudFormation creates layer versions without a physical id")
                return
            result.bad("not created by the stack")
            return
        if checker is None:
            result.good(f"created ({physical}); no settings checked for this type")
            return
        try:
            checker(self, result, props, physical)
        except KeyError as missing:
            result.bad(f"declaration refers to something the stack lacks: {missing}")

    def references(self, result: Result, what: str, value: Any) -> Any:
        """Resolve a declared reference; a reference to a resource the emulator skips is noted."""
        try:
            return self.resolve(value)
        except KeyError as missing:
            target = _referenced(value)
            kind = self.template["Resources"].get(target or "", {}).get("Type", "")
            if _not_created(kind):
                result.notes.append(f"{what} -> {target} (not created here: {_not_created(kind)})")
                return None
            result.bad(f"{what} refers to something the stack lacks: {missing}")
            return None


def _for_emulator(template: dict[str, Any]) -> dict[str, Any]:
    """The template as moto's CloudFormation can take it; the checks still read the original.

    Custom resources are left out (moto would run their Lambda in Docker), and a Ref, GetAtt or
    ${Name.Attribute} of a resource moto cannot create becomes the literal "${Name...}" (moto refuses
    or drops such references), which the report then shows as using a skipped resource.
    """
    copy: dict[str, Any] = json.loads(json.dumps(template))
    copy.pop("Rules", None)  # checked before the deploy (broken_rules)
    resources = copy["Resources"]
    for name in [n for n, spec in resources.items() if spec["Type"].startswith("Custom::")]:
        del resources[name]
    skipped = {name for name, spec in resources.items() if _not_created(spec["Type"])}

    def literal(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in skipped:
            return {"Fn::Sub": f"${{!{value['Ref']}}}"}
        if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            name, attribute = target if isinstance(target, list) else target.split(".", 1)
            if name in skipped:
                return {"Fn::Sub": f"${{!{name}.{attribute}}}"}
        if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            text = re.sub(
                r"\$\{([A-Za-z0-9]+)\.([A-Za-z0-9.]+)\}",
                lambda m: f"${{!{m.group(1)}.{m.group(2)}}}" if m.group(1) in skipped else m.group(0),
                value["Fn::Sub"],
            )
            return {"Fn::Sub": text}
        if isinstance(value, dict):
            return {key: literal(item) for key, item in value.items()}
        if isinstance(value, list):
            return [literal(item) for item in value]
        return value

    copy["Outputs"] = literal(copy.get("Outputs", {}))
    for name, spec in resources.items():
        if name not in skipped:
            resources[name] = literal(spec)
    return copy


def rehearse(
    parameters: dict[str, str],
    out: Any = sys.stdout,
    template: dict[str, Any] | None = None,
    region: str = REGION,
    stack: str = STACK,
) -> int:
    """Run the rehearsal, print one line per resource; 0 when nothing FAILs."""
    template = template if template is not None else transformed()
    required = {name for name, spec in template.get("Parameters", {}).items() if "Default" not in spec}
    parameters = {**{k: v for k, v in REHEARSAL_PARAMETERS.items() if k in required}, **parameters}
    broken = broken_rules(template, parameters, region, stack)
    if broken:
        for rule in broken:
            print(f"REFUSED  rule {rule}", file=out)
        print("rehearsal: the deploy would be refused before any change (template Rules)", file=out)
        return 1
    for noisy in ("werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    with warnings.catch_warnings(), emulator.in_process() as endpoint:
        warnings.simplefilter("ignore")
        rehearsal = Rehearsal(endpoint, template, parameters, region=region, stack=stack)
        status = rehearsal.deploy()
        print(
            f"stack {stack} in {region} ({len(template['Resources'])} resources, parameters {parameters}): "
            f"{status}",
            file=out,
        )
        results = rehearsal.check_all() if status == "CREATE_COMPLETE" else []
        outputs = (
            rehearsal.client("cloudformation")
            .describe_stacks(StackName=stack)["Stacks"][0]
            .get("Outputs", [])
        )
    width = max((len(r.logical) for r in results), default=10)
    for result in results:
        print(f"{result.status:<8} {result.logical:<{width}} {result.type}", file=out)
        for note in result.notes:
            print(f"{'':<9}{'':<{width}}   {note}", file=out)
    for output in outputs:
        note = "  (uses a resource the emulator skips)" if "${" in output["OutputValue"] else ""
        print(f"output   {output['OutputKey']} = {output['OutputValue']}{note}", file=out)
    counts = {s: sum(r.status == s for r in results) for s in (OK, SKIPPED, FAIL)}
    print(f"rehearsal: {counts[OK]} OK, {counts[SKIPPED]} SKIPPED, {counts[FAIL]} FAIL", file=out)
    return 0 if status == "CREATE_COMPLETE" and counts[FAIL] == 0 else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tipline-rehearse", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", default="dev", choices=["dev", "prod"])
    parser.add_argument(
        "--alarm-email", default="ops@example.invalid", help="exercises the e-mail subscription condition"
    )
    args = parser.parse_args(argv)
    main_stack = rehearse({"Stage": args.stage, "AlarmEmail": args.alarm_email})
    print(file=sys.stdout)
    edge_stack = rehearse(
        {"Stage": args.stage},
        template=load_template(EDGE_TEMPLATE),
        region=EDGE_REGION,
        stack=f"{STACK}-edge",
    )
    sys.exit(main_stack or edge_stack)
