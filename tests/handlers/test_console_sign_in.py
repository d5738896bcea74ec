"""The ConsoleSignIn custom resource (tipline.handlers.console_sign_in) against moto's Cognito.

Its events carry the template's own ConsoleSignIn properties, rendered the way CloudFormation sends
them (every scalar a string), so the test breaks when the template and the handler disagree. Its
answers go to a loopback HTTP server standing in for CloudFormation's presigned response URL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from tipline.handlers import console_sign_in
from tipline_local.provision import REGION, Provisioned
from tipline_local.template import Resolver, load_template

DISTRIBUTION = "d111abcdef8.cloudfront.net"


class _CloudFormation(BaseHTTPRequestHandler):
    answers: list[dict[str, Any]]

    def do_PUT(self) -> None:  # the custom resource's answer
        length = int(self.headers.get("Content-Length", 0))
        self.answers.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def answers() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Answers", (_CloudFormation,), {"answers": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/response?X-Amz-Signature=presigned", received
    server.shutdown()
    thread.join()


@pytest.fixture
def pool(stack: Provisioned) -> dict[str, str]:
    """The user pool and the bare console client, as the template creates them before ConsoleSignIn."""
    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool_id = cognito.create_user_pool(PoolName="tipline-local-officers")["UserPool"]["Id"]
    client = load_template()["Resources"]["ConsoleAppClient"]["Properties"]
    assert client["GenerateSecret"] is False
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="tipline-local-console", GenerateSecret=False
    )["UserPoolClient"]["ClientId"]
    return {"pool": pool_id, "client": client_id}


def _as_cloudformation_sends(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_cloudformation_sends(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_cloudformation_sends(item) for item in value]
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _properties(pool: dict[str, str], domain: str = DISTRIBUTION) -> dict[str, Any]:
    declared = load_template()["Resources"]["ConsoleSignIn"]["Properties"]
    resolver = Resolver(
        {"AWS::Region": REGION, "AWS::AccountId": "123456789012"},
        refs={"OfficerUserPool": pool["pool"], "ConsoleAppClient": pool["client"]},
        attributes={
            "ConsoleDistribution.DomainName": domain,
            "ConsoleSignInFunction.Arn": "arn:aws:lambda:ap-southeast-1:123456789012:function:sign-in",
        },
    )
    return _as_cloudformation_sends(resolver.resolve(declared))  # type: ignore[no-any-return]


def _event(request: str, url: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:ap-southeast-1:123456789012:stack/tipline-dev/1",
        "RequestId": f"request-{request}",
        "ResourceType": "Custom::ConsoleSignIn",
        "LogicalResourceId": "ConsoleSignIn",
        "ResourceProperties": properties,
        **extra,
    }


def _client(pool: dict[str, str]) -> dict[str, Any]:
    cognito = boto3.client("cognito-idp", region_name=REGION)
    described: dict[str, Any] = cognito.describe_user_pool_client(
        UserPoolId=pool["pool"], ClientId=pool["client"]
    )["UserPoolClient"]
    return described


def test_create_gives_the_console_client_code_and_pkce_sign_in_back_to_the_distribution(
    pool: dict[str, str], answers: tuple[str, list[dict[str, Any]]], lambda_context: Any
) -> None:
    url, received = answers
    console_sign_in.handler(_event("Create", url, _properties(pool)), lambda_context)
    client = _client(pool)
    assert client["CallbackURLs"] == [f"https://{DISTRIBUTION}/"]
    assert client["LogoutURLs"] == [f"https://{DISTRIBUTION}/"]
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthScopes"] == ["openid", "email"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["ReadAttributes"] == ["email", "custom:unit_id"]
    assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]
    assert (client["IdTokenValidity"], client["RefreshTokenValidity"]) == (15, 12)  # operations.md section 12
    assert client["WriteAttributes"] == ["locale"], "an officer cannot change their own e-mail"
    assert client["EnableTokenRevocation"] is True
    assert client["ClientName"] == "tipline-local-console"
    assert "ClientSecret" not in client
    (answer,) = received
    assert answer == {
        "Status": "SUCCESS",
        "Reason": "Create done",
        "PhysicalResourceId": pool["client"],
        "StackId": "arn:aws:cloudformation:ap-southeast-1:123456789012:stack/tipline-dev/1",
        "RequestId": "request-Create",
        "LogicalResourceId": "ConsoleSignIn",
    }


def test_update_applies_the_new_callback(
    pool: dict[str, str], answers: tuple[str, list[dict[str, Any]]], lambda_context: Any
) -> None:
    url, received = answers
    console_sign_in.handler(_event("Create", url, _properties(pool)), lambda_context)
    moved = _properties(pool, domain="d999newdomain.cloudfront.net")
    event = _event(
        "Update", url, moved, PhysicalResourceId=pool["client"], OldResourceProperties=_properties(pool)
    )
    console_sign_in.handler(event, lambda_context)
    assert _client(pool)["CallbackURLs"] == ["https://d999newdomain.cloudfront.net/"]
    assert [a["Status"] for a in received] == ["SUCCESS", "SUCCESS"]
    assert received[-1]["PhysicalResourceId"] == pool["client"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"AllowedOAuthFlows": ["implicit"]}, "AllowedOAuthFlows"),
        ({"CallbackURLs": ["http://d111abcdef8.cloudfront.net/"]}, "CallbackURLs"),
        ({"LogoutURLs": []}, "LogoutURLs"),
        ({"ClientSecret": "no"}, "ClientSecret"),
    ],
)
def test_settings_that_break_the_design_fail_the_deploy_and_change_nothing(
    pool: dict[str, str],
    answers: tuple[str, list[dict[str, Any]]],
    lambda_context: Any,
    change: dict[str, Any],
    named: str,
) -> None:
    url, received = answers
    before = _client(pool)
    console_sign_in.handler(_event("Create", url, {**_properties(pool), **change}), lambda_context)
    (answer,) = received
    assert answer["Status"] == "FAILED"
    assert named in answer["Reason"]
    assert _client(pool) == before


def test_a_cognito_refusal_is_answered_as_a_failure_with_cognitos_reason(
    pool: dict[str, str], answers: tuple[str, list[dict[str, Any]]], lambda_context: Any
) -> None:
    url, received = answers
    gone = {**pool, "client": "1nexistentcl1ent"}
    console_sign_in.handler(_event("Create", url, _properties(gone)), lambda_context)
    (answer,) = received
    assert answer["Status"] == "FAILED"
    assert "ResourceNotFound" in answer["Reason"]


def test_delete_answers_and_leaves_the_client_as_it_is(
    pool: dict[str, str], answers: tuple[str, list[dict[str, Any]]], lambda_context: Any
) -> None:
    url, received = answers
    console_sign_in.handler(_event("Create", url, _properties(pool)), lambda_context)
    applied = _client(pool)
    delete = _event("Delete", url, _properties(pool), PhysicalResourceId=pool["client"])
    console_sign_in.handler(delete, lambda_context)
    assert received[-1]["Status"] == "SUCCESS"
    assert received[-1]["PhysicalResourceId"] == pool["client"]
    assert _client(pool) == applied


def test_an_unexpected_fault_still_answers_so_the_stack_does_not_wait_an_hour(
    pool: dict[str, str],
    answers: tuple[str, list[dict[str, Any]]],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = answers

    def broken(*_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(console_sign_in.cognito, "replace_app_client_settings", broken)
    console_sign_in.handler(_event("Create", url, _properties(pool)), lambda_context)
    (answer,) = received
    assert answer["Status"] == "FAILED"
    assert "RuntimeError" in answer["Reason"]
    assert "boom" not in answer["Reason"]
