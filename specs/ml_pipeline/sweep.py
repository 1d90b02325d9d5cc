"""The steps of specs/hyperparameter-sweep.yaml: one training per grid point, then the best."""

from __future__ import annotations

from .steps import evaluate, train


def train_point(features_path: str, point: dict) -> dict:
    """Train with one grid point's settings."""
    return train(features_path, c=float(point["c"]))


def select_best(accuracies: list, model_paths: list, grid: list) -> dict:
    """The grid point with the highest accuracy (the first of equals)."""
    best = max(range(len(accuracies)), key=lambda i: (accuracies[i], -i))
    print(f"best of {len(accuracies)}: {grid[best]} with accuracy {accuracies[best]:.4f}")
    return {"best_model": model_paths[best], "best_accuracy": accuracies[best], "best_point": grid[best]}


def evaluate_point(model_path: str, features_path: str) -> dict:
    """Precision and recall of one grid point's model on the held-out rows."""
    report = evaluate(model_path, features_path)
    return {"precision": report["precision"], "recall": report["recall"]}


def select_recalled(accuracies: list, recalls: list, models: list, grid: list, min_recall: float) -> dict:
    """The most accurate grid point among those that recall enough (a point whose item failed is null: skipped)."""
    fit = [i for i, recall in enumerate(recalls) if recall is not None and recall >= min_recall]
    if not fit:
        raise ValueError(f"no grid point recalls {min_recall} or more: {recalls}")
    best = max(fit, key=lambda i: (accuracies[i], -i))
    print(f"best of {len(fit)} fit points: {grid[best]} with accuracy {accuracies[best]:.4f}, recall {recalls[best]}")
    return {"best_model": models[best], "best_accuracy": accuracies[best], "best_point": grid[best]}
