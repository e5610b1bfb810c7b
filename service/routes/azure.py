"""Azure OpenAI's URL scheme: ``/openai/deployments/{deployment}/...?api-version=...``.

Point ``AzureOpenAI(azure_endpoint="http://127.0.0.1:8080", ...)`` at the sidecar and set
``SEMCACHED_UPSTREAM_URL`` to the Azure resource (``https://NAME.openai.azure.com``, no
``/v1``): chat completions and completions of a deployment are cached like OpenAI's (the
deployment is the model in the key; the body goes upstream as sent, ``api-version`` and the
``api-key`` header too), and every other ``/openai/...`` path is passed through.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from semcached.service.auth import get_caller
from semcached.service.cache_controls import CallContext, call_context
from semcached.service.routes.openai import ChatCompletionBody, CompletionBody, serve_cached
from semcached.service.routes.passthrough import forward_as_is

__all__ = ["router"]

router = APIRouter(tags=["azure"])

_BODIES: dict[str, type[BaseModel]] = {
    "chat/completions": ChatCompletionBody,
    "completions": CompletionBody,
}


async def _payload(request: Request, model: type[BaseModel], deployment: str) -> dict[str, Any]:
    try:
        raw = await request.json()
    except ValueError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body",),
                    "msg": "invalid JSON",
                    "ctx": {"error": str(exc)},
                }
            ]
        ) from exc
    if not isinstance(raw, dict):
        raise RequestValidationError(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ("body",),
                    "msg": "expected an object",
                    "input": raw,
                }
            ]
        )
    try:
        model.model_validate({"model": deployment, **raw})
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from exc
    return raw


@router.post("/openai/deployments/{deployment}/{operation:path}", include_in_schema=False)
async def deployment_call(
    deployment: str,
    operation: str,
    request: Request,
    context: Annotated[CallContext, Depends(call_context)],
) -> Response:
    """A deployment's chat completion or completion, cached; any other operation relayed."""
    body_model = _BODIES.get(operation)
    if body_model is None:
        return await forward_as_is(request, f"/openai/deployments/{deployment}/{operation}")
    payload = await _payload(request, body_model, deployment)
    keyed = {**payload, "model": payload.get("model") or deployment}
    return await serve_cached(
        request, context, payload, model=keyed["model"],
        stream=bool(payload.get("stream")),
        path=f"/openai/deployments/{deployment}/{operation}",
        endpoint="chat" if operation == "chat/completions" else "completions",
        key_payload=keyed,
    )  # fmt: skip


@router.api_route(
    "/openai/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    dependencies=[Depends(get_caller)],
)
async def other(path: str, request: Request) -> Response:
    """Every other Azure path (files, assistants, deployments' other operations): relayed."""
    return await forward_as_is(request, f"/openai/{path}")
