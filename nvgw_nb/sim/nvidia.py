"""The NVIDIA route handlers: Starfleet's token endpoint, NIM (with NVCF's 202 polling) and
the Gateway.

`NvidiaHandlers` answers `POST /starfleet/token`, `POST /nim/v1/chat/completions`,
`GET /nim/v1/models`, `POST /nim/v1/embeddings` (SIMULATED vectors, `embeddings.py`),
`GET /nvcf/v2/nvcf/pexec/status/{reqid}` and
`POST /llm/v1/azure/openai/deployments/{deployment}/chat/completions`. It owns the state
only these routes have (issued tokens, NVCF requests awaiting a poll, correlationIds) and
asks the core (`NvidiaServices`) for what every route shares: fault draws, rate windows,
delays and the chat answer itself. Bodies and headers come from `starfleet_wire.py`,
`nim_wire.py` and `gateway_wire.py`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote_plus

from nvgw_nb.sim import embeddings, faults, gateway_wire, nim_wire, starfleet_wire
from nvgw_nb.sim.chat_request import SimChat, content_key, parse_body, validate_chat
from nvgw_nb.sim.credentials import SimCredentials
from nvgw_nb.sim.plan import SimRequest, SimResponse
from nvgw_nb.sim.profiles import Profile

__all__ = [
    "API_VERSIONS",
    "GATEWAY_DEPLOYMENTS",
    "NIM_MODELS",
    "OAUTH_SCOPE",
    "NvidiaHandlers",
    "NvidiaServices",
]

NIM_MODELS: tuple[str, ...] = (
    "meta/llama-4-scout-17b-16e-instruct",
    "meta/llama-4-maverick-17b-128e-instruct",
    "meta/llama-3.3-70b-instruct",
)
GATEWAY_DEPLOYMENTS: Mapping[str, str] = {
    "gpt-4o": "gpt-4o-2024-11-20",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
}
API_VERSIONS: tuple[str, ...] = (
    "2024-06-01",
    "2024-10-21",
    "2024-12-01-preview",
    "2025-01-01-preview",
)
OAUTH_SCOPE = "azureopenai-readwrite"


class NvidiaServices(Protocol):
    """What the NVIDIA routes need from the core."""

    @property
    def credentials(self) -> SimCredentials: ...

    @property
    def token_lifetime(self) -> float: ...

    @property
    def token_auth(self) -> str: ...

    @property
    def profile(self) -> Profile: ...

    def clock(self) -> float: ...

    def occurrence(self, provider: str, key: str) -> int: ...

    def quick_delay(self, provider: str, rng_parts: tuple[object, ...]) -> float: ...

    def next_fault(
        self, provider: str, rng_parts: tuple[object, ...], *, tools: bool, stream: bool
    ) -> tuple[str | None, int]: ...

    def rate_check(self, provider: str, key: str) -> tuple[bool, float, int]: ...

    def retry_after(self, wait_s: float) -> tuple[int, str]: ...

    def serve_chat(self, chat: SimChat) -> SimResponse: ...


@dataclass
class _Pending:
    """An NVCF request answered 202: polls left before the result, and the result."""

    polls_left: int
    response: SimResponse


class NvidiaHandlers:
    """Handlers of the Starfleet, NIM/NVCF and gateway routes, and their own state."""

    def __init__(self, services: NvidiaServices) -> None:
        self._services = services
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token -> expiry on services.clock()
        self._pending: dict[str, _Pending] = {}
        self._correlation_ids: set[str] = set()
        #: the encoding a T4 rejection saw: the next request in the other encoding is refused
        #: too, as a server that rejects the client would in either encoding
        self._rejected_encoding: str | None = None
        self.reset_counters()

    # ----------------------------------------------------------------- state

    def reset_counters(self) -> None:
        """Zero the counters and forget the correlationIds seen (tokens are kept)."""
        with self._lock:
            self._token_grants = 0
            self._tokens_rejected = 0
            self._cid_seen = 0
            self._cid_duplicates = 0
            self._correlation_ids.clear()

    def counters(self) -> dict[str, Any]:
        """token_grants, tokens_rejected and correlation_ids, as `stats()` reports them."""
        with self._lock:
            return {
                "token_grants": self._token_grants,
                "tokens_rejected": self._tokens_rejected,
                "correlation_ids": {"seen": self._cid_seen, "duplicates": self._cid_duplicates},
            }

    def revoke_tokens(self) -> None:
        """Invalidate every issued access token."""
        with self._lock:
            self._tokens.clear()

    def count_rejected_token(self) -> None:
        """Count a token the gateway turned down although it was issued (G1)."""
        with self._lock:
            self._tokens_rejected += 1

    def hold(self, reqid: str, result: SimResponse) -> None:
        """Keep the result of an NVCF request answered 202 for its polls (N2)."""
        with self._lock:
            self._pending[reqid] = _Pending(2, result)

    # ----------------------------------------------------------------- starfleet

    def _client_encoding(self, req: SimRequest) -> str | None:
        """How the Basic credentials matched: "form" (RFC 6749 section 2.3.1: both parts
        form-encoded before base64), "raw" (base64 of `id:secret` as is, RFC 7617), or
        None when they match in no encoding this endpoint accepts."""
        scheme, _, encoded = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if not sep:
            return None
        creds = self._services.credentials
        either = self._services.token_auth == "either"  # noqa: S105  (not a password)
        accepted = ("form", "raw") if either else (self._services.token_auth,)
        for encoding in accepted:
            decode = unquote_plus if encoding == "form" else str
            # both compared every time (no short cut): the answer takes the same time
            ok_id = secrets.compare_digest(decode(user).encode(), creds.client_id.encode())
            ok_secret = secrets.compare_digest(
                decode(password).encode(), creds.client_secret.encode()
            )
            if ok_id and ok_secret:
                return encoding
        return None

    def token(self, req: SimRequest) -> SimResponse:
        """`POST /starfleet/token`: client credentials in Basic auth, form-encoded or raw
        as `token_auth` allows."""
        encoding = self._client_encoding(req)
        with self._lock:
            echo, self._rejected_encoding = self._rejected_encoding, None
        if encoding is None or (echo is not None and encoding != echo):
            return starfleet_wire.oauth_error(
                401, "invalid_client", "Client authentication failed."
            )
        form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        grant = form.get("grant_type", [""])[0]
        if grant != "client_credentials":
            return starfleet_wire.oauth_error(
                400,
                "unsupported_grant_type",
                f"Grant type {grant!r} is not supported; use client_credentials.",
            )
        scope = form.get("scope", [""])[0]
        if scope != OAUTH_SCOPE:
            return starfleet_wire.oauth_error(
                400, "invalid_scope", f"Scope {scope!r} is not allowed."
            )
        key = hashlib.sha256(req.body).hexdigest()
        occ = self._services.occurrence("starfleet", key)
        delay = self._services.quick_delay("starfleet", (key, occ))
        fault, variant = self._services.next_fault(
            "starfleet", (key, occ), tools=False, stream=False
        )
        resp = faults.token_fault(fault, variant)
        if fault == "T4":
            with self._lock:
                self._rejected_encoding = encoding
        if resp is None:
            resp = self._grant()
        resp.delay_s = delay
        return resp

    def _grant(self) -> SimResponse:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = self._services.clock() + self._services.token_lifetime
            self._token_grants += 1
        return starfleet_wire.token_grant(token, self._services.token_lifetime)

    # ----------------------------------------------------------------- NIM

    def _nim_authorized(self, req: SimRequest) -> SimResponse | None:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return nim_wire.unauthorized("Bearer token is missing")
        if not secrets.compare_digest(token.strip(), self._services.credentials.nim_api_key):
            return nim_wire.unauthorized("Bearer token is malformed")
        return None

    def models(self, req: SimRequest) -> SimResponse:
        """`GET /nim/v1/models`."""
        denied = self._nim_authorized(req)
        if denied is not None:
            return denied
        return nim_wire.model_list((*NIM_MODELS, *embeddings.EMBEDDING_MODELS))

    def nim_embeddings(self, req: SimRequest) -> SimResponse:
        """`POST /nim/v1/embeddings`: NIM's key check and rate window, no fault draws
        (queued faults wait for the next chat); 503 as N1 while the profile has NIM down."""
        denied = self._nim_authorized(req)
        if denied is not None:
            return denied
        if "nvidia-nim" in self._services.profile.down:
            return nim_wire.problem(
                503,
                "Service Unavailable",
                "Worker local total request limit reached (33/32)",
                **{nim_wire.REQUEST_ID_HEADER: str(uuid.uuid4()), "nvcf-status": "errored"},
            )
        auth = req.headers.get("authorization", "")
        limited, _, _ = self._services.rate_check(
            "nvidia-nim", hashlib.sha256(auth.encode()).hexdigest()
        )
        if limited:
            return nim_wire.problem(429, "Too Many Requests")
        resp = embeddings.respond(parse_body(req.body))
        resp.delay_s = self._services.quick_delay("nvidia-nim", ("embeddings", req.body))
        return resp

    def nim_chat(self, req: SimRequest) -> SimResponse:
        """`POST /nim/v1/chat/completions`."""
        denied = self._nim_authorized(req)
        if denied is not None:
            return denied
        body = parse_body(req.body)
        if body is None:
            return nim_wire.vllm_error("Request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return nim_wire.vllm_error(
                "[{'type': 'missing', 'loc': ('body', 'model'), 'msg': 'Field required'}]"
            )
        if model not in NIM_MODELS:
            return nim_wire.problem(
                404, "Not Found", f"Model '{model}' is not available for account 'sim-account'"
            )
        invalid = validate_chat(body)
        if invalid is not None:
            return nim_wire.vllm_error(invalid[1])
        auth = req.headers.get("authorization", "")
        limited, _, _ = self._services.rate_check(
            "nvidia-nim", hashlib.sha256(auth.encode()).hexdigest()
        )
        if limited:
            # Hosted NVCF sends the bare problem JSON and no retry hint.
            return nim_wire.problem(429, "Too Many Requests")
        key = content_key(req.path, body)
        occurrence = self._services.occurrence("nvidia-nim", key)
        return self._services.serve_chat(
            SimChat("nvidia-nim", model, model, body, key, occurrence, [])
        )

    def nvcf_status(self, req: SimRequest, reqid: str) -> SimResponse:
        """Poll an NVCF request answered 202 (N2): 202 twice, then the result."""
        denied = self._nim_authorized(req)
        if denied is not None:
            return denied
        with self._lock:
            pending = self._pending.get(reqid)
            if pending is not None and pending.polls_left <= 0:
                del self._pending[reqid]
                return pending.response  # the result carries its own delay
            if pending is not None:
                pending.polls_left -= 1
                polls_left = pending.polls_left
        if pending is None:
            resp = nim_wire.problem(
                404, "Not Found", f"Request '{reqid}' was not found or has already completed."
            )
            poll: tuple[object, ...] = ("poll", reqid, False, -1)
        else:
            resp = SimResponse(
                202,
                [
                    ("nvcf-reqid", reqid),
                    ("nvcf-status", "in-progress"),
                    ("nvcf-percent-complete", str(50 * (2 - polls_left))),
                    ("content-length", "0"),
                ],
            )
            poll = ("poll", reqid, True, polls_left)
        resp.delay_s = self._services.quick_delay("nvidia-nim", poll)
        return resp

    # ----------------------------------------------------------------- gateway

    def gateway_chat(self, req: SimRequest, deployment: str) -> SimResponse:
        """`POST /llm/v1/azure/openai/deployments/{deployment}/chat/completions`."""
        resp = self._gateway_answer(req, deployment)
        if not any(k == "apim-request-id" for k, _ in resp.headers):
            # APIM stamps every answer, errors included: it is what users quote to support.
            request_id = str(uuid.uuid4())
            resp.headers += [("apim-request-id", request_id), ("x-request-id", request_id)]
        return resp

    def _gateway_answer(self, req: SimRequest, deployment: str) -> SimResponse:
        cid = req.headers.get("correlationid")
        if cid is not None:
            with self._lock:
                self._cid_seen += 1
                if cid in self._correlation_ids:
                    self._cid_duplicates += 1
                self._correlation_ids.add(cid)
        if not self._gateway_token_ok(req):
            return gateway_wire.unauthorized()
        version = req.query.get("api-version")
        if not version:
            return gateway_wire.azure_error(
                400, "BadRequest", "Missing required query parameter 'api-version'."
            )
        if version not in API_VERSIONS:
            return gateway_wire.azure_error(
                400,
                "BadRequest",
                f"Unsupported api-version '{version}'. "
                f"The supported api-versions are: {', '.join(API_VERSIONS)}.",
            )
        if not cid:
            return gateway_wire.azure_error(
                400, "BadRequest", "Missing required header 'correlationId'."
            )
        if deployment not in GATEWAY_DEPLOYMENTS:
            return gateway_wire.deployment_not_found()
        body = parse_body(req.body)
        if body is None:
            return gateway_wire.invalid_request(
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
                None,
                None,
            )
        invalid = validate_chat(body)
        if invalid is not None:
            return gateway_wire.invalid_request(invalid[1], invalid[0], "invalid_value")
        limited, wait_s, remaining = self._services.rate_check("nvidia-gateway", deployment)
        if limited:
            return gateway_wire.rate_limited(*self._services.retry_after(wait_s))
        key = content_key(req.path, body)
        request_id = str(uuid.uuid4())
        headers = [
            ("apim-request-id", request_id),
            ("x-request-id", request_id),
            ("x-ms-region", "East US 2"),
            ("x-ratelimit-remaining-requests", str(remaining)),
            ("x-ratelimit-remaining-tokens", str(remaining * 150)),
        ]
        chat = SimChat(
            "nvidia-gateway",
            deployment,
            GATEWAY_DEPLOYMENTS[deployment],
            body,
            key,
            self._services.occurrence("nvidia-gateway", key),
            headers,
        )
        return self._services.serve_chat(chat)

    def _gateway_token_ok(self, req: SimRequest) -> bool:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        now = self._services.clock()
        with self._lock:
            expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            ok = expiry is not None and now < expiry
            if not ok:
                self._tokens_rejected += 1
        return ok
