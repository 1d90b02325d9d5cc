"""The steps of specs/python_only/pipeline.py: a house-price model in the standard library alone.

Every function is typed, and the pipeline declares no outputs: orch reads them from the return
annotations (a TypedDict: one output per key; a bare type: one output, `result`). Files pass between
steps as artifacts (a `Path` annotation): each step writes in a folder of its own and returns the path;
the next one gets a path to its own copy.
"""

from __future__ import annotations

import csv
import json
import math
import random
import tempfile
from pathlib import Path
from typing import TypedDict

FEATURES = ("rooms", "area", "age")


def make_dataset(rows: int, seed: int) -> Path:
    """Synthetic house sales (price from rooms, area and age, plus noise), as CSV."""
    rng = random.Random(seed)
    path = _folder("houses") / "houses.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*FEATURES, "price"])
        for _ in range(rows):
            rooms, area, age = rng.randint(1, 6), rng.uniform(30, 200), rng.uniform(0, 80)
            price = 50 + 20 * rooms + 1.5 * area - 0.8 * age + rng.gauss(0, 10)
            writer.writerow([rooms, round(area, 1), round(age, 1), round(price, 2)])
    print(f"wrote {rows} sales to {path}")
    return path


class Split(TypedDict):
    train: Path
    test: Path
    rows: int


def split(dataset: str, test_fraction: float = 0.25) -> Split:
    """Hold out the last `test_fraction` of the rows for testing."""
    with open(dataset, newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    cut = int(len(rows) * (1 - test_fraction))
    folder = _folder("split")
    for name, part in (("train", rows[:cut]), ("test", rows[cut:])):
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *part])
    print(f"{cut} rows to train on, {len(rows) - cut} to test")
    return {"train": folder / "train.csv", "test": folder / "test.csv", "rows": len(rows)}


class Fit(TypedDict):
    model: Path
    val_rmse: float


def train(train_path: str, l2: float) -> Fit:
    """Ridge regression on standardised features, fitted on 80% of the training rows and scored on the rest."""
    x, y = _read(train_path)
    cut = int(len(x) * 0.8)
    mean = [sum(column) / cut for column in zip(*x[:cut])]
    spread = [math.sqrt(sum((v - m) ** 2 for v in column) / cut) or 1.0 for column, m in zip(zip(*x[:cut]), mean)]
    model = {"mean": mean, "spread": spread, "l2": l2}
    model["weights"] = _ridge([_scaled(row, model) for row in x[:cut]], y[:cut], l2)
    path = _folder("model") / f"ridge-l2-{l2:g}.json"
    path.write_text(json.dumps(model), encoding="utf-8")
    loss = _rmse(model, x[cut:], y[cut:])
    print(f"l2={l2:g}: validation RMSE {loss:.3f}")
    return {"model": path, "val_rmse": loss}


class Best(TypedDict):
    model: Path
    l2: float


def select(models: list, losses: list, grid: list) -> Best:
    """The model with the lowest validation RMSE (the first of equals)."""
    best = min(range(len(losses)), key=lambda i: (losses[i], i))
    print(f"best of {len(losses)}: l2={grid[best]} (validation RMSE {losses[best]:.3f})")
    return {"model": Path(models[best]), "l2": float(grid[best])}


class Metrics(TypedDict):
    rmse: float
    r2: float


def evaluate(model: str, test: str) -> Metrics:
    """RMSE and R² on the held-out rows."""
    fitted = json.loads(Path(model).read_text(encoding="utf-8"))
    x, y = _read(test)
    rmse = _rmse(fitted, x, y)
    mean = sum(y) / len(y)
    r2 = 1 - rmse ** 2 * len(y) / sum((v - mean) ** 2 for v in y)
    print(f"test RMSE {rmse:.3f}, R² {r2:.4f}")
    return {"rmse": round(rmse, 4), "r2": round(r2, 4)}


def publish(model: str, r2: float, registry: str, run_id: str) -> str:
    """'Publish': copy the model into the registry folder under the run's id, with its score."""
    target = Path(registry) / run_id
    target.mkdir(parents=True, exist_ok=True)
    (target / "model.json").write_bytes(Path(model).read_bytes())
    (target / "score.json").write_text(json.dumps({"r2": r2}), encoding="utf-8")
    print(f"published {target} (R² {r2})")
    return str(target / "model.json")


def _folder(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-"))


def _read(path: str) -> tuple[list[list[float]], list[float]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [[float(v) for v in row] for row in list(csv.reader(handle))[1:]]
    return [row[:-1] for row in rows], [row[-1] for row in rows]


def _scaled(row: list[float], model: dict) -> list[float]:
    return [1.0] + [(v - m) / s for v, m, s in zip(row, model["mean"], model["spread"])]


def _ridge(x: list[list[float]], y: list[float], l2: float) -> list[float]:
    """Solve (XᵀX + l2·I) w = Xᵀy by Gaussian elimination (the bias, column 0, is not penalised)."""
    n = len(x[0])
    a = [[sum(r[i] * r[j] for r in x) + (l2 if i == j and i else 0.0) for j in range(n)] for i in range(n)]
    b = [sum(r[i] * t for r, t in zip(x, y)) for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot], b[col], b[pivot] = a[pivot], a[col], b[pivot], b[col]
        for r in range(col + 1, n):
            factor = a[r][col] / a[col][col]
            a[r] = [v - factor * p for v, p in zip(a[r], a[col])]
            b[r] -= factor * b[col]
    w = [0.0] * n
    for i in reversed(range(n)):
        w[i] = (b[i] - sum(a[i][j] * w[j] for j in range(i + 1, n))) / a[i][i]
    return w


def _rmse(model: dict, x: list[list[float]], y: list[float]) -> float:
    errors = [sum(w * v for w, v in zip(model["weights"], _scaled(row, model))) - t for row, t in zip(x, y)]
    return math.sqrt(sum(e * e for e in errors) / len(errors))
