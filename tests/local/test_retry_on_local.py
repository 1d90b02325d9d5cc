"""The local backend's own errors under `retries.on` (docs/semantics.md#retries): attempts lost with the process
starter are errors -- retried under `on: error`, not under `on: failure` -- and the starter comes back for them."""

from __future__ import annotations

import json

from .test_step_escapes import alive_with, kill_all, orch, token_sleep, write_spec


def test_attempts_lost_with_the_process_starter_are_errors(tmp_path):
    arg = token_sleep(45)
    once = 'if [ -e "$0" ]; then exit 0; fi; touch "$0"; sleep ' + arg  # the first attempt waits to be lost
    write_spec(tmp_path, {
        "killer": {"command": ["sh", "-c", f"sleep 1; kill -9 $PPID; sleep {arg}"]},
        "lost-failure": {"command": ["sh", "-c", once, str(tmp_path / "a")], "retries": {"limit": 1, "on": "failure"}},
        "lost-error": {"command": ["sh", "-c", once, str(tmp_path / "b")], "retries": {"limit": 1, "on": "error"}},
    })
    try:
        code, out, err = orch(tmp_path, "run", "p.yaml", "--json")
        assert code == 1 and "Traceback" not in err, err
        steps = json.loads(out)["steps"]
        assert (steps["lost-failure"]["status"], steps["lost-failure"]["attempts"]) == ("failed", 1)
        assert "process starter was killed by signal 9" in steps["lost-failure"]["error"]
        assert (steps["lost-error"]["status"], steps["lost-error"]["attempts"]) == ("succeeded", 2)  # a new starter
        assert alive_with(arg) == []
    finally:
        kill_all(arg)
