"""``starter.py api``: the sagas over HTTP, for a checkout controller and for operators.

A start (``POST`` to each saga's ``api_path``: ``/orders``, ``/registrations``, …) reads
the body under the limits of a request file (``sagas/inputs.py``) and checks it with the
CLI's ``prepare``; listing, status, answers and cancellation are ``sagas/operations.py``.
The API talks only to Temporal, connecting on first use: it starts, and ``/health/ready``
says 503, while Temporal is down. It decodes payloads with the project's keyring, so its
answers hold customer data: keep it on loopback (the default) or require a token.
``/openapi.json`` is generated from the routes below and the models they take and return.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapter.schema import FieldError
from models.limits import Text
from models.status import InterventionAction, InterventionRequest, SagaStatus
from plumbing.connection import TemporalSettings, TemporalUnreachable, connect
from sagas.catalogue import catalogue
from sagas.descriptor import SagaDescriptor
from sagas.identity import MAX_KEY_CHARS
from sagas.inputs import MAX_DOCUMENT_BYTES, InputError, parse_request
from sagas.lifecycle import start_saga
from sagas.operations import (
    AnswerRefused,
    OperationError,
    SagaConflict,
    SagaList,
    SagaNotFound,
    SagaQuery,
    cancel,
    intervene,
    list_sagas,
    manual_results,
    rerun,
    saga_status,
)
from sagas.prepare import InvalidInput, field_errors, prepare

DEFAULT_PORT: Final = 8800
TOKEN_VAR: Final = "SAGA_API_TOKEN"
OPERATOR_HEADER: Final = "X-Operator"
"""Who answers an intervention, when the token has no name of its own."""
_NAMED_TOKEN: Final = re.compile(r"^(?P<name>[A-Za-z][\w.-]{0,63})=(?P<secret>.+)$")
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
"""Stripe's convention: one saga per key, ever; the key again with another body is a 422."""
MAX_BODY_BYTES: Final = MAX_DOCUMENT_BYTES
"""A body is a request document: the same 1 MiB as a file, refused (413) before it is read
when its Content-Length says more."""
READY_TIMEOUT: Final = timedelta(seconds=2)
_REF: Final = "#/components/schemas/{model}"


class FieldProblem(BaseModel):
    path: str
    """A JSON path in the body (``$.cart_items[0].quantity``), or ``query.<name>``."""
    message: str


class Problem(BaseModel):
    """Every error answer: what went wrong and, for a 422, each problem by its path."""

    error: str
    errors: list[FieldProblem] = Field(default_factory=list)


class Submitted(BaseModel):
    workflow_id: str
    status_url: str
    already_submitted: bool
    """This submission is a saga started before (the same idempotency key, identity, or
    request within the dedup window): nothing new was started."""
    state: str
    """The saga's state now: ``in_progress`` when started now; a duplicate's may have
    ended (``error``, ``compensated``, …)."""


class RerunStarted(BaseModel):
    workflow_id: str
    """The rerun's own id (``<id>-run-2``, …)."""
    status_url: str
    rerun_of: str


class CancelRequested(BaseModel):
    workflow_id: str
    status_url: str


class InterventionBody(BaseModel):
    """The body of ``POST /sagas/{id}/retry|resolve|compensate|fail``; may be left out. Any
    other key is refused, naming it (a misspelt ``reason`` would record none)."""

    model_config = ConfigDict(extra="forbid")

    result: dict[str, Any] | None = None
    """``resolve`` only: the step's result, as the steps after it read it."""
    reason: Text = ""
    operator: Text = "api"


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    temporal: str | None = None
    """The Temporal address, in ``/health/ready``."""


class BodyTooLarge(Exception):
    """A body over MAX_BODY_BYTES (413)."""


Handler = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Endpoint:
    """One route, with what the OpenAPI document says about it."""

    method: str
    path: str
    name: str
    summary: str
    handler: Handler
    responses: Mapping[int, tuple[str, type[BaseModel]]]
    body: type[BaseModel] | None = None
    body_also: Mapping[str, Any] | None = None
    """A JSON Schema the body must satisfy as well as ``body`` (a saga's config schema)."""
    body_required: bool = True
    query: type[BaseModel] | None = None
    headers: Mapping[str, str] | None = None
    """Optional request headers it reads, and what each does."""
    description: str = ""
    public: bool = False
    """Served without the token (health probes, the OpenAPI document)."""


