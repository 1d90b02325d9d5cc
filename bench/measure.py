"""What the whole-process benchmarks share: time a command, run rounds interleaved, print medians and ratios."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


STEPS_MODULE = '''
def inc(x=0):
    return x + 1
'''


def arguments(doc: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    return parser.parse_args()


# the chain as a hand-written TaskFlow DAG (bench/airflow.py runs it with dag.test(), bench/servers.py on a server)
NATIVE_DAG = '''
from airflow.sdk import dag, task

from bench_steps import inc as add_one


@dag(dag_id="native-chain", schedule=None, catchup=False)
def native_chain():
    @task
    def inc(x=0):
        return add_one(x)

    x = inc()
    for _ in range({steps} - 1):
        x = inc(x)


native_chain()
'''


NATIVE_FLOW = '''
from prefect import flow, task

from bench_steps import inc as add_one


@task
def inc(x=0):
    return add_one(x)


@flow(name="native-chain")
def native_chain():
    x = inc.submit()
    for _ in range({steps} - 1):
        x = inc.submit(x)
    return x.result()


if __name__ == "__main__":
    assert native_chain() == {steps}
'''


def chain_spec(n: int) -> dict:
    """A chain of n python steps, each adding one to its upstream's output (bench_steps:inc)."""
    steps = {"s0": {"python": "bench_steps:inc", "outputs": {"x": "integer"}}}
    for i in range(1, n):
        steps[f"s{i}"] = {"python": "bench_steps:inc", "args": {"x": f"${{{{ steps.s{i - 1}.outputs.x }}}}"},
                          "outputs": {"x": "integer"}}
    return {"apiVersion": "orch/v1", "name": "chain", "steps": steps}


def timed(argv: list[str], folder: Path, env: dict) -> float:
    """Seconds one whole process took; exits with its error output if it failed."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def compare(commands: dict[str, list[str]], folder: Path, env: dict, rounds: int, title: str, goal: str) -> None:
    """Run every command `rounds` times, interleaved (so drift hits each alike); print each median and
    its ratio to the first command's, then whether orch's ratio meets the goal of 1.10x."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            times[name].append(timed(argv, folder, env))
    baseline = statistics.median(next(iter(times.values())))
    print(f"{title}, median of {rounds} whole processes:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:7s} {median:6.2f} s  {median / baseline:5.2f}x   ({', '.join(f'{v:.2f}' for v in values)})")
    ratio = statistics.median(times["orch"]) / baseline
    print(f"{goal}: {ratio:.3f}x (goal <= 1.10x: {'met' if ratio <= 1.10 else 'missed'})")
