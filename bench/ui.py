"""Benchmark: `orch ui` over many runs, and its start.

    python bench/ui.py                 # 10,000 runs
    python bench/ui.py --runs 50000

(a) the runs page (HTTP, rendered) over N runs recorded through Store.create_run, 5 pipelines, every
    status: the first page, a deep page, a pipeline filter, a status filter (interrupted: the runs whose
    process is gone are probed) (goal: < 200 ms a page, median of 5);
(b) `orch ui --port 0`: from the process's start to the first 200 of the runs page (goal: < 1 s).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PIPELINES = ("train", "ingest", "evaluate", "deploy", "report")
STATUSES = ("succeeded", "failed", "interrupted", "succeeded", "running")  # running: no process, reads interrupted


def fill(home: Path, count: int) -> None:
    from orch.backends.local.state import Store

    store = Store(home)
    try:
        spec = {"pipeline": {"name": "x"}, "steps": {}}
        for n in range(count):
            run_id = f"{PIPELINES[n % 5]}-{n:06d}"
            store.create_run(run_id, PIPELINES[n % 5], "spec.yaml", {"n": n}, "2026-01-01", spec)
            if STATUSES[n % 5] != "running":
                store.set_run(run_id, STATUSES[n % 5], ended=True)
    finally:
        store.close()


def page_times(home: Path, count: int) -> dict[str, float]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from orch.cli.ui.app import create_app

    client = TestClient(create_app(home))
    last = count // 50
    urls = {"first page": "/", f"page {last}": f"/?page={last}", "pipeline=train": "/?pipeline=train",
            "status=interrupted": "/?status=interrupted", "status=failed&page=20": "/?status=failed&page=20"}
    times = {}
    for label, url in urls.items():
        rounds = []
        for _ in range(5):
            start = time.perf_counter()
            response = client.get(url)
            rounds.append(time.perf_counter() - start)
            assert response.status_code == 200 and response.text.count('<tr class="run"') == 50, (url, response.status_code)
        times[label] = statistics.median(rounds)
    return times


def start_time(home: Path) -> float:
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "orch.cli.main", "ui", "--port", "0", "--home", str(home)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://\S+/", line).group()
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
        return time.perf_counter() - start
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / ".orch"
        began = time.perf_counter()
        fill(home, args.runs)
        print(f"{args.runs:,} runs recorded in {time.perf_counter() - began:.1f} s")
        for label, seconds in page_times(home, args.runs).items():
            print(f"(a) runs page, {label:<22} {seconds * 1000:6.1f} ms   (goal < 200 ms)")
        starts = [start_time(home) for _ in range(3)]
        print(f"(b) orch ui start to first page: {statistics.median(starts) * 1000:.0f} ms median of 3 (goal < 1 s)")


if __name__ == "__main__":
    main()
