"""`orch ui` and `orch runs show --html`: the run pages over orch's own state (the optional extra orch[ui])."""
