"""How template.yaml serves the officer console: private bucket behind CloudFront (origin access control),
/v1/* forwarded uncached to the HTTP API on the same origin, strict security headers, a WAF web ACL
from the us-east-1 edge stack (edge/waf.yaml), and hosted sign-in that returns to the distribution.

Part of `make validate`. The CloudFront Function that routes the single-page app runs here in Node.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from typing import Any

import pytest
from tipline_local.rehearse import rehearse
from tipline_local.rehearse.model import (
    ALL_VIEWER_EXCEPT_HOST_HEADER,
    CACHING_DISABLED,
    CACHING_OPTIMIZED,
    EDGE_REGION,
    EDGE_TEMPLATE,
)
from tipline_local.template import load_template
from tipline_local.transform import transformed

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
DISTRIBUTION = RESOURCES["ConsoleDistribution"]["Properties"]["DistributionConfig"]
EVIDENCE_HOST = "https://s3.${AWS::Region}.${AWS::URLSuffix}/${EvidenceBucket}/"
SIGN_IN_HOST = "https://${OfficerSignInDomain}.auth.${AWS::Region}.amazoncognito.com"
CONSOLE_URL = {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/"}


def _origin(origin_id: str) -> dict[str, Any]:
    (origin,) = [o for o in DISTRIBUTION["Origins"] if o["Id"] == origin_id]
    return origin


def _api_behaviour() -> dict[str, Any]:
    (behaviour,) = [b for b in DISTRIBUTION["CacheBehaviors"] if b["PathPattern"] == "/v1/*"]
    return behaviour


def _csp() -> dict[str, list[str]]:
    headers = RESOURCES["ConsoleSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    policy = headers["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    assert policy["Override"] is True
    text = policy["ContentSecurityPolicy"]["Fn::Sub"]
    directives = [part.split() for part in text.split(";") if part.strip()]
    return {directive[0]: directive[1:] for directive in directives}


def test_the_csp_allows_only_this_origin_the_evidence_bucket_and_cognito() -> None:
    assert _csp() == {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:", EVIDENCE_HOST],
        "media-src": ["'self'", "blob:", EVIDENCE_HOST],
        "connect-src": ["'self'", SIGN_IN_HOST],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'", SIGN_IN_HOST],
        "object-src": ["'none'"],
    }
    sources = {source for values in _csp().values() for source in values}
    assert not {s for s in sources if "unsafe" in s or s in ("*", "https:", "http:")}


def test_the_evidence_host_in_the_csp_is_where_presigned_links_point() -> None:
    """The officer API presigns path-style, regional S3 URLs (tipline.adapters.aws): the CSP's host."""
    import boto3
    from botocore.config import Config
    from tipline.adapters.aws import _SERVICE_OPTIONS

    s3 = boto3.session.Session(
        aws_access_key_id="x",
        aws_secret_access_key="y",  # offline presign, no request is made
        region_name="ap-southeast-1",
    ).client("s3", config=Config(**_SERVICE_OPTIONS["s3"]))
    link = s3.generate_presigned_url("get_object", Params={"Bucket": "tipline-evidence", "Key": "evidence/a"})
    values = {"${AWS::Region}": "ap-southeast-1", "${AWS::URLSuffix}": "amazonaws.com"}
    values["${EvidenceBucket}"] = "tipline-evidence"
    expected = EVIDENCE_HOST
    for name, value in values.items():
        expected = expected.replace(name, value)
    assert link.startswith(expected)


