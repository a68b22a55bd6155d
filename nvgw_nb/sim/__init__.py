"""A loopback simulator of NVIDIA NIM, the NVIDIA LLM Gateway, the Starfleet token endpoint,
and the OpenAI, Anthropic and Gemini APIs.

Example::

    from nvgw_nb.sim import Simulator

    with Simulator(profile="flaky-nim", seed=7, time_scale=0.1) as sim:
        print(sim.env()["NVIDIA_NIM_BASE_URL"])
"""

from nvgw_nb.sim.profiles import FAULT_IDS, PROFILES, Profile
from nvgw_nb.sim.simulator import Simulator
from nvgw_nb.sim.sockets import SocketFault, SocketFaultServer

__all__ = [
    "FAULT_IDS",
    "PROFILES",
    "Profile",
    "Simulator",
    "SocketFault",
    "SocketFaultServer",
]
