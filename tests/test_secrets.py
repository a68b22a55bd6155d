"""Secrets never leak: canaries through every fault, searched everywhere they could show.

The simulator generates unique credentials per instance; they are the canaries. Every
FAULTS.md fault the simulator can inject is driven through a Session; then every repr,
error (message, args, formatted traceback *with locals*), DEBUG log record (httpx and
httpcore included) and JSON export is searched for each canary and its base64 forms.
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Iterator
from urllib.parse import quote_plus

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import FAULT_IDS, Simulator


class Collector(logging.Handler):
    """Keeps every log record's formatted text, whatever the logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(f"{record.name} {record.getMessage()} {record.args!r}")
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.append("".join(traceback.format_exception(*record.exc_info)))


@pytest.fixture
def logs() -> Iterator[Collector]:
    collector = Collector()
    root = logging.getLogger()
    names = ("", "httpx", "httpcore", "nvgw_nb", "uvicorn", "uvicorn.error")
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


def _forms(secret: str) -> set[str]:
    raw = secret.encode()
    return {
        secret,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
    }


def _error_texts(err: BaseException) -> list[str]:
    """Message, args, repr and the traceback with locals — skipping this test's own frame."""
    texts = [str(err), repr(err), repr(err.args)]
    tb = err.__traceback__.tb_next if err.__traceback__ else None
    texts.extend(
        traceback.TracebackException(type(err), err, tb, capture_locals=True).format(chain=True)
    )
    for attempt in getattr(err, "attempts", []):
        texts.append(attempt.model_dump_json())
    return texts


def test_no_canary_anywhere(logs: Collector) -> None:
    """Every fault, sync and streaming: no canary in reprs, errors, logs or exports."""
    with Simulator(time_scale=0, token_lifetime=0.5) as sim:
        env = sim.env()
        basic = base64.b64encode(
            f"{quote_plus(env['STARFLEET_ID'])}:{quote_plus(env['STARFLEET_SECRET'])}".encode()
        ).decode()
        canaries = {basic}
        for name in ("NVIDIA_NIM_API_KEY", "STARFLEET_SECRET"):
            canaries |= _forms(env[name])
        texts: list[str] = [repr(sim)]
        with sim.session(retry=nv.RetryPolicy.no_wait(), read_timeout_s=0.3) as session:
            auth = session._auths["nvidia-gateway"]
            texts += [repr(session), repr(session.settings), str(session.settings), repr(auth)]
            for provider, faults in FAULT_IDS.items():
                for fault in faults:
                    sim.inject(provider, fault, times=3)
                    for streaming in (False, True):
                        order = ["nvidia-gateway", "nvidia-nim"]
                        if provider == "nvidia-nim":
                            order.reverse()
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
                            texts += _error_texts(err)
                        for breaker in session.breakers.values():
                            breaker.record_success()  # keep every provider reachable
                        token = auth.cache.usable()
                        if token is not None:
                            canaries |= _forms(token.get_secret_value())
                            canaries.add("Bearer " + token.get_secret_value())
            texts += [repr(session), str(session.token_status())]
    assert auth.cache.fetched > 1, "tokens were refreshed during the run"
    texts += logs.texts
    assert len(logs.texts) > 50, "DEBUG logging was captured"
    haystack = "\n".join(texts)
    leaked = sorted(c for c in canaries if len(c) >= 8 and c in haystack)
    assert not leaked, f"{len(leaked)} secret form(s) leaked"
