"""Wire formats, one module per provider."""

from nvgw_nb.providers.anthropic import AnthropicProvider
from nvgw_nb.providers.base import Provider, RawToolCall, Reply, StreamParser
from nvgw_nb.providers.gateway import GatewayProvider
from nvgw_nb.providers.google import GoogleProvider
from nvgw_nb.providers.nim import NimProvider
from nvgw_nb.providers.openai import OpenAIProvider

__all__ = [
    "AnthropicProvider",
    "GatewayProvider",
    "GoogleProvider",
    "NimProvider",
    "OpenAIProvider",
    "Provider",
    "RawToolCall",
    "Reply",
    "StreamParser",
]
