"""`make deploy`'s console step (tipline_ops.console_publish) against moto: S3, CloudFront, CloudFormation.

A built console (a Vite-like dist/) is published to a stack whose outputs name the bucket and the
distribution; the files land with the right types and cache headers, config.json carries the stack's
sign-in settings, index.html goes up last and CloudFront is told to drop its copies.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from tipline_local.template import load_template
from tipline_ops import console_publish
from tipline_ops.console_publish import IMMUTABLE, NO_CACHE, SHORT, main

REGION = "ap-southeast-1"
STACK = "tipline-publish-test"
SIGN_IN = "https://tipline-dev-123456789012.auth.ap-southeast-1.amazoncognito.com"


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> boto3.session.Session:
    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(reset).close()  # noqa: S310 - our own loopback moto server
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    return boto3.session.Session(region_name=REGION)


def _console_client(aws: boto3.session.Session, scopes: list[str]) -> tuple[str, str]:
    """The officers' pool and the console's app client, as ConsoleSignIn leaves it."""
    cognito = aws.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="tipline-test-officers")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool,
        ClientName="tipline-test-console",
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=scopes,
        CallbackURLs=["https://d111abcdef8.cloudfront.net/"],
    )["UserPoolClient"]["ClientId"]
    return pool, client


@pytest.fixture
def deployed(aws: boto3.session.Session) -> dict[str, str]:
    """A stack with the console's outputs: its bucket made by moto's CloudFormation, a distribution."""
    distribution = aws.client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": "publish-test",
            "Comment": "console",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "files",
                        "DomainName": "files.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {"TargetOriginId": "files", "ViewerProtocolPolicy": "redirect-to-https"},
        }
    )["Distribution"]
    url = f"https://{distribution['DomainName']}/"
    pool, client = _console_client(aws, ["openid", "email"])
    outputs = {
        "ConsoleBucketName": {"Ref": "ConsoleBucket"},
        "ConsoleDistributionId": distribution["Id"],
        "ConsoleUrl": url,
        "ConsoleAppClientId": client,
        "OfficerUserPoolId": pool,
        "SignInDomain": SIGN_IN,
    }
    template = {
        "Resources": {"ConsoleBucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    described = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    return {output["OutputKey"]: output["OutputValue"] for output in described}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """What `npm run build` leaves in console/dist (Vite: hashed files under assets/)."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    shell = '<!doctype html><html lang="vi"><script type="module" src="/assets/index-B7x2Qk9a.js"></script>'
    (root / "index.html").write_text(shell)
    (root / "assets" / "index-B7x2Qk9a.js").write_text("console.log('Hộp tin báo')")
    (root / "assets" / "index-Cq81mZpe.css").write_text("body{margin:0}")
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return root


def _object(aws: boto3.session.Session, bucket: str, key: str) -> dict[str, Any]:
    got: dict[str, Any] = aws.client("s3").get_object(Bucket=bucket, Key=key)
    got["Text"] = got["Body"].read().decode()
    return got


def _publish(dist: Path) -> int:
    return main(["--stack", STACK, "--region", REGION, "--dist", str(dist)])


