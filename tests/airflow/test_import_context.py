"""Task functions using Airflow's context objects run through the `airflow_context` command with stand-ins: XComs
pushed and pulled through `ti` arrive exactly, asset events go nowhere; a use no stand-in answers is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orch.core.load import parse_spec

DAGS = Path(__file__).parent / "import_dags"


def _entries(one) -> dict:
    return {entry.path: entry for entry in one.report.entries}


def test_xcom_calls_become_outputs_and_env_of_the_context_command(readings):
    one = readings["xcoms"]
    pipeline = parse_spec(one.text).pipeline
    push, pull = pipeline.all_steps["push"], pipeline.all_steps["pull"]
    assert push.command[:2] == ["python3", "-c"] and set(push.outputs) == {"numbers", "label", "return_value"}
    assert pull.env == {"AIRFLOW_XCOM_0": "${{ steps.push.outputs.numbers }}",
                        "AIRFLOW_XCOM_1": "${{ steps.push.outputs.label }}",
                        "AIRFLOW_XCOM_2": "${{ steps.push.outputs.return_value }}"}
    entries = _entries(one)
    assert entries["tasks.push.python_callable.**context"].status == "approximated"
    assert entries["tasks.pull.python_callable.ti"].status == "approximated"
    refused = _entries(readings["ti_beyond"])["tasks.retried.python_callable.**kwargs"]
    assert refused.status == "unsupported"  # ti.try_number: no stand-in answers it
    assert one.text.count("import importlib") == 1  # the command is written once, as the spec's template


def test_the_context_command_runs_the_functions_and_the_xcoms_arrive_exactly(readings, tmp_path):
    """The imported spec run by orch: `pull` asserts each XCom `push` pushed arrived exactly ("5" as text)."""
    spec = tmp_path / "xcoms.yaml"
    spec.write_text(readings["xcoms"].text, encoding="utf-8")
    bin_dir = os.path.dirname(sys.executable)
    done = subprocess.run([os.path.join(bin_dir, "orch"), "run", str(spec)], cwd=DAGS, capture_output=True, text=True,
                          timeout=240, env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"],
                                            "ORCH_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stdout + done.stderr  # an assertion in pull would fail the run


def test_asset_events_go_nowhere_and_none_come_in(readings):
    one = readings["events"]
    entries = _entries(one)
    for at in ("tasks.emit.python_callable.outlet_events", "tasks.listen.python_callable.inlet_events"):
        assert entries[at].status == "approximated" and "orch emits and keeps none" in entries[at].note
    assert one.report.nothing_unsupported and one.report.behaviour.checked
