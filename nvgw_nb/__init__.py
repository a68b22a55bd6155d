"""nvgw_nb — NVIDIA NIM with the NVIDIA LLM Gateway as its fallback, for notebooks."""
