"""Benchmark: shipping a project's code, against the system's tar measured in the same run.

    python bench/codepack.py                  # 20 MB: 2,000 small .py files + 4 MB of data
    python bench/codepack.py --py-files 500 --data-mb 1 --rounds 5
    python bench/codepack.py --dir /dev/shm   # in memory: what the CPU costs, without the disk

(a) orch.backends.codepack.pack of the generated project (list, refuse-if-too-big, tar, gzip, sha256)
    vs `tar --sort=name ... -czf` of the same files, as one command (goal: pack <= 1 s);
(b) the second run's upload_once to a folder store: 0 bytes, and its time;
(c) orch.backends.workspace.unpack_code of the archive vs `tar -xzf` (goal well under 0.5 s).
Each figure is the median of `--rounds`, orch's and tar's interleaved, orch's timed in this process.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from orch.backends import codepack, workspace

# GNU tar making the same kind of archive as orch's (sorted, no times or owners), as one command
TAR_C = ["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "--format=pax", "-czf"]
WORDS = ("def", "return", "self", "value", "import", "class", "for", "in", "if", "else", "data", "model", "step",
         "outputs", "train", "x", "y", "None", "True", "len", "range", "print", "path", "config", "=", "+", "(", ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--py-files", type=int, default=2_000)
    parser.add_argument("--py-kb", type=int, default=8)
    parser.add_argument("--data-mb", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", help="where the project and the copies are made (default: the system's temp; "
                        "/dev/shm takes the disk out of the figures)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="orch-bench-codepack-", dir=args.dir))
    try:
        project = make_project(folder / "project", args.py_files, args.py_kb << 10, args.data_mb << 20)
        measure(folder, project, args.rounds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(folder: Path, project: Path, rounds: int) -> None:
    times: dict[str, list[float]] = {"pack": [], "tar czf": [], "unpack": [], "tar xzf": []}
    for i in range(rounds):
        made = _timed(times["pack"], codepack.pack, project, cache=folder / f"cache{i}")
        _timed(times["tar czf"], subprocess.run, TAR_C + [str(folder / f"native{i}.tar.gz"), "-C", str(project), "."],
               check=True)
        _timed(times["unpack"], workspace.unpack_code, str(made.archive), str(folder / f"unpacked{i}"))
        (folder / f"untar{i}").mkdir()
        _timed(times["tar xzf"], subprocess.run, ["tar", "-xzf", str(made.archive), "-C", str(folder / f"untar{i}")],
               check=True)
        for name in (f"unpacked{i}", f"untar{i}"):
            shutil.rmtree(folder / name)
    store = f"file://{folder / 'store'}"
    codepack.upload_once(made, store)
    next_run = codepack.pack(project, cache=folder / "cache-again")
    second: list[float] = []
    uploaded = _timed(second, codepack.upload_once, next_run, store)
    print("\n".join(codepack.summary(made)) + "\n")
    median = {name: statistics.median(values) for name, values in times.items()}
    tar_size = (folder / "native0.tar.gz").stat().st_size
    print(f"(a) pack, {len(made.files):,} files of {codepack.human(made.size)}, median of {rounds}:")
    _line("orch", times["pack"], f"archive {codepack.human(made.archive_size)} (gzip level {codepack.GZIP_LEVEL})")
    _line("tar czf", times["tar czf"], f"archive {codepack.human(tar_size)} (gzip's default level, 6)")
    print(f"  ratio   {median['pack'] / median['tar czf']:.2f}x; goal pack <= 1 s: "
          f"{'met' if median['pack'] <= 1 else 'missed'}")
    print(f"(b) the next run, code unchanged: upload_once {second[0] * 1000:.1f} ms, "
          f"{'uploaded AGAIN' if uploaded else 'uploaded 0 bytes'}")
    print(f"(c) unpack of the archive, median of {rounds}:")
    _line("orch", times["unpack"])
    _line("tar xzf", times["tar xzf"])
    print(f"  ratio   {median['unpack'] / median['tar xzf']:.2f}x; goal unpack < 0.5 s: "
          f"{'met' if median['unpack'] < 0.5 else 'missed'}")


def _timed(into: list[float], work, *args, **kwargs):
    """What `work` returns; its seconds appended to `into`, measured on a settled disk (os.sync first: else it
    pays for the writes of the measurement before)."""
    os.sync()
    started = time.perf_counter()
    result = work(*args, **kwargs)
    into.append(time.perf_counter() - started)
    return result


def _line(name: str, values: list[float], note: str = "") -> None:
    print(f"  {name:7s} {statistics.median(values):6.3f} s  ({', '.join(f'{v:.3f}' for v in values)})  {note}".rstrip())


def make_project(root: Path, py_files: int, py_size: int, data_size: int) -> Path:
    """A project as a pipeline's is: packages of small python modules (text, compressible like code) and a few
    MB of data files (half random, half repetitive numbers: what a fixture or small model looks like)."""
    rng = random.Random(13)
    for i in range(py_files):
        package = root / f"pkg{i // 100:02d}"
        package.mkdir(parents=True, exist_ok=True)
        lines, size = [], 0
        while size < py_size:
            line = "    " * rng.randint(0, 3) + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
            lines.append(f"{line}  # {rng.randint(0, 10 ** 6)}")
            size += len(lines[-1]) + 1
        (package / f"mod{i:04d}.py").write_text("\n".join(lines) + "\n")
    data = root / "data"
    data.mkdir()
    (data / "weights.bin").write_bytes(rng.randbytes(data_size // 2))
    numbers = "".join(f"{rng.gauss(0, 1):.6f}\n" for _ in range(data_size // 20))
    (data / "fixture.csv").write_text((numbers * 3)[: data_size - data_size // 2])
    return root


if __name__ == "__main__":
    main()