_REFUSED: Final = {
    401: ("missing or wrong bearer token", Problem),
    503: ("Temporal cannot be reached", Problem),
}
_SAGA_ERRORS: Final = {404: ("no saga with this id", Problem), **_REFUSED}


def _json(model: BaseModel, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status, headers=headers or None)


def _problem(status: int, error: str, errors: Sequence[FieldError | str] = ()) -> JSONResponse:
    problems = [
        FieldProblem(path=p.path, message=p.message)
        if isinstance(p, FieldError)
        else FieldProblem(path="$", message=p)
        for p in errors
    ]
    return _json(Problem(error=error, errors=problems), status)


def _error_answer(request: Request, exc: Exception) -> Response:
    """The one place an exception becomes an HTTP answer."""
    if isinstance(exc, InputError):
        return _problem(422, "the body is not a JSON document within the limits", exc.problems)
    if isinstance(exc, InvalidInput):
        return _problem(422, "invalid input: nothing was started or changed", exc.errors)
    if isinstance(exc, BodyTooLarge):
        return _problem(413, f"the body is larger than {MAX_BODY_BYTES} bytes (1 MiB)")
    if isinstance(exc, AnswerRefused):
        return _problem(422, str(exc), exc.problems)
    if isinstance(exc, OperationError):
        status = {SagaNotFound: 404, SagaConflict: 409}[type(exc)]
        return _problem(status, str(exc))
    if isinstance(exc, TemporalUnreachable):
        return _problem(503, str(exc))
    if isinstance(exc, RPCError):
        down = exc.status in {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}
        address = request.app.state.temporal_address
        return _problem(503 if down else 502, f"Temporal at {address}: {exc.message}")
    assert isinstance(exc, HTTPException)  # the last of the classes app() routes here
    return _problem(exc.status_code, exc.detail)


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _validated(model: type[M], data: Any, root: str) -> M:
    """``data`` as ``model``; a 422 naming each problem under ``root`` when it does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        raise InvalidInput(field_errors(invalid, root)) from None


@dataclass
class SagaApi:
    """The API's handlers over one lazily connected Temporal client."""

    settings: TemporalSettings
    environment: str | None = None
    token: str | None = None
    _client: Client | None = field(default=None, init=False)
    _connecting: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def client(self) -> Client:
        """The client, connected on first use and again after a failed attempt."""
        async with self._connecting:
            if self._client is None:
                self._client = await connect(self.settings)
            return self._client

    def _status_url(self, request: Request, workflow_id: str) -> str:
        return str(request.url_for("saga_status", workflow_id=workflow_id))

    async def post_submission(self, request: Request, saga: SagaDescriptor) -> Response:
        data = parse_request(await _body(request), "body")
        key = request.headers.get(IDEMPOTENCY_HEADER)
        prepared = prepare(
            saga,
            data,
            environment=self.environment,
            idempotency_key=None if key is None else (key, IDEMPOTENCY_HEADER),
        )
        submission = await start_saga(await self.client(), prepared, self.settings.task_queue)
        url = self._status_url(request, submission.workflow_id)
        submitted = Submitted(
            workflow_id=submission.workflow_id,
            status_url=url,
            already_submitted=not submission.started,
            state=submission.state,
        )
        return _json(submitted, 202, Location=url)

    async def post_rerun(self, request: Request) -> Response:
        raw = await _body(request)
        data = parse_request(raw, "body") if raw.strip() else None
        workflow_id = request.path_params["workflow_id"]
        submission = await rerun(
            await self.client(),
            workflow_id,
            self.settings.task_queue,
            data,
            environment=self.environment,
        )
        url = self._status_url(request, submission.workflow_id)
        started = RerunStarted(
            workflow_id=submission.workflow_id, status_url=url, rerun_of=workflow_id
        )
        return _json(started, 202, Location=url)

    async def get_sagas(self, request: Request) -> Response:
        query = _validated(SagaQuery, dict(request.query_params), "query")
        return _json(await list_sagas(await self.client(), query))

    async def get_saga(self, request: Request) -> Response:
        workflow_id = request.path_params["workflow_id"]
        return _json(await saga_status(await self.client(), workflow_id))

    async def post_answer(self, request: Request, action: InterventionAction) -> Response:
        raw = await _body(request)
        data = parse_request(raw, "body") if raw.strip() else {}
        body = _validated(InterventionBody, data, "$")
        answer = InterventionRequest(
            action=action,
            result=body.result,
            reason=body.reason,
            operator=self._operator(request, body),
        )
        workflow_id = request.path_params["workflow_id"]
        return _json(await intervene(await self.client(), workflow_id, answer))

    def _operator(self, request: Request, body: InterventionBody) -> str:
        """Who answers: the token's name when it has one, else the ``X-Operator`` header,
        else the body's ``operator`` (default ``api``)."""
        named, _ = token_parts(self.token or "")
        if named:
            return named
        header = request.headers.get(OPERATOR_HEADER, "").strip()
        if header:
            return _validated(InterventionBody, {"operator": header}, OPERATOR_HEADER).operator
        return body.operator

    async def post_cancel(self, request: Request) -> Response:
        workflow_id = request.path_params["workflow_id"]
        await cancel(await self.client(), workflow_id)
        url = self._status_url(request, workflow_id)
        return _json(CancelRequested(workflow_id=workflow_id, status_url=url), 202, Location=url)

    async def get_live(self, request: Request) -> Response:
        return _json(Health(status="ok"))

    async def get_ready(self, request: Request) -> Response:
        """Ready when Temporal answers its health check within READY_TIMEOUT."""
        try:
            client = await self.client()
            serving = await client.service_client.check_health(timeout=READY_TIMEOUT)
        except (RuntimeError, RPCError):  # TemporalUnreachable is a RuntimeError
            serving = False
        health = Health(status="ok" if serving else "unavailable", temporal=self.settings.address)
        return _json(health, 200 if serving else 503)

    def endpoints(self) -> list[Endpoint]:
        submissions = [
            Endpoint(
                "POST", saga.api_path, f"start_{saga.kind}",
                f"Start a {saga.kind} saga (a duplicate attaches to the saga it is)",
                functools.partial(self.post_submission, saga=saga),
                {202: ("started, or already submitted (its state says how it stands)",
                       Submitted),
                 413: ("body over 1 MiB", Problem),
                 422: ("invalid input: every problem by its path, or an Idempotency-Key"
                       " used before with a different body; nothing started", Problem),
                 **_REFUSED},
                body=saga.input_class(),
                body_also=saga.template(self.environment).schema,
                headers={IDEMPOTENCY_HEADER: "one saga per key, ever (else: the request's"
                         " correlation_id, the saga's identity rule, or the same body within"
                         " the dedup window)"},
            )
            for saga in catalogue()
        ]  # fmt: skip
        answers = [
            Endpoint(
                "POST", f"/sagas/{{workflow_id}}/{action.value}", f"{action.value}_saga",
                f"Answer a saga awaiting intervention: {action.value}",
                functools.partial(self.post_answer, action=action),
                {200: ("answer taken: the status document", SagaStatus),
                 409: ("not awaiting intervention, or the action is not offered", Problem),
                 422: ("the body or its result does not fit", Problem),
                 **_SAGA_ERRORS},
                body=InterventionBody,
                body_required=False,
                description=_resolve_help() if action is InterventionAction.RESOLVE else "",
            )
            for action in InterventionAction
        ]  # fmt: skip
        return [
            *submissions,
            Endpoint(
                "GET", "/sagas", "list_sagas", "List sagas, newest first", self.get_sagas,
                {200: ("the sagas", SagaList), 422: ("a bad filter", Problem), **_REFUSED},
                query=SagaQuery,
            ),
            Endpoint(
                "GET", "/sagas/{workflow_id}", "saga_status", "A saga's status document",
                self.get_saga, {200: ("the status document", SagaStatus), **_SAGA_ERRORS},
            ),
            *answers,
            Endpoint(
                "POST", "/sagas/{workflow_id}/cancel", "cancel_saga",
                "Cancel a saga (past payment it compensates first)", self.post_cancel,
                {202: ("cancellation requested", CancelRequested),
                 409: ("the saga has ended", Problem), **_SAGA_ERRORS},
            ),
            Endpoint(
                "POST", "/sagas/{workflow_id}/rerun", "rerun_saga",
                "Run a saga that ended short again, as a new saga linked to it",
                self.post_rerun,
                {202: ("the rerun started", RerunStarted),
                 409: ("running, complete, or already rerun (rerun the latest)", Problem),
                 413: ("body over 1 MiB", Problem),
                 422: ("the corrected request is invalid: every problem by its path", Problem),
                 **_SAGA_ERRORS},
                description="The body, when given, is a corrected request, checked like a new"
                " one; without it the rerun runs the original request and plan.",
                body_required=False,
            ),
            Endpoint(
                "GET", "/health/live", "live", "The API is up", self.get_live,
                {200: ("up", Health)}, public=True,
            ),
            Endpoint(
                "GET", "/health/ready", "ready", "Temporal answers", self.get_ready,
                {200: ("ready", Health), 503: ("Temporal cannot be reached", Health)},
                public=True,
            ),
        ]  # fmt: skip

    def _guarded(self, endpoint: Endpoint) -> Handler:
        if endpoint.public or not self.token:
            return endpoint.handler
        _, secret = token_parts(self.token)
        expected = f"Bearer {secret}"

        async def guarded(request: Request) -> Response:
            if not hmac.compare_digest(request.headers.get("authorization", ""), expected):
                return _problem(401, "missing or wrong bearer token")
            return await endpoint.handler(request)

        return guarded

    def app(self) -> Starlette:
        endpoints = self.endpoints()
        document = openapi_document(endpoints, secured=bool(self.token))

        async def openapi(request: Request) -> Response:
            return JSONResponse(document)

        routes = [
            Route(e.path, self._guarded(e), methods=[e.method], name=e.name) for e in endpoints
        ]
        routes.append(Route("/openapi.json", openapi, methods=["GET"], name="openapi"))
        answered = (
            InputError, InvalidInput, BodyTooLarge, OperationError, TemporalUnreachable,
            RPCError, HTTPException,
        )  # fmt: skip
        app = Starlette(
            routes=routes, exception_handlers={error: _error_answer for error in answered}
        )
        app.state.temporal_address = self.settings.address
        return app


