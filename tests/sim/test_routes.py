"""The routes table is the one list of routes: dispatch, counters, the provider lookup and
`url_for` all follow it."""

from __future__ import annotations

import re

import pytest

from nvgw_nb.sim import PROFILES, Simulator
from nvgw_nb.sim.core import SimCore, SimRequest
from nvgw_nb.sim.routes import ROUTES, Route, base_path, match_route, provider_of


def _example(route: Route) -> str:
    """A concrete path for `route`: each placeholder filled with an allowed value."""

    def fill(m: re.Match[str]) -> str:
        choices = route.choices.get(m.group(1))
        return choices[0] if choices else "x"

    return re.sub(r"\{(\w+)\}", fill, route.pattern)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.pattern}")
def test_every_row_is_dispatched_counted_and_owned(route: Route) -> None:
    path = _example(route)
    routes, _ = match_route(path)
    assert routes == [route]
    assert match_route(path + "/")[0] == [route]
    core = SimCore(PROFILES["healthy"], time_scale=0)
    wrong = "GET" if route.method == "POST" else "POST"
    refused = core.handle(SimRequest(wrong, path))
    assert refused.status == 405
    assert ("allow", route.method) in refused.headers
    if route.provider:
        assert provider_of(path) == route.provider
        core.handle(SimRequest(route.method, path))
        assert core.stats()["requests"][route.provider][route.kind] == 1
    else:
        assert provider_of(path) is None


def test_google_rows_check_the_version_and_the_model() -> None:
    assert match_route("/google/v1beta/models/gemini-2.0-flash:generateContent")[1] == {
        "version": "v1beta",
        "model": "gemini-2.0-flash",
    }
    for path in (
        "/google/v2/models/gemini-2.0-flash:generateContent",
        "/google/v1/models/:generateContent",
        "/google/v1/models/gemini-2.0-flash:countTokens",
        "/google/v1/models/gemini-2.0-flash",
    ):
        assert match_route(path)[0] == []


def test_url_for_and_env_read_the_table() -> None:
    with Simulator() as sim:
        env = sim.env()
        for provider in ("nvidia-nim", "nvidia-gateway", "openai", "anthropic", "google-genai"):
            assert sim.url_for(provider) == sim.url + base_path(provider)
        assert env["NVGW_NVCF_STATUS_URL"] == sim.url + base_path("nvidia-nim", "status")
        assert env["STARFLEET_TOKEN_URL"] == sim.url + base_path("starfleet")
    with pytest.raises(ValueError, match="unknown provider 'nope'"):
        base_path("nope")
