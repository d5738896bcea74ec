"""Publish the built console to its stack: files to the bucket, config.json, then a CloudFront invalidation.

    python -m tipline_ops.console_publish [--config-env dev|prod] [--stack NAME] [--region R] [--dist DIR]

`make deploy` runs it after `sam deploy`, once `npm run build` has written console/dist. The stack's
outputs name the bucket, the distribution and the sign-in client, whose scopes are read from Cognito
as deployed; nothing is typed twice.

Cache headers: entry files (index.html, config.json) are `no-cache` (browsers revalidate them on
every load, so a deploy shows at once); Vite names every file under assets/ by its content hash, so
those are `immutable` for a year; anything else (favicon, robots.txt) may be cached five minutes.
Files go up assets first, config.json next and index.html last, so the shell never names a file
that is not there yet. Old assets stay (a browser still running the previous build may ask for
them); the bucket's versions keep earlier builds 30 days.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mimetypes
import sys
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "console" / "dist"
SAMCONFIG = ROOT / "samconfig.toml"
SHELL = "index.html"
CONFIG = "config.json"
HASHED_DIR = "assets/"
NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
API_BASE = "/v1"
# Types a browser must get right (mimetypes' table depends on the machine); text gets its charset.
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
    ".txt": "text/plain",
    ".wasm": "application/wasm",
}
_UTF8 = ("text/", "application/json", "application/manifest+json")


class PublishError(Exception):
    """Nothing to publish or nowhere to publish it; the message says what to do."""


@dataclass
class Published:
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    invalidation: str = ""


def cache_control(key: str) -> str:
    if key in (SHELL, CONFIG) or key.endswith(".html"):
        return NO_CACHE
    if key.startswith(HASHED_DIR):
        return IMMUTABLE
    return SHORT


def content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    kind = _TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith(_UTF8) else kind


def upload_order(keys: list[str]) -> list[str]:
    """Everything else first, then config.json, then the shell that loads it all."""
    rank = {CONFIG: 1, SHELL: 2}
    return sorted(keys, key=lambda key: (rank.get(key, 0), key))


def runtime_config(outputs: dict[str, str], region: str, scopes: list[str]) -> dict[str, Any]:
    """What the console reads at start (config.json): where to sign in and where its API is."""
    return {
        "apiBase": API_BASE,
        "region": region,
        "userPoolId": outputs["OfficerUserPoolId"],
        "clientId": outputs["ConsoleAppClientId"],
        "signInDomain": outputs["SignInDomain"],
        "redirectUri": outputs["ConsoleUrl"],
        "logoutUri": outputs["ConsoleUrl"],
        "scopes": scopes,
    }


def console_outputs(outputs: dict[str, str], stack: str) -> dict[str, str]:
    """The outputs publishing needs; a stack from before the console is refused by name."""
    needed = (
        "ConsoleUrl",
        "ConsoleBucketName",
        "ConsoleDistributionId",
        "ConsoleAppClientId",
        "OfficerUserPoolId",
        "SignInDomain",
    )
    missing = [name for name in needed if not outputs.get(name)]
    if missing:
        raise PublishError(
            f"stack {stack} has no {', '.join(missing)} output: deploy this template.yaml first"
        )
    return {name: outputs[name] for name in needed}


def sign_in_scopes(cognito: Any, outputs: dict[str, str]) -> list[str]:
    """The OAuth scopes the console's app client allows, as deployed (ConsoleSignIn applies them)."""
    client = cognito.describe_user_pool_client(
        UserPoolId=outputs["OfficerUserPoolId"], ClientId=outputs["ConsoleAppClientId"]
    )["UserPoolClient"]
    scopes = [str(scope) for scope in client.get("AllowedOAuthScopes", [])]
    if "openid" not in scopes:
        raise PublishError(
            "the console's app client has no openid scope: its sign-in settings were not applied"
        )
    return scopes


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except cloudformation.exceptions.ClientError as exc:
        raise PublishError(f"stack {stack!r} not found: deploy it first (make deploy)") from exc
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}


def _files(dist: Path) -> dict[str, Path]:
    if not (dist / SHELL).is_file():
        raise PublishError(
            f"{dist} has no {SHELL}: build the console first (cd console && npm ci && npm run build)"
        )
    files = {path.relative_to(dist).as_posix(): path for path in dist.rglob("*") if path.is_file()}
    if CONFIG in files:
        raise PublishError(
            f"{dist}/{CONFIG} would be overwritten: the deploy writes it from the stack's outputs"
        )
    return files


def _existing_etags(s3: Any, bucket: str) -> dict[str, str]:
    etags = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            etags[item["Key"]] = item["ETag"].strip('"')
    return etags


def publish(
    s3: Any, cloudfront: Any, bucket: str, distribution_id: str, dist: Path, config: dict[str, Any]
) -> Published:
    files = _files(dist)
    bodies: dict[str, bytes] = {key: path.read_bytes() for key, path in files.items()}
    bodies[CONFIG] = (json.dumps(config, indent=1, sort_keys=True) + "\n").encode()
    existing = _existing_etags(s3, bucket)
    result = Published()
    for key in upload_order(list(bodies)):
        body = bodies[key]
        # Content-addressed files already there are the same file; entry files are always written.
        same = existing.get(key) == hashlib.md5(body, usedforsecurity=False).hexdigest()
        if same and cache_control(key) == IMMUTABLE:
            result.unchanged.append(key)
            continue
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type(key),
            CacheControl=cache_control(key),
        )
        result.uploaded.append(key)
    answer = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": str(uuid.uuid4())},
    )
    result.invalidation = answer["Invalidation"]["Id"]
    return result


def deployed_stack(config_env: str) -> tuple[str, str]:
    """The stack name and region `sam deploy --config-env` uses (samconfig.toml)."""
    config = tomllib.loads(SAMCONFIG.read_text("utf-8"))
    try:
        deploy = config[config_env]["deploy"]["parameters"]
    except KeyError as exc:
        raise PublishError(f"samconfig.toml has no [{config_env}.deploy.parameters]") from exc
    return str(deploy["stack_name"]), str(deploy["region"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="console-publish", description=__doc__.split("\n")[0])
    parser.add_argument("--config-env", default="dev", help="samconfig.toml environment (default dev)")
    parser.add_argument("--stack", help="stack name (default: the environment's in samconfig.toml)")
    parser.add_argument("--region", help="stack region (default: the environment's in samconfig.toml)")
    parser.add_argument("--dist", type=Path, default=DIST, help="the built console (default console/dist)")
    args = parser.parse_args(argv)
    try:
        stack, region = deployed_stack(args.config_env) if not (args.stack and args.region) else ("", "")
        stack, region = args.stack or stack, args.region or region
        session = boto3.session.Session(region_name=region)
        outputs = console_outputs(stack_outputs(session.client("cloudformation"), stack), stack)
        config = runtime_config(outputs, region, sign_in_scopes(session.client("cognito-idp"), outputs))
        result = publish(
            session.client("s3"),
            session.client("cloudfront"),
            outputs["ConsoleBucketName"],
            outputs["ConsoleDistributionId"],
            args.dist,
            config,
        )
    except PublishError as problem:
        print(f"console-publish: {problem}", file=sys.stderr)
        return 2
    print(
        f"console published to {outputs['ConsoleBucketName']}: {len(result.uploaded)} file(s) uploaded, "
        f"{len(result.unchanged)} unchanged; CloudFront invalidation {result.invalidation}\n"
        f"  officers open {outputs['ConsoleUrl']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
