"""orch's backends: one package each, found by entry point (see registry.py)."""
