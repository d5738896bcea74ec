"""Officer API under /v1, behind API Gateway's JWT authorizer (Cognito; locally, tipline-local tokens).

Not on Zalo's 2-second path, so it can afford the event handler's validation: invalid input answers
422 with field-level messages, and GET /v1/openapi.json serves the OpenAPI document.

Every answer, whatever its status, carries ``Cache-Control: no-store`` and
``X-Content-Type-Options: nosniff``. An unexpected error answers 500 and is logged by its type and
the request's ids only: an exception's text can quote decrypted input (a pydantic error does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, Field

from tipline import clock, wiring
from tipline.access import Caller, Unauthenticated, caller_from_claims
from tipline.advisories import manage as advisories
from tipline.advisories.model import Advisory, AdvisoryInput
from tipline.audit import AuditRecord
from tipline.config import get_settings
from tipline.console import blocks as blocking
from tipline.console import listing, oversight, service, views
from tipline.domain import TipStatus
from tipline.errors import Conflict, NotFound
from tipline.evidence.service import attachment_link
from tipline.handlers.http import PRIVATE_HEADERS, response
from tipline.observability import logger, metrics

app = APIGatewayHttpResolver(enable_validation=True)


def _caller() -> Caller:
    return caller_from_claims(app.current_event.request_context.authorizer.jwt_claim)


def _error(status: int, message: str) -> Response[dict[str, str]]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": message}
    )


CHALLENGE = {"WWW-Authenticate": "Bearer"}
UNAUTHORIZED: dict[str, Any] = response(401, {"message": "Unauthorized"})
UNAUTHORIZED["headers"].update(CHALLENGE)
INTERNAL_ERROR = "Internal server error"
_PATH_NAME = re.compile(r"\{(\w+)\}")


def _failed(error: Exception, route: str | None, parameters: Mapping[str, Any]) -> None:
    """Log an unexpected error: its type, the route and the ids in its path, never its text.

    Only the names in the route's path: the resolver's parameters also hold the validated query and
    body (a reply's text, a read's reason)."""
    metrics.add_metric(name="OfficerApiErrors", unit=MetricUnit.Count, value=1)
    names = _PATH_NAME.findall(route or "")
    ids_only = {name: str(parameters[name])[:128] for name in names if name in parameters}
    logger.error("officer api error", extra={"error": type(error).__name__, "route": route, **ids_only})


@app.exception_handler(Unauthenticated)  # type: ignore[untyped-decorator]
def _unauthenticated(_: Unauthenticated) -> Response[dict[str, str]]:
    return Response(
        status_code=401,
        content_type=content_types.APPLICATION_JSON,
        body={"message": "Unauthorized"},
        headers=CHALLENGE,
    )


@app.exception_handler(NotFound)  # type: ignore[untyped-decorator]
def _not_found(_: NotFound) -> Response[dict[str, str]]:
    return _error(404, "Not found")


@app.exception_handler([views.InvalidInput, advisories.InvalidAdvisory])  # type: ignore[untyped-decorator]
def _invalid(error: Exception) -> Response[dict[str, str]]:
    return _error(422, str(error))


@app.exception_handler(advisories.NotPermitted)  # type: ignore[untyped-decorator]
def _not_permitted(error: advisories.NotPermitted) -> Response[dict[str, str]]:
    return _error(403, str(error))


@app.exception_handler([views.Refused, Conflict])  # type: ignore[untyped-decorator]
def _refused(error: Exception) -> Response[dict[str, str]]:
    return _error(409, str(error))


# The catch-all below would also take the errors Powertools answers itself, so they are answered here
# as Powertools does: the field and the kind of error, never the value.
@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    errors = [{"loc": detail["loc"], "type": detail["type"]} for detail in error.errors()]
    return Response(
        status_code=422,
        content_type=content_types.APPLICATION_JSON,
        body={"statusCode": 422, "detail": errors},
    )


@app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
def _unsupported_content_type(_: RequestUnsupportedContentType) -> Response[dict[str, str]]:
    return _error(415, "send the body as application/json")


@app.exception_handler(ServiceError)  # type: ignore[untyped-decorator]
def _service_error(error: ServiceError) -> Response[dict[str, Any]]:  # an unknown route, say
    return Response(
        status_code=error.status_code,
        content_type=content_types.APPLICATION_JSON,
        body={"statusCode": error.status_code, "message": error.msg},
    )


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(error: Exception) -> Response[dict[str, str]]:
    request = app.request
    _failed(error, f"{request.method} {request.route}", request.path_parameters)
    return _error(500, INTERNAL_ERROR)


class ReplyRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class TransferRequest(BaseModel):
    unit_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=3, max_length=500)


class BlockRequest(BaseModel):
    reason: str = Field(min_length=3, max_length=500)
    tip_id: str | None = Field(
        default=None, max_length=64, description="one of the citizen's tips, should the short name be shared"
    )


@app.get("/v1/tips")
def list_tips(
    status: Annotated[TipStatus | None, Query()] = None,
    urgent: Annotated[bool | None, Query()] = None,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="only tips active since then: ISO 8601 with a zone, or epoch seconds/ms"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    assignee: Annotated[str | None, Query(max_length=128)] = None,
    code: Annotated[
        str | None, Query(max_length=32, description="the tip with this code (as a citizen may type it)")
    ] = None,
) -> listing.TipPage:
    return listing.list_tips(
        wiring.table(),
        wiring.cursor_key(),
        _caller(),
        status=status,
        urgent=urgent,
        unit_id=unit,
        since_ms=None if since is None else int(since.timestamp() * 1000),
        limit=limit,
        cursor=cursor,
        assignee=assignee,
        code=code,
    )


@app.get("/v1/me")
def me() -> listing.Me:
    return listing.me(wiring.table(), _caller())


@app.get("/v1/units")
def units() -> list[listing.Unit]:
    _caller()
    return listing.units(wiring.table())


@app.get("/v1/tips/<tip_id>")
def read_tip(
    tip_id: Annotated[str, Path(max_length=64)],
    reason: Annotated[str, Query(min_length=3, max_length=500, description="why the thread is opened")],
) -> service.TipDetail:
    return service.read_tip(wiring.table(), get_settings(), _caller(), tip_id, reason, clock.now_ms())


@app.post("/v1/tips/<tip_id>/replies")
def reply(
    tip_id: Annotated[str, Path(max_length=64)], body: Annotated[ReplyRequest, Body()]
) -> Response[Any]:
    queued = service.reply(wiring.table(), get_settings(), _caller(), tip_id, body.text, clock.now_ms())
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=queued)


@app.patch("/v1/tips/<tip_id>")
def triage(
    tip_id: Annotated[str, Path(max_length=64)], body: Annotated[service.TipChanges, Body()]
) -> views.TipSummary:
    return service.triage(wiring.table(), get_settings(), _caller(), tip_id, body, clock.now_ms())


@app.post("/v1/tips/<tip_id>/transfer")
def transfer(
    tip_id: Annotated[str, Path(max_length=64)], body: Annotated[TransferRequest, Body()]
) -> views.TipSummary:
    units = {account.unit_id for account in wiring.table().list_oas()}
    return service.transfer(
        wiring.table(), _caller(), tip_id, body.unit_id, body.reason, units, clock.now_ms()
    )


@app.get("/v1/tips/<tip_id>/attachments/<attachment_id>")
def attachment(
    tip_id: Annotated[str, Path(max_length=64)],
    attachment_id: Annotated[str, Path(max_length=128)],
    reason: Annotated[str, Query(min_length=3, max_length=500)],
) -> dict[str, Any]:
    caller = _caller()
    link = attachment_link(
        wiring.table(),
        get_settings(),
        tip_id=tip_id,
        attachment=attachment_id,
        officer=caller.subject,
        purpose=reason,
        now_ms=clock.now_ms(),
        allowed_units=caller.units,
    )
    return link.as_dict()


@app.post("/v1/contacts/<citizen>/block")
def block(
    citizen: Annotated[str, Path(max_length=16)], body: Annotated[BlockRequest, Body()]
) -> blocking.Block:
    return blocking.block_contact(
        wiring.table(), _caller(), citizen, body.reason, clock.now_ms(), body.tip_id
    )


@app.delete("/v1/contacts/<citizen>/block")
def unblock(
    citizen: Annotated[str, Path(max_length=16)],
    reason: Annotated[str, Query(min_length=3, max_length=500, description="why the block is lifted")],
    tip_id: Annotated[
        str | None,
        Query(max_length=64, description="one of the citizen's tips, should the short name be shared"),
    ] = None,
) -> blocking.BlockLifted:
    return blocking.unblock_contact(wiring.table(), _caller(), citizen, reason, clock.now_ms(), tip_id)


@app.get("/v1/blocks")
def blocks() -> list[blocking.Block]:
    return blocking.list_blocks(wiring.table(), _caller())


@app.get("/v1/audit")
def audit(
    tip_id: Annotated[str | None, Query(max_length=64)] = None,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    advisory_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditRecord]:
    return oversight.audit_trail(wiring.table(), _caller(), tip_id, unit, advisory_id)


@app.get("/v1/stats")
def stats() -> list[oversight.UnitStats]:
    return oversight.stats(wiring.table(), _caller(), clock.now_ms())


@app.post(
    "/v1/advisories",
    responses={201: {"description": "Created", "content": {"application/json": {"model": Advisory}}}},
)
def create_advisory(body: Annotated[AdvisoryInput, Body()]) -> Response[Any]:
    units = {account.unit_id for account in wiring.table().list_oas()}
    created = advisories.create(wiring.table(), _caller(), body, units, clock.now_ms())
    return Response(
        status_code=201, content_type=content_types.APPLICATION_JSON, body=created.model_dump(mode="json")
    )


@app.get("/v1/advisories")
def list_advisories() -> list[Advisory]:
    return advisories.list_visible(wiring.table(), _caller())


class AdvisoryDetail(Advisory):
    report: list[advisories.RunReport]


@app.get("/v1/advisories/<advisory_id>")
def read_advisory(advisory_id: Annotated[str, Path(max_length=64)]) -> AdvisoryDetail:
    caller = _caller()
    advisory = advisories.read(wiring.table(), caller, advisory_id)
    report = advisories.report(wiring.table(), caller, advisory_id)
    return AdvisoryDetail(**advisory.model_dump(), report=report)


@app.delete("/v1/advisories/<advisory_id>")
def cancel_advisory(
    advisory_id: Annotated[str, Path(max_length=64)],
    reason: Annotated[
        str | None, Query(min_length=3, max_length=500, description="why, for the audit")
    ] = None,
) -> Advisory:
    return advisories.cancel(wiring.table(), _caller(), advisory_id, clock.now_ms(), reason)


def openapi_document() -> str:
    """The OpenAPI document of this API (the console's types are generated from it)."""
    return app.get_openapi_json_schema(
        title="Zalo Tipline officer API",
        version="1",
        description=__doc__,
        security_schemes={
            "OfficerJwt": HTTPBearer(
                bearerFormat="JWT",
                description="Cognito ID token (groups officer/commander, custom:unit_id)",
            )
        },
        security=[{"OfficerJwt": []}],
    )


@app.get("/v1/openapi.json")
def openapi() -> Response[str]:
    _caller()
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document())


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = _answer(event, context)
    return {**answer, "headers": {**(answer.get("headers") or {}), **PRIVATE_HEADERS}}


def _answer(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        # Identity first: without verified claims the answer is 401 whatever the input, before the
        # resolver's validation could describe the API to an anonymous caller.
        try:
            caller_from_claims(APIGatewayProxyEventV2(event).request_context.authorizer.jwt_claim)
        except Unauthenticated:
            return UNAUTHORIZED
        return app.resolve(event, context)
    except Exception as error:  # outside any route (a malformed event, say): the same rule
        _failed(error, event.get("routeKey"), event.get("pathParameters") or {})
        return response(500, {"message": INTERNAL_ERROR})
