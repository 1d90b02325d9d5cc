"""The steps of specs/ml-training.yaml: ingest -> features -> train -> evaluate -> deploy.

The data set, the features and the model pass between steps as artifacts: each step writes in a
folder of its own and returns the path; the next one gets a path to its own copy, which may be on
another machine (a pod, a worker).
"""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
from pathlib import Path


def ingest(bucket: str) -> str:
    """Copy the raw data set into the bucket as CSV; return its path."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    path = Path(bucket) / "raw" / "breast_cancer.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table = np.column_stack([data.data, data.target])
    header = ",".join(list(data.feature_names) + ["target"])
    np.savetxt(path, table, delimiter=",", header=header, comments="", fmt="%.6g")
    print(f"ingested {len(table)} rows into {path}")
    return str(path)


def features(data_path: str) -> str:
    """Split train/test and standardise the features; return the feature file's path (in a folder of its own)."""
    import numpy as np
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    table = np.loadtxt(data_path, delimiter=",", skiprows=1)
    x, y = table[:, :-1], table[:, -1].astype(int)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=7, stratify=y)
    scaler = StandardScaler().fit(x_train)
    path = Path(tempfile.mkdtemp(prefix="features-")) / "features.npz"
    np.savez(path, x_train=scaler.transform(x_train), x_test=scaler.transform(x_test), y_train=y_train, y_test=y_test)
    print(f"wrote {x_train.shape[0]} training and {x_test.shape[0]} test rows to {path}")
    return str(path)


def train(features_path: str, c: float = 1.0) -> dict:
    """Fit a logistic regression; return its test accuracy and the model's path (in a folder of its own)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    data = np.load(features_path)
    model = LogisticRegression(C=c, max_iter=1000).fit(data["x_train"], data["y_train"])
    accuracy = float(model.score(data["x_test"], data["y_test"]))
    path = Path(tempfile.mkdtemp(prefix="model-")) / f"model-c{c:g}.pkl"
    path.write_bytes(pickle.dumps(model))
    print(f"trained C={c:g}: test accuracy {accuracy:.4f}")
    return {"accuracy": accuracy, "model": str(path)}


def evaluate(model_path: str, features_path: str) -> dict:
    """Precision, recall and the confusion matrix on the held-out rows."""
    import numpy as np
    from sklearn.metrics import confusion_matrix, precision_score, recall_score

    model = pickle.loads(Path(model_path).read_bytes())
    data = np.load(features_path)
    predicted = model.predict(data["x_test"])
    report = {
        "precision": round(float(precision_score(data["y_test"], predicted)), 4),
        "recall": round(float(recall_score(data["y_test"], predicted)), 4),
        "confusion_matrix": confusion_matrix(data["y_test"], predicted).tolist(),
    }
    print(json.dumps(report))
    return report


def deploy(model_path: str, registry: str, run_date: str) -> str:
    """'Deploy': copy the model into the registry folder under the run's date."""
    target = Path(registry) / run_date / "model.pkl"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_path, target)
    print(f"deployed {model_path} -> {target}")
    return str(target)