def token_parts(token: str) -> tuple[str | None, str]:
    """``(name, secret)`` of a token written ``NAME=SECRET`` (the name answers for whoever
    holds it); a token without a name is all secret."""
    found = _NAMED_TOKEN.match(token)
    return (found["name"], found["secret"]) if found else (None, token)


def _resolve_help() -> str:
    """Which steps can await an operator, and the result ``resolve`` must carry for each."""
    lines = ["`result` is the step's result, as the steps after it read it:"]
    for manual in manual_results():
        model = manual.model.__name__
        link = f"[{model}]({_REF.format(model=model)})"
        lines.append(f"- {manual.saga.kind}, {manual.step}: {link}, {manual.need}")
    return "\n".join(lines)


def openapi_document(endpoints: Sequence[Endpoint], *, secured: bool) -> dict[str, Any]:
    """OpenAPI 3.1 for ``endpoints``: the schemas from the pydantic models (bodies as they
    are validated, answers as they are written), a saga's body also by its config schema."""
    modes: dict[type[BaseModel], JsonSchemaMode] = {}
    for endpoint in endpoints:
        modes.update({model: "serialization" for _, model in endpoint.responses.values()})
        for model in (endpoint.body, endpoint.query):
            if model is not None:
                modes[model] = "validation"
    modes.update({manual.model: "validation" for manual in manual_results()})
    _, definitions = models_json_schema(list(modes.items()), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(
            endpoint, definitions["$defs"], secured
        )
    paths["/openapi.json"] = {
        "get": {"operationId": "openapi", "summary": "This document",
                "responses": {"200": {"description": "the OpenAPI document"}}}
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "Saga API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _operation(endpoint: Endpoint, schemas: Mapping[str, Any], secured: bool) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ("workflow_id",)
        if f"{{{name}}}" in endpoint.path
    ]
    parameters += [
        {"name": name, "in": "header", "required": False, "description": description,
         "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS}}
        for name, description in (endpoint.headers or {}).items()
    ]  # fmt: skip
    if endpoint.query is not None:
        query = schemas[endpoint.query.__name__]
        parameters += [
            {"name": name, "in": "query", "required": name in query.get("required", ()),
             "schema": schema}
            for name, schema in query["properties"].items()
        ]  # fmt: skip
    operation: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "parameters": parameters,
        "responses": {
            str(status): {
                "description": description,
                "content": {"application/json": {"schema": _ref(model)}},
            }
            for status, (description, model) in endpoint.responses.items()
        },
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.body is not None:
        schema: dict[str, Any] = _ref(endpoint.body)
        if endpoint.body_also is not None:
            schema = {"allOf": [dict(endpoint.body_also), schema]}
        operation["requestBody"] = {
            "required": endpoint.body_required,
            "content": {"application/json": {"schema": schema}},
        }
    if secured and not endpoint.public:
        operation["security"] = [{"bearer": []}]
    return operation