def test_publish_uploads_the_build_with_cache_headers_and_types(
    aws: boto3.session.Session, deployed: dict[str, str], dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _publish(dist) == 0
    bucket = deployed["ConsoleBucketName"]
    keys = {o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {
        "index.html",
        "config.json",
        "assets/index-B7x2Qk9a.js",
        "assets/index-Cq81mZpe.css",
        "favicon.svg",
    }
    expected = {
        "index.html": (NO_CACHE, "text/html; charset=utf-8"),
        "config.json": (NO_CACHE, "application/json; charset=utf-8"),
        "assets/index-B7x2Qk9a.js": (IMMUTABLE, "text/javascript; charset=utf-8"),
        "assets/index-Cq81mZpe.css": (IMMUTABLE, "text/css; charset=utf-8"),
        "favicon.svg": (SHORT, "image/svg+xml"),
    }
    for key, (cache, kind) in expected.items():
        stored = _object(aws, bucket, key)
        assert (stored["CacheControl"], stored["ContentType"]) == (cache, kind), key
    assert _object(aws, bucket, "assets/index-B7x2Qk9a.js")["Text"] == "console.log('Hộp tin báo')"
    assert IMMUTABLE == "public, max-age=31536000, immutable"
    assert NO_CACHE == "no-cache"
    assert deployed["ConsoleUrl"] in capsys.readouterr().out


def test_config_json_carries_the_stacks_sign_in_settings(
    aws: boto3.session.Session, deployed: dict[str, str], dist: Path
) -> None:
    assert _publish(dist) == 0
    config = json.loads(_object(aws, deployed["ConsoleBucketName"], "config.json")["Text"])
    assert config == {
        "apiBase": "/v1",
        "region": REGION,
        "userPoolId": deployed["OfficerUserPoolId"],
        "clientId": deployed["ConsoleAppClientId"],
        "signInDomain": SIGN_IN,
        "redirectUri": deployed["ConsoleUrl"],
        "logoutUri": deployed["ConsoleUrl"],
        "scopes": ["openid", "email"],  # as the deployed client allows them
    }
    # ... which are the template's (ConsoleSignIn applies them to the client)
    declared = load_template()["Resources"]["ConsoleSignIn"]["Properties"]["AllowedOAuthScopes"]
    assert config["scopes"] == declared


def test_the_shell_goes_up_last_and_cloudfront_is_invalidated(
    aws: boto3.session.Session, deployed: dict[str, str], dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    real_session = boto3.session.Session

    def recording_session(*args: Any, **kwargs: Any) -> boto3.session.Session:
        session = real_session(*args, **kwargs)
        session.events.register(
            "before-parameter-build.s3.PutObject", lambda params, **_: written.append(params["Key"])
        )
        return session

    monkeypatch.setattr(console_publish.boto3.session, "Session", recording_session)
    assert _publish(dist) == 0
    assert written[-2:] == ["config.json", "index.html"]
    assert set(written[:-2]) == {"assets/index-B7x2Qk9a.js", "assets/index-Cq81mZpe.css", "favicon.svg"}
    invalidations = aws.client("cloudfront").list_invalidations(
        DistributionId=deployed["ConsoleDistributionId"]
    )
    (only,) = invalidations["InvalidationList"]["Items"]
    batch = aws.client("cloudfront").get_invalidation(
        DistributionId=deployed["ConsoleDistributionId"], Id=only["Id"]
    )["Invalidation"]["InvalidationBatch"]
    assert batch["Paths"]["Items"] == ["/*"]


def test_a_second_publish_rewrites_entry_files_but_not_unchanged_assets(
    aws: boto3.session.Session, deployed: dict[str, str], dist: Path
) -> None:
    bucket, s3 = deployed["ConsoleBucketName"], aws.client("s3")
    assert _publish(dist) == 0
    (dist / "assets" / "index-D0new123.js").write_text("console.log('mới')")
    (dist / "index.html").write_text('<script type="module" src="/assets/index-D0new123.js"></script>')
    result = console_publish.publish(
        s3,
        aws.client("cloudfront"),
        bucket,
        deployed["ConsoleDistributionId"],
        dist,
        {"apiBase": "/v1"},
    )
    assert sorted(result.unchanged) == ["assets/index-B7x2Qk9a.js", "assets/index-Cq81mZpe.css"]
    assert sorted(result.uploaded) == ["assets/index-D0new123.js", "config.json", "favicon.svg", "index.html"]
    assert "index-D0new123.js" in _object(aws, bucket, "index.html")["Text"]
    # the previous build's assets stay, for browsers still running it
    assert s3.head_object(Bucket=bucket, Key="assets/index-B7x2Qk9a.js")["CacheControl"] == IMMUTABLE


def test_without_a_build_nothing_is_published_and_the_message_says_why(
    aws: boto3.session.Session, deployed: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "dist"
    empty.mkdir()
    (empty / "app.js").write_text("x")
    assert _publish(empty) == 2
    assert "npm run build" in capsys.readouterr().err
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=deployed["ConsoleBucketName"])


def test_a_build_that_ships_its_own_config_json_is_refused(
    aws: boto3.session.Session, deployed: dict[str, str], dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (dist / "config.json").write_text('{"apiBase": "http://127.0.0.1:3000/v1"}')
    assert _publish(dist) == 2
    assert "config.json" in capsys.readouterr().err
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=deployed["ConsoleBucketName"])


def test_a_client_without_its_sign_in_settings_is_refused(
    aws: boto3.session.Session, deployed: dict[str, str], dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool, client = deployed["OfficerUserPoolId"], deployed["ConsoleAppClientId"]
    aws.client("cognito-idp").update_user_pool_client(UserPoolId=pool, ClientId=client, AllowedOAuthScopes=[])
    assert _publish(dist) == 2
    assert "sign-in settings were not applied" in capsys.readouterr().err
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=deployed["ConsoleBucketName"])


def test_an_unknown_stack_is_a_clear_error(aws: boto3.session.Session, dist: Path, capsys: Any) -> None:
    assert main(["--stack", "no-such-stack", "--region", REGION, "--dist", str(dist)]) == 2
    assert "no-such-stack" in capsys.readouterr().err


def test_the_stack_and_region_default_to_samconfigs_environment() -> None:
    assert console_publish.deployed_stack("prod") == ("tipline-prod", "ap-southeast-1")
    assert console_publish.deployed_stack("dev") == ("tipline-dev", "ap-southeast-1")
