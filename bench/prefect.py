"""Benchmark: orch -> Prefect against a hand-written Prefect flow of the same pipeline, same run.

    python bench/prefect.py [--rounds 3] [--steps 10]

The pipeline: a chain of N python steps, each adding one to its upstream's output. Three
whole processes, each starting Prefect's temporary local server, as a user would run them:

  native   `python flow.py`: a hand-written flow, one @task per step, chained with futures
  module   `python <rendered>.py`: what `orch render --backend prefect` wrote, on its own
  orch     `orch run --backend prefect`: render, run, read the RunResult back from the API

Prints the median seconds of each and the ratios to native (goal for orch: <= 1.10x).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from measure import NATIVE_FLOW, STEPS_MODULE, arguments, chain_spec, compare, timed


def main() -> None:
    options = arguments(__doc__)
    folder = Path(tempfile.mkdtemp(prefix="orch-bench-prefect-"))
    (folder / "bench_steps.py").write_text(STEPS_MODULE)
    (folder / "flow.py").write_text(NATIVE_FLOW.format(steps=options.steps))
    (folder / "chain.yaml").write_text(yaml.safe_dump(chain_spec(options.steps), sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(folder / "prefect-home"), ORCH_HOME=str(folder / ".orch"), PYTHONPATH=str(folder))
    orch = [sys.executable, "-m", "orch.cli.main"]
    subprocess.run(orch + ["render", "chain.yaml", "-b", "prefect", "-o", "rendered"], cwd=folder, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    commands = {
        "native": [sys.executable, "flow.py"],
        "module": [sys.executable, "rendered/chain_flow.py"],
        "orch": orch + ["run", "chain.yaml", "-b", "prefect", "--json"],
    }
    timed(commands["native"], folder, env)  # the first run creates Prefect's database: not measured
    compare(commands, folder, env, options.rounds, f"{options.steps}-step chain (Prefect's temporary server each)",
            "orch -> Prefect vs the hand-written flow")


if __name__ == "__main__":
    main()
