"""Secrets never leak: canaries through every fault, searched everywhere they could show.

The simulator generates unique credentials per instance; they and every Starfleet token
it issues are the canaries. Every FAULTS.md fault the simulator can inject is driven
through a Session, on all five providers; then every repr, error (message, args,
formatted traceback *with locals*), DEBUG log record (httpx and httpcore included) and
JSON export is searched for each canary in every form it could travel in.

The helpers here are shared by the other canary sweeps (tests/test_secrets_*.py): exports,
widget state, an executed notebook, and the transport rules.
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import quote, quote_plus

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import FAULT_IDS, Simulator

#: the simulator's credentials, by the variable that holds each
SECRET_VARIABLES = (
    "NVIDIA_NIM_API_KEY",
    "STARFLEET_ID",  # shown masked ("sim-…"), never whole
    "STARFLEET_SECRET",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
)
ALL_PROVIDERS = ("nvidia-nim", "nvidia-gateway", "openai", "anthropic", "google-genai")


class Collector(logging.Handler):
    """Keeps every log record's formatted text, whatever the logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(f"{record.name} {record.getMessage()} {record.args!r}")
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.append("".join(traceback.format_exception(*record.exc_info)))


@contextmanager
def capture_logs() -> Iterator[Collector]:
    """Every record at DEBUG — root, nvgw_nb, httpx, httpcore, uvicorn — into a Collector."""
    collector = Collector()
    root = logging.getLogger()
    names = ("", "httpx", "httpcore", "aiohttp", "nvgw_nb", "uvicorn", "uvicorn.error")
    before = {name: logging.getLogger(name).level for name in names}
    root.addHandler(collector)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def logs() -> Iterator[Collector]:
    """DEBUG log records of every logger, for the test's duration."""
    with capture_logs() as collector:
        yield collector


def _base64_cores(text: str) -> set[str]:
    """The base64 characters `text` turns into wherever it sits in a longer string.

    Base64 works in 3-byte groups, so the encoding of a secret embedded at byte offset k
    depends on k mod 3; for each alignment, drop the groups shared with the neighbours.
    """
    cores = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + text.encode())
        core = encoded[4 if shift else 0 : -4].decode()
        cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores


def forms(secret: str) -> dict[str, str]:
    """Every form `secret` could travel in, by a label that does not contain it: as is,
    form- and percent-encoded (the Basic credential), and base64 of each at any offset."""
    found: dict[str, str] = {}
    for name, text in (
        ("", secret),
        (" form-encoded", quote_plus(secret)),
        (" percent-encoded", quote(secret, safe="")),
    ):
        found.setdefault(text, name.strip() or "as is")
        for core in _base64_cores(text):
            found.setdefault(core, f"base64{name}")
    return {text: label for text, label in found.items() if len(text) >= 8}


def issued_tokens(sim: Simulator) -> list[str]:
    """Every Starfleet access token `sim` has issued (revoke_tokens forgets them)."""
    return list(sim._core._nvidia._tokens)


class Canaries:
    """The simulator's credentials and tokens, in every form; `found_in` names any leak."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        env = sim.env()
        self._forms: dict[str, str] = {}
        for variable in SECRET_VARIABLES:
            self._add(env[variable], variable)
        basic = f"{quote_plus(env['STARFLEET_ID'])}:{quote_plus(env['STARFLEET_SECRET'])}"
        self._add(basic, "the Basic credential")
        self.tokens: set[str] = set()

    def _add(self, secret: str, name: str) -> None:
        for text, label in forms(secret).items():
            self._forms.setdefault(text, f"{name} ({label})")

    def add_tokens(self) -> int:
        """Add every token the simulator has issued so far; returns how many it issued."""
        for token in issued_tokens(self.sim):
            if token not in self.tokens:
                self.tokens.add(token)
                self._add(token, "a Starfleet token")
        return len(self.tokens)

    def found_in(self, haystack: str | bytes | Iterable[str]) -> list[str]:
        """Labels (never values) of the canary forms in `haystack`."""
        if isinstance(haystack, bytes):
            return sorted(
                {label for text, label in self._forms.items() if text.encode() in haystack}
            )
        text = haystack if isinstance(haystack, str) else "\n".join(haystack)
        return sorted({label for form, label in self._forms.items() if form in text})


def error_texts(err: BaseException) -> list[str]:
    """Message, args, repr and the traceback with locals — skipping the caller's frame."""
    texts = [str(err), repr(err), repr(err.args)]
    tb = err.__traceback__.tb_next if err.__traceback__ else None
    texts.extend(
        traceback.TracebackException(type(err), err, tb, capture_locals=True).format(chain=True)
    )
    for attempt in getattr(err, "attempts", []):
        texts.append(attempt.model_dump_json())
    return texts


def session_texts(session: nv.Session) -> list[str]:
    """Reprs of a Session and of everything it holds that touches a credential."""
    return [
        repr(session),
        repr(session.settings),
        str(session.settings),
        repr(session.settings.model_dump()),
        session.settings.model_dump_json(),
        *(repr(auth) for auth in session._auths.values()),
        repr(session.token_status()),
    ]


def _fallback(provider: str) -> str:
    return "nvidia-nim" if provider != "nvidia-nim" else "nvidia-gateway"


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_no_canary_anywhere(logs: Collector, transport: str) -> None:
    """Every fault on every provider, sync and streaming, over either transport (httpcore
    logs only under httpx's own): no canary in reprs, errors (tracebacks with locals),
    DEBUG logs or JSON exports."""
    with Simulator(time_scale=0, token_lifetime=0.5) as sim:
        canaries = Canaries(sim)
        texts: list[str] = [repr(sim), repr(sim._core.credentials)]
        with sim.session(
            transport=transport,
            allow_external=True,
            retry=nv.RetryPolicy.no_wait(),
            read_timeout_s=0.2,
            breaker_cooldown_s=0,
        ) as session:
            texts += session_texts(session)
            for provider, faults in FAULT_IDS.items():
                first = "nvidia-gateway" if provider == "starfleet" else provider
                order = [first, _fallback(first)]
                for fault in faults:
                    sim.inject(provider, fault, times=3)
                    for streaming in (False, True):
                        try:
                            if streaming:
                                stream = session.stream("hi", providers=order)
                                texts += [str(c) for c in stream]
                                result = stream.result
                            else:
                                result = session.chat("hi", providers=order)
                            texts += [
                                repr(result),
                                result.to_json(),
                                result.trace(),
                                result._repr_html_(),
                            ]
                        except nv.NvgwError as err:
                            texts += error_texts(err)
                texts += session_texts(session)
    assert canaries.add_tokens() > 1, "tokens were refreshed during the run"
    assert len(logs.texts) > 50, "DEBUG logging was captured"
    leaked = canaries.found_in(texts + logs.texts)
    assert not leaked, f"secret forms leaked: {leaked}"


def test_forms_cover_embedded_base64() -> None:
    """A canary inside a longer string is found in that string's base64, at any offset."""
    with Simulator(time_scale=0) as sim:
        canaries = Canaries(sim)
        key = sim.env()["NVIDIA_NIM_API_KEY"]
        for prefix in ("", "x", "xy", "Bearer "):
            encoded = base64.b64encode((prefix + key + "!").encode()).decode()
            assert canaries.found_in(encoded) == ["NVIDIA_NIM_API_KEY (base64)"]
        assert canaries.found_in(repr(sim)) == []
