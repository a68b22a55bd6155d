"""Wire formats, one module per provider."""

from nvgw_nb.providers.base import Provider, RawToolCall, Reply, StreamParser
from nvgw_nb.providers.gateway import GatewayProvider
from nvgw_nb.providers.nim import NimProvider

__all__ = ["GatewayProvider", "NimProvider", "Provider", "RawToolCall", "Reply", "StreamParser"]
