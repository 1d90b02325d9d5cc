"""Benchmark: the local backend, each figure against a peer measured in the same run.

    python bench/local.py           # all four figures
    python bench/local.py --skip-prefect

(a) a 10-step chain of trivial python steps: `orch run` vs a hand-written Prefect flow of
    the same chain (`python flow.py`, Prefect's ephemeral server), whole processes
    (goal <= 0.1x);
(b) overhead per step on a 200-step chain: (T(200 steps) - T(1 step)) / 199 (goal <= 10 ms);
(c) 100 independent 0.2 s steps with --max-parallel 100: wall time (goal <= 1 s), against
    the ideal 0.2 s;
(d) orch's own peak memory (max RSS of the orch process) at 1,000 steps vs 100 (goal <= 1.5x);
(e) a fan-out group of 100 items, each a chain of 2 trivial steps, against the same 200 steps written
    out as 100 chains side by side: what a group costs (goal <= 1.1x).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

STEPS_MODULE = '''
import time

def inc(x=0):
    return x + 1

def nap(seconds):
    time.sleep(seconds)
'''

PREFECT_FLOW = '''
from prefect import flow, task

@task
def inc(x=0):
    return x + 1

@flow
def chain():
    x = 0
    for _ in range(10):
        x = inc(x)
    return x

if __name__ == "__main__":
    assert chain() == 10
'''

# Runs orch's real entry point and reports the process's own peak RSS (KiB) at exit.
WITH_MAXRSS = """
import atexit, resource, sys
atexit.register(lambda: print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))
from orch.cli.main import main
main(sys.argv[1:])
"""


def chain(n: int) -> dict:
    steps = {"s0": {"python": "bench_steps:inc", "outputs": {"x": "integer"}}}
    for i in range(1, n):
        steps[f"s{i}"] = {"python": "bench_steps:inc", "args": {"x": f"${{{{ steps.s{i - 1}.outputs.x }}}}"}, "outputs": {"x": "integer"}}
    return {"apiVersion": "orch/v1", "name": f"chain-{n}", "steps": steps}


def fan(n: int, seconds: float) -> dict:
    steps = {f"s{i}": {"python": "bench_steps:nap", "args": {"seconds": seconds}} for i in range(n)}
    return {"apiVersion": "orch/v1", "name": f"fan-{n}", "steps": steps}


def group_of_chains(n: int) -> dict:
    body = {"first": {"python": "bench_steps:inc", "args": {"x": "${{ item }}"}, "outputs": {"x": "integer"}},
            "second": {"python": "bench_steps:inc", "args": {"x": "${{ steps.first.outputs.x }}"}, "outputs": {"x": "integer"}}}
    return {"apiVersion": "orch/v1", "name": f"group-{n}", "steps": {"each": {"foreach": list(range(n)), "steps": body}}}


def chains_side_by_side(n: int) -> dict:
    steps = {}
    for i in range(n):
        steps[f"first-{i}"] = {"python": "bench_steps:inc", "args": {"x": i}, "outputs": {"x": "integer"}}
        steps[f"second-{i}"] = {"python": "bench_steps:inc", "args": {"x": f"${{{{ steps.first-{i}.outputs.x }}}}"},
                                "outputs": {"x": "integer"}}
    return {"apiVersion": "orch/v1", "name": f"chains-{n}", "steps": steps}


class Bench:
    def __init__(self, folder: Path):
        self.folder = folder
        (folder / "bench_steps.py").write_text(STEPS_MODULE)
        (folder / "flow.py").write_text(PREFECT_FLOW)
        self.env = {**os.environ, "ORCH_HOME": str(folder / ".orch"), "PREFECT_LOGGING_LEVEL": "WARNING"}
        self.env.pop("PREFECT_API_URL", None)

    def spec(self, data: dict) -> Path:
        path = self.folder / f"{data['name']}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def time(self, argv: list[str]) -> tuple[float, str]:
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=self.folder, env=self.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
        return elapsed, done.stderr

    def orch(self, spec: Path, *extra: str) -> tuple[float, str]:
        return self.time([sys.executable, "-c", WITH_MAXRSS, "run", str(spec), "--json", *extra])

    def best(self, spec: Path, runs: int, *extra: str) -> float:
        return min(self.orch(spec, *extra)[0] for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-prefect", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        verdicts = []

        ten = bench.best(bench.spec(chain(10)), args.runs)
        if not args.skip_prefect:
            prefect = min(bench.time([sys.executable, "flow.py"])[0] for _ in range(args.runs))
            ratio = ten / prefect
            print(f"(a) 10-step chain: orch {ten:.2f} s, Prefect flow {prefect:.2f} s -> {ratio:.3f}x")
            verdicts.append(("(a) <= 0.1x Prefect", ratio <= 0.1))

        one = bench.best(bench.spec(chain(1)), args.runs)
        two_hundred = bench.best(bench.spec(chain(200)), args.runs)
        per_step = (two_hundred - one) / 199 * 1000
        print(f"(b) chain of 200: {two_hundred:.2f} s, of 1: {one:.2f} s -> {per_step:.1f} ms per step")
        verdicts.append(("(b) <= 10 ms per step", per_step <= 10))

        wide = bench.best(bench.spec(fan(100, 0.2)), args.runs, "--max-parallel", "100")
        print(f"(c) 100 independent 0.2 s steps, --max-parallel 100: {wide:.2f} s wall (ideal 0.2 s + start-up {one:.2f} s)")
        verdicts.append(("(c) <= 1 s wall", wide <= 1.0))

        rss = {}
        for n in (100, 1000):
            _, err = bench.orch(bench.spec(fan(n, 0)), "--max-parallel", "32")
            rss[n] = int(err.split("maxrss")[-1].split()[0]) / 1024
        print(f"(d) orch's peak memory: {rss[100]:.0f} MiB at 100 steps, {rss[1000]:.0f} MiB at 1,000 -> {rss[1000] / rss[100]:.2f}x")
        verdicts.append(("(d) <= 1.5x", rss[1000] / rss[100] <= 1.5))

        grouped = bench.best(bench.spec(group_of_chains(100)), args.runs)
        flat = bench.best(bench.spec(chains_side_by_side(100)), args.runs)
        print(f"(e) a fan-out group of 100 two-step items: {grouped:.2f} s, the same 200 steps side by side: {flat:.2f} s "
              f"-> {grouped / flat:.2f}x")
        verdicts.append(("(e) <= 1.1x", grouped / flat <= 1.1))

        print()
        for goal, met in verdicts:
            print(f"{goal}: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
