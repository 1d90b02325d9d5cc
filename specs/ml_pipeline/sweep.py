"""The steps of specs/hyperparameter-sweep.yaml: one training per grid point, then the best."""

from __future__ import annotations

from .steps import train


def train_point(features_path: str, point: dict) -> dict:
    """Train with one grid point's settings."""
    return train(features_path, c=float(point["c"]))


def select_best(accuracies: list, model_paths: list, grid: list) -> dict:
    """The grid point with the highest accuracy (the first of equals)."""
    best = max(range(len(accuracies)), key=lambda i: (accuracies[i], -i))
    print(f"best of {len(accuracies)}: {grid[best]} with accuracy {accuracies[best]:.4f}")
    return {"best_model": model_paths[best], "best_accuracy": accuracies[best], "best_point": grid[best]}
