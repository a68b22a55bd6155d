"""The external providers' route handlers: OpenAI, Anthropic and Gemini on the simulator.

Each handler checks credentials the way the real API does, validates and translates the
request into a `SimChat`, applies the profile's rate limit, and hands the chat to the core
(`ChatServices.serve_chat`), which draws the fault and plans the answer. Routes:

- `POST /openai/v1/chat/completions` (`Authorization: Bearer`);
- `POST /anthropic/v1/messages` (`x-api-key` or Bearer, `anthropic-version` required);
- `POST /google/{v1beta|v1}/models/{model}:generateContent` and
  `:streamGenerateContent[?alt=sse]` (`x-goog-api-key`; `?key=` is refused and counted).

Every OpenAI answer carries `x-request-id` and every Anthropic answer `request-id`, errors
included. Gemini errors on the array-framed stream endpoint come wrapped in an array.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Protocol

from nvgw_nb.sim import anthropic_request, anthropic_wire, gemini_request, gemini_wire, openai_wire
from nvgw_nb.sim.chat_request import SimChat, content_key, parse_body, validate_chat
from nvgw_nb.sim.credentials import SimCredentials
from nvgw_nb.sim.plan import SimRequest, SimResponse

__all__ = ["ChatServices", "ExternalHandlers"]


class ChatServices(Protocol):
    """What the routes need from the core's state."""

    @property
    def credentials(self) -> SimCredentials: ...

    @property
    def rate_window_s(self) -> float: ...

    def occurrence(self, provider: str, key: str) -> int: ...

    def rate_check(
        self, provider: str, key: str, nominal: int = ...
    ) -> tuple[bool, float, int]: ...

    def retry_after(self, wait_s: float) -> tuple[int, str]: ...

    def serve_chat(self, chat: SimChat) -> SimResponse: ...

    def count_key_in_query(self) -> None: ...

    def wall_time(self) -> float: ...


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _alias(model: str, models: Mapping[str, str]) -> str | None:
    """The alias of `model`, which may be the alias itself or its dated name."""
    if model in models:
        return model
    return next((alias for alias, dated in models.items() if dated == model), None)


def _bearer(req: SimRequest) -> str:
    scheme, _, token = req.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _has_header(resp: SimResponse, name: str) -> bool:
    return any(k == name for k, _ in resp.headers)


def _set_body(resp: SimResponse, body: bytes) -> None:
    resp.body = body
    resp.headers = [(k, str(len(body)) if k == "content-length" else v) for k, v in resp.headers]