def test_security_headers_hsts_no_framing_no_referrer_nosniff_on_every_behaviour() -> None:
    config = RESOURCES["ConsoleSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    headers = config["SecurityHeadersConfig"]
    hsts = headers["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] >= 31536000
    assert hsts["IncludeSubdomains"] is True
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert "ContentTypeOptions" in headers
    assert all(header["Override"] is True for header in headers.values())
    for behaviour in [DISTRIBUTION["DefaultCacheBehavior"], *DISTRIBUTION["CacheBehaviors"]]:
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "ConsoleSecurityHeaders"}


def test_the_bucket_is_private_and_read_only_by_this_distribution_through_origin_access_control() -> None:
    origin = _origin(DISTRIBUTION["DefaultCacheBehavior"]["TargetOriginId"])
    assert origin["DomainName"] == {"Fn::GetAtt": ["ConsoleBucket", "RegionalDomainName"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["ConsoleOriginAccess", "Id"]}
    access = RESOURCES["ConsoleOriginAccess"]["Properties"]["OriginAccessControlConfig"]
    assert (
        access["OriginAccessControlOriginType"],
        access["SigningBehavior"],
        access["SigningProtocol"],
    ) == (
        "s3",
        "always",
        "sigv4",
    )
    bucket = RESOURCES["ConsoleBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    statements = RESOURCES["ConsoleBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    source = allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${ConsoleDistribution}")
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_v1_goes_to_the_http_api_uncached_with_every_viewer_header_but_host() -> None:
    behaviour = _api_behaviour()
    assert behaviour["CachePolicyId"] == CACHING_DISABLED
    assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert {"GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"} <= set(behaviour["AllowedMethods"])
    assert "FunctionAssociations" not in behaviour  # no SPA rewrite on the API
    api = _origin(behaviour["TargetOriginId"])
    assert api["DomainName"] == {"Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    # The HTTP API's stage: /v1/tips reaches /dev/v1/tips.
    assert api["OriginPath"] == {"Fn::Sub": "/${Stage}"}
    assert api["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    # A 403/404 must reach the console as the API sent it, never as index.html.
    assert "CustomErrorResponses" not in DISTRIBUTION


def test_the_console_shell_is_the_root_and_files_are_https_only() -> None:
    assert DISTRIBUTION["DefaultRootObject"] == "index.html"
    default = DISTRIBUTION["DefaultCacheBehavior"]
    assert default["CachePolicyId"] == CACHING_OPTIMIZED  # follows each file's Cache-Control
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert set(default["AllowedMethods"]) == {"GET", "HEAD"}
    (association,) = default["FunctionAssociations"]
    assert association == {
        "EventType": "viewer-request",
        "FunctionARN": {"Fn::GetAtt": ["ConsoleRoutes", "FunctionARN"]},
    }


NODE = shutil.which("node")


def _route(uri: str) -> dict[str, Any]:
    """Run the distribution's CloudFront Function in Node on a viewer request for ``uri``."""
    assert NODE, "node is needed to run the console's CloudFront Function (it builds the console too)"
    code = RESOURCES["ConsoleRoutes"]["Properties"]["FunctionCode"]
    script = (
        f"{code}\nprocess.stdout.write(JSON.stringify(handler({json.dumps({'request': {'uri': uri}})})));"
    )
    result = subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("uri", "served"),
    [
        ("/", "/index.html"),
        ("/tips", "/index.html"),
        ("/tips/0f6e1c2a-5b7d-4c8e-9a10-1234567890ab", "/index.html"),
        ("/advisories/new", "/index.html"),
        ("/assets/index-B7x2Qk9a.js", "/assets/index-B7x2Qk9a.js"),
        ("/config.json", "/config.json"),
        ("/favicon.svg", "/favicon.svg"),
    ],
)
def test_console_routes_get_the_shell_and_files_pass(uri: str, served: str) -> None:
    assert _route(uri) == {"uri": served}


def test_v1_alone_is_not_a_console_page() -> None:
    assert _route("/v1") == {"statusCode": 404, "statusDescription": "Not Found"}


def test_the_distribution_has_the_edge_stacks_web_acl() -> None:
    assert DISTRIBUTION["WebACLId"] == {"Ref": "ConsoleWebAclArn"}
    parameter = TEMPLATE["Parameters"]["ConsoleWebAclArn"]
    assert "Default" not in parameter  # no console without its web ACL
    pattern = parameter["AllowedPattern"]
    assert re.match(pattern, "arn:aws:wafv2:us-east-1:123456789012:global/webacl/tipline-prod-console/abc-1")
    assert not re.match(pattern, "arn:aws:wafv2:ap-southeast-1:123456789012:regional/webacl/x/abc")
    assert not re.match(pattern, "")


EDGE = load_template(EDGE_TEMPLATE)


def test_the_web_acl_limits_each_ip_and_runs_the_aws_managed_rules() -> None:
    acl = EDGE["Resources"]["ConsoleWebAcl"]["Properties"]
    assert acl["Scope"] == "CLOUDFRONT"
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    rates = {
        name: rule["Statement"]["RateBasedStatement"]
        for name, rule in rules.items()
        if "RateBasedStatement" in rule["Statement"]
    }
    assert set(rates) == {"requests-per-ip", "api-writes-per-ip"}
    for name, rate in rates.items():
        assert rate["AggregateKeyType"] == "IP"
        assert rules[name]["Action"] == {"Block": {}}
    assert rates["requests-per-ip"]["Limit"] == {"Ref": "RequestsPerIpPerFiveMinutes"}
    scope = json.dumps(rates["api-writes-per-ip"]["ScopeDownStatement"])
    assert '"SearchString": "/v1/"' in scope
    managed = {
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for rule in rules.values()
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert managed == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    assert sorted(rule["Priority"] for rule in rules.values()) == list(range(len(rules)))


def test_the_web_acl_logs_every_request_without_tokens_and_only_in_us_east_1() -> None:
    logging = EDGE["Resources"]["WebAclLogging"]["Properties"]
    assert {"SingleHeader": {"Name": "authorization"}} in logging["RedactedFields"]
    assert {"SingleHeader": {"Name": "cookie"}} in logging["RedactedFields"]
    assert "LoggingFilter" not in logging  # every request: this is the console's access log
    (assertion,) = EDGE["Rules"]["OnlyInUsEast1"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    group = EDGE["Resources"]["WebAclLogGroup"]["Properties"]
    assert group["RetentionInDays"] and group["KmsKeyId"]


def test_hosted_sign_in_returns_to_the_distribution_with_code_and_pkce() -> None:
    sign_in = RESOURCES["ConsoleSignIn"]["Properties"]
    assert sign_in["ServiceToken"] == {"Fn::GetAtt": ["ConsoleSignInFunction", "Arn"]}
    assert sign_in["ClientId"] == {"Ref": "ConsoleAppClient"}
    assert sign_in["CallbackURLs"] == [CONSOLE_URL]
    assert sign_in["LogoutURLs"] == [CONSOLE_URL]
    assert TEMPLATE["Outputs"]["ConsoleUrl"]["Value"] == CONSOLE_URL
    assert sign_in["AllowedOAuthFlows"] == ["code"]
    assert "custom:unit_id" in sign_in["ReadAttributes"]
    assert "custom:unit_id" not in sign_in["WriteAttributes"]
    client = RESOURCES["ConsoleAppClient"]["Properties"]
    assert client["GenerateSecret"] is False
    assert set(client) == {"UserPoolId", "ClientName", "GenerateSecret"}, "its settings live in ConsoleSignIn"
    audience = RESOURCES["HttpApi"]["Properties"]["Auth"]["Authorizers"]["OfficerJwt"]["JwtConfiguration"]
    assert {"Ref": "ConsoleAppClient"} in audience["audience"]
    domain = RESOURCES["OfficerSignInDomain"]["Properties"]
    assert domain["UserPoolId"] == {"Ref": "OfficerUserPool"}


def test_the_sign_in_function_may_only_set_the_console_clients_settings() -> None:
    role = transformed()["Resources"]["ConsoleSignInFunctionRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    (statement,) = statements
    assert statement["Action"] == ["cognito-idp:DescribeUserPoolClient", "cognito-idp:UpdateUserPoolClient"]
    resource = statement["Resource"]["Fn::Sub"]
    assert resource.endswith(":userpool/${OfficerUserPool}")


def test_the_rehearsal_creates_the_bucket_names_the_emulators_limits_and_catches_a_cached_api() -> None:
    template = transformed()
    config = template["Resources"]["ConsoleDistribution"]["Properties"]["DistributionConfig"]
    (api,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/v1/*"]
    api["CachePolicyId"] = CACHING_OPTIMIZED  # /v1 answers would be cached
    config["CustomErrorResponses"] = [
        {"ErrorCode": 404, "ResponseCode": 200, "ResponsePagePath": "/index.html"}
    ]
    out = io.StringIO()
    assert rehearse({"Stage": "dev", "AlarmEmail": ""}, out, template=template) == 1
    report = out.getvalue()
    assert "OK       ConsoleBucket " in report
    assert "FAIL     ConsoleDistribution " in report
    assert f"/v1/* cache policy: declared {CACHING_DISABLED}" in report
    assert "it would rewrite /v1 errors too" in report
    for skipped, reason in {
        "ConsoleOriginAccess": "cannot create AWS::CloudFront::OriginAccessControl",
        "ConsoleRoutes": "cannot create AWS::CloudFront::Function",
        "ConsoleSecurityHeaders": "cannot create AWS::CloudFront::ResponseHeadersPolicy",
        "ConsoleSignIn": "runs a custom resource's Lambda in Docker",
        "OfficerSignInDomain": "cannot create AWS::Cognito::UserPoolDomain",
    }.items():
        line = next(
            i for i, text in enumerate(report.splitlines()) if text.startswith(f"SKIPPED  {skipped} ")
        )
        assert reason in report.splitlines()[line + 1], skipped
    assert "output   ConsoleUrl = https://${ConsoleDistribution.DomainName}/  (uses a resource" in report


def test_the_rehearsal_of_the_edge_stack_runs_in_us_east_1() -> None:
    out = io.StringIO()
    assert rehearse({"Stage": "prod"}, out, template=EDGE, region=EDGE_REGION, stack="edge-test") == 0
    report = out.getvalue()
    assert "stack edge-test in us-east-1" in report
    assert "OK       WebAclLogGroup" in report
    assert "per-IP rate rules requests-per-ip, api-writes-per-ip" in report
