"""Benchmark: moving artifacts, each figure against the native tools measured in the same run.

    python bench/artifacts.py               # 1 GB files, 10,000 small files
    python bench/artifacts.py --size-mb 200 --files 2000 --rounds 1

What is timed is what happens between a producer and a consumer: the producer's artifact stored
(orch.backends.transfer.publish) and the consumer's copy fetched (fetch), in a process whose peak
memory (max RSS) is read too; it and boto3 are timed once their imports are done (a run's processes
have imported them already), `cp` and `tar` as whole commands.

(a) a 1 GB file through the local store, left by a command at $ORCH_OUTPUTS/NAME (orch moves it
    into the store, then copies it out) vs `cp` of the same file (goal <= 1.2x);
(b) a 1 GB file through an S3-compatible server on loopback (moto), vs boto3's own `upload_file`
    + `download_file` to the same server (goal <= 1.2x);
(c) a folder of 10,000 small files through that server vs `tar` + one boto3 upload, then one
    download + `tar -x` (goal <= 1.5x);
and orch's peak memory in each (goal < 200 MB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BUCKET = "orch-bench"
# Each side is timed inside its process once its imports are done: in a run, the local backend's starter
# has imported the store's client before it forks the attempts, and a worker process keeps its imports.
ORCH = '''
import resource, sys, time
import fsspec, s3fs
from orch.backends.transfer import fetch, publish
store, key, source, target, movable = sys.argv[1:6]
started = time.perf_counter()
uri = publish(store, key, source, movable == "move")
fetch(uri, target)
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
'''
BOTO = '''
import sys, time, boto3
source, target = sys.argv[1:3]
started = time.perf_counter()
s3 = boto3.client("s3")  # (orch makes its client inside publish too: both are timed)
s3.upload_file(source, "%s", "native/object")
s3.download_file("%s", "native/object", target)
print(time.perf_counter() - started, 0)
''' % (BUCKET, BUCKET)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="orch-bench-artifacts-"))
    try:
        big = folder / "big.bin"
        _write_random(big, args.size_mb << 20)
        small = folder / "small"
        _write_small_files(small, args.files)
        with _s3_server() as env:
            results = [local_file(folder, big, args.rounds), s3_file(folder, big, env, args.rounds),
                       s3_folder(folder, small, env, args.rounds)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print()
    for title, ratio, goal, memory in results:
        verdict = "met" if ratio <= goal else "missed"
        print(f"{title}: {ratio:.2f}x (goal <= {goal}x: {verdict}); orch's peak memory {memory:.0f} MB "
              f"(goal < 200 MB: {'met' if memory < 200 else 'missed'})")


def local_file(folder: Path, big: Path, rounds: int):
    store = f"file://{folder / 'store'}"
    orch, native, memory = [], [], []
    for i in range(rounds):
        left = folder / "outputs-model"  # what a command left at $ORCH_OUTPUTS/model: orch's own folder
        shutil.copyfile(big, left)
        seconds, peak = _timed([sys.executable, "-c", ORCH, store, f"p/run{i}/train/model", str(left),
                                str(folder / f"copy{i}"), "move"])
        orch.append(seconds)
        memory.append(peak)
        native.append(_timed(["cp", str(big), str(folder / f"cp{i}")])[0])
        _remove(folder / f"copy{i}", folder / f"cp{i}", folder / "store")
    return _report(f"(a) {big.stat().st_size >> 20} MB file through the local store vs cp", orch, native, 1.2, memory)


def s3_file(folder: Path, big: Path, env: dict, rounds: int):
    orch, native, memory = [], [], []
    for i in range(rounds):
        seconds, peak = _timed([sys.executable, "-c", ORCH, f"s3://{BUCKET}", f"p/run{i}/train/model", str(big),
                                str(folder / f"s3copy{i}"), "copy"], env)
        orch.append(seconds)
        memory.append(peak)
        native.append(_timed([sys.executable, "-c", BOTO, str(big), str(folder / f"boto{i}")], env)[0])
        _remove(folder / f"s3copy{i}", folder / f"boto{i}")
    return _report(f"(b) {big.stat().st_size >> 20} MB file through S3 (moto) vs boto3 upload_file + download_file",
                   orch, native, 1.2, memory)


def s3_folder(folder: Path, small: Path, env: dict, rounds: int):
    orch, native, memory = [], [], []
    count = sum(1 for _ in small.iterdir())
    for i in range(rounds):
        seconds, peak = _timed([sys.executable, "-c", ORCH, f"s3://{BUCKET}", f"p/run{i}/prep/files", str(small),
                                str(folder / f"tree{i}"), "copy"], env)
        orch.append(seconds)
        memory.append(peak)
        archive, unpacked = folder / f"files{i}.tar", folder / f"untar{i}"
        unpacked.mkdir()
        seconds = _timed(["tar", "-cf", str(archive), "-C", str(small), "."])[0]
        seconds += _timed([sys.executable, "-c", BOTO, str(archive), str(folder / f"back{i}.tar")], env)[0]
        seconds += _timed(["tar", "-xf", str(folder / f"back{i}.tar"), "-C", str(unpacked)])[0]
        native.append(seconds)
        _remove(folder / f"tree{i}", archive, folder / f"back{i}.tar", unpacked)
    return _report(f"(c) a folder of {count:,} small files through S3 vs tar + one upload, one download + tar -x",
                   orch, native, 1.5, memory)


def _report(title: str, orch: list[float], native: list[float], goal: float, memory: list[float]):
    ratio = statistics.median(orch) / statistics.median(native)
    print(f"{title}, median of {len(orch)}:\n  orch   {statistics.median(orch):6.2f} s  ({', '.join(f'{v:.2f}' for v in orch)})"
          f"\n  native {statistics.median(native):6.2f} s  ({', '.join(f'{v:.2f}' for v in native)})\n  ratio  {ratio:.2f}x")
    return title, ratio, goal, max(memory)


def _timed(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """Seconds the work took and the peak memory in MB, as the script printed them (a command: its whole run);
    each starts on a settled disk."""
    os.sync()
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{argv[:3]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    printed = done.stdout.split()
    return (float(printed[-2]), float(printed[-1])) if printed else (elapsed, 0.0)


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        block = os.urandom(8 << 20)
        for _ in range(size // len(block)):
            handle.write(block)
        handle.write(block[: size % len(block)])


def _write_small_files(folder: Path, count: int) -> None:
    folder.mkdir()
    for i in range(count):
        (folder / f"part-{i:05d}.json").write_bytes(os.urandom(512).hex().encode())


def _remove(*paths: Path) -> None:
    """Gone, and the disk settled (os.sync): else the next measurement pays for this one's 10,000 deletes."""
    for path in paths:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    os.sync()


class _s3_server:
    """moto's S3 server on a free loopback port, with the bucket made; AWS_* pointing at it."""

    def __enter__(self) -> dict:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
                   AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
        for _ in range(300):
            try:
                urllib.request.urlopen(urllib.request.Request(f"{env['AWS_ENDPOINT_URL']}/{BUCKET}", method="PUT"))
                return env
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto's server did not start")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait()


if __name__ == "__main__":
    main()