class ExternalHandlers:
    """Handlers of the OpenAI, Anthropic and Gemini routes over the core's `ChatServices`."""

    def __init__(self, services: ChatServices) -> None:
        self._services = services

    # ----------------------------------------------------------------- OpenAI

    def openai_chat(self, req: SimRequest) -> SimResponse:
        """`POST /openai/v1/chat/completions`."""
        rid = openai_wire.request_id()
        resp = self._openai_chat(req, rid)
        if resp.status and not _has_header(resp, "x-request-id"):
            resp.headers.append(("x-request-id", rid))
        return resp

    def _openai_chat(self, req: SimRequest, rid: str) -> SimResponse:
        key = _bearer(req)
        if not key:
            return openai_wire.missing_key()
        if not secrets.compare_digest(key, self._services.credentials.openai_api_key):
            return openai_wire.incorrect_key(key)
        body = parse_body(req.body)
        if body is None:
            return openai_wire.error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
                "invalid_request_error",
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return openai_wire.error(
                400, "you must provide a model parameter", "invalid_request_error"
            )
        alias = _alias(model, openai_wire.MODELS)
        if alias is None:
            return openai_wire.model_not_found(model)
        invalid = validate_chat(body)
        if invalid is not None:
            param, message = invalid
            return openai_wire.error(400, message, "invalid_request_error", param, "invalid_value")
        limited, wait_s, remaining = self._services.rate_check(
            "openai", _digest(key), openai_wire.NOMINAL_RPM
        )
        if limited:
            nominal, after = self._services.retry_after(wait_s)
            return openai_wire.rate_limited(alias, nominal, after)
        ckey = content_key(req.path, body)
        reset = self._services.rate_window_s / openai_wire.NOMINAL_RPM
        headers = [("x-request-id", rid), *openai_wire.rate_headers(remaining, reset)]
        served = model if model != alias else openai_wire.MODELS[alias]
        occurrence = self._services.occurrence("openai", ckey)
        return self._services.serve_chat(
            SimChat("openai", alias, served, body, ckey, occurrence, headers)
        )

    # ----------------------------------------------------------------- Anthropic

    def anthropic_messages(self, req: SimRequest) -> SimResponse:
        """`POST /anthropic/v1/messages`."""
        rid = anthropic_wire.request_id()
        resp = self._anthropic_messages(req, rid)
        if resp.status and not _has_header(resp, "request-id"):
            resp.headers.append(("request-id", rid))
        return resp

    def _anthropic_messages(self, req: SimRequest, rid: str) -> SimResponse:
        key = req.headers.get("x-api-key", "").strip() or _bearer(req)
        if not key:
            return anthropic_wire.error(
                401, "authentication_error", "x-api-key header is required", rid
            )
        if not secrets.compare_digest(key, self._services.credentials.anthropic_api_key):
            return anthropic_wire.error(401, "authentication_error", "invalid x-api-key", rid)
        version = req.headers.get("anthropic-version", "").strip()
        if not version:
            message = "anthropic-version: header is required"
            return anthropic_wire.error(400, "invalid_request_error", message, rid)
        if not anthropic_wire.version_ok(version):
            message = f"anthropic-version: invalid version '{version}'"
            return anthropic_wire.error(400, "invalid_request_error", message, rid)
        body = parse_body(req.body)
        if body is None:
            message = "There was an error parsing the body of your request as JSON."
            return anthropic_wire.error(400, "invalid_request_error", message, rid)
        translated = anthropic_request.translate(body)
        if isinstance(translated, str):
            return anthropic_wire.error(400, "invalid_request_error", translated, rid)
        model, canonical = translated
        alias = _alias(model, anthropic_wire.MODELS)
        if alias is None:
            return anthropic_wire.error(404, "not_found_error", f"model: {model}", rid)
        limited, wait_s, remaining = self._services.rate_check(
            "anthropic", _digest(key), anthropic_wire.NOMINAL_RPM
        )
        if limited:
            return anthropic_wire.rate_limited(rid, self._services.retry_after(wait_s)[1])
        reset = datetime.fromtimestamp(
            self._services.wall_time() + self._services.rate_window_s, timezone.utc
        ).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = [("request-id", rid), *anthropic_wire.rate_headers(remaining, reset)]
        served = model if model != alias else anthropic_wire.MODELS[alias]
        ckey = content_key(req.path, body)
        occurrence = self._services.occurrence("anthropic", ckey)
        return self._services.serve_chat(
            SimChat("anthropic", alias, served, canonical, ckey, occurrence, headers)
        )

    # ----------------------------------------------------------------- Gemini

    def google_generate(
        self, req: SimRequest, version: str, model: str, method: str
    ) -> SimResponse:
        """`POST /google/{version}/models/{model}:{method}`."""
        array = method == "streamGenerateContent" and req.query.get("alt") != "sse"
        resp = self._google_generate(req, version, model, method, array)
        if array and resp.status >= 400 and resp.body.startswith(b"{"):
            _set_body(resp, b"[" + resp.body + b"]")  # Gemini's stream: errors arrive in an array
        return resp

    def _google_generate(
        self, req: SimRequest, version: str, model: str, method: str, array: bool
    ) -> SimResponse:
        if "key" in req.query:
            self._services.count_key_in_query()
            return gemini_wire.key_in_query()
        key = req.headers.get("x-goog-api-key", "").strip()
        if not key:
            return gemini_wire.missing_key()
        if not secrets.compare_digest(key, self._services.credentials.google_api_key):
            return gemini_wire.invalid_key()
        if model not in gemini_wire.MODELS:
            return gemini_wire.model_not_found(model, version)
        body = parse_body(req.body)
        if body is None:
            return gemini_wire.error("INVALID_ARGUMENT", "Invalid JSON payload received.")
        canonical = gemini_request.translate(body, stream=method == "streamGenerateContent")
        if isinstance(canonical, str):
            return gemini_wire.error("INVALID_ARGUMENT", canonical)
        limited, wait_s, _ = self._services.rate_check(
            "google-genai", _digest(key), gemini_wire.NOMINAL_RPM
        )
        if limited:
            delay = self._services.retry_after(wait_s)[1]
            return gemini_wire.rate_limited(model, delay + "s")
        ckey = content_key(req.path, body)
        occurrence = self._services.occurrence("google-genai", ckey)
        framing = "json-array" if array else "sse"
        chat = SimChat("google-genai", model, model, canonical, ckey, occurrence, [], framing)
        return self._services.serve_chat(chat)
