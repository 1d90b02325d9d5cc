"""Benchmark: validating large specs, and `orch validate` as a whole process.

    python bench/validate.py            # 1k, 10k and 100k steps
    python bench/validate.py --quick    # 1k and 10k only

Prints, in the same run: load+validate time per size (best of several) with where the
time goes, and `orch validate specs/ml-training.yaml` against the bare import of its own
dependencies (`python -c "import pydantic, yaml, networkx"`), medians of alternating runs.
Goals (issue #2): 100k steps <= 3 s; the CLI call <= 1.5x the bare import.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import write_spec  # noqa: E402

from orch.core.load import build, gc_paused, load_spec  # noqa: E402
from orch.core.yaml_source import load_yaml  # noqa: E402

ROOT = HERE.parent


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_sizes(sizes: list[int]) -> float:
    print(f"{'steps':>8} {'spec':>8} {'yaml':>8} {'checks':>8} {'total':>8}   per step")
    worst_100k = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for steps in sizes:
            path = write_spec(Path(folder), steps)
            text = path.read_text()
            repeat = 5 if steps <= 10_000 else 3
            with gc_paused():  # as parse_spec runs them
                parse = best_of(lambda: load_yaml(text, str(path)), repeat)
                data, source = load_yaml(text, str(path))
                check = best_of(lambda: build(data, source), repeat)
            total = best_of(lambda: load_spec(path), repeat)
            size = f"{len(text) / 1e6:.1f}MB"
            print(f"{steps:>8} {size:>8} {parse:>7.3f}s {check:>7.3f}s {total:>7.3f}s   {total / steps * 1e6:6.1f} us")
            if steps == 100_000:
                worst_100k = total
    return worst_100k


def bench_cli(runs: int) -> tuple[float, float]:
    orch = shutil.which("orch") or str(Path(sys.executable).parent / "orch")
    spec = str(ROOT / "specs" / "ml-training.yaml")
    commands = {
        "orch validate": [orch, "validate", spec],
        "bare import": [sys.executable, "-c", "import pydantic, yaml, networkx"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):  # alternate, so drift hits both alike
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            samples[name].append(time.perf_counter() - start)
    cli, bare = (statistics.median(samples[name]) for name in commands)
    print(f"orch validate specs/ml-training.yaml   {cli * 1000:6.0f} ms (median of {runs})")
    print(f"python -c 'import pydantic, yaml, networkx' {bare * 1000:6.0f} ms")
    return cli, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100k-step spec")
    parser.add_argument("--runs", type=int, default=15, help="whole-process runs of each command")
    args = parser.parse_args()
    sizes = [1_000, 10_000] + ([] if args.quick else [100_000])
    worst = bench_sizes(sizes)
    cli, bare = bench_cli(args.runs)
    print()
    if worst:
        print(f"100k steps: {worst:.2f} s (goal <= 3 s: {'met' if worst <= 3 else 'MISSED'})")
    print(f"CLI / bare import: {cli / bare:.2f}x (goal <= 1.5x: {'met' if cli / bare <= 1.5 else 'MISSED'})")


if __name__ == "__main__":
    main()
