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

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

STEPS_MODULE = '''
def inc(x=0):
    return x + 1
'''

NATIVE_FLOW = '''
from prefect import flow, task

from bench_steps import inc as add_one


@task
def inc(x=0):
    return add_one(x)


@flow(name="chain")
def chain():
    x = inc.submit()
    for _ in range({steps} - 1):
        x = inc.submit(x)
    return x.result()


if __name__ == "__main__":
    assert chain() == {steps}
'''


def chain_spec(n: int) -> dict:
    steps = {"s0": {"python": "bench_steps:inc", "outputs": {"x": "integer"}}}
    for i in range(1, n):
        steps[f"s{i}"] = {"python": "bench_steps:inc", "args": {"x": f"${{{{ steps.s{i - 1}.outputs.x }}}}"},
                          "outputs": {"x": "integer"}}
    return {"apiVersion": "orch/v1", "name": "chain", "steps": steps}


def timed(argv: list[str], folder: Path, env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0,):
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    options = parser.parse_args()
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
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(options.rounds):
        for name, argv in commands.items():  # interleaved, so drift hits each alike
            times[name].append(timed(argv, folder, env))
    native = statistics.median(times["native"])
    print(f"{options.steps}-step chain, median of {options.rounds} whole processes (Prefect's temporary server each):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:7s} {median:6.2f} s  {median / native:5.2f}x native   ({', '.join(f'{v:.2f}' for v in values)})")
    ratio = statistics.median(times["orch"]) / native
    print(f"orch -> Prefect: {ratio:.3f}x the hand-written flow (goal <= 1.10x: {'met' if ratio <= 1.10 else 'missed'})")


if __name__ == "__main__":
    main()
