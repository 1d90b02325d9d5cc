"""A pipeline written in Python only: no YAML, and no `outputs=` (each step's come from its return annotation).

    orch validate specs/python_only/pipeline.py
    orch run specs/python_only/pipeline.py -p grid='[0, 3, 30]'
    orch export specs/python_only/pipeline.py -o house-prices.yaml

A synthetic data set is split, a ridge regression trained once per strength in `grid` (a fan-out), the
best one evaluated on held-out rows, and published only when its R² clears `min_r2` (a condition).
`steps` is this file's sibling module: the file's folder is first on the import path, here and in every step.
"""

import steps
from orch.core.builder import ITEM, RUN_ID, PipelineBuilder

pipe = PipelineBuilder("house-prices", description="Train a house-price model; publish it when it is good enough")
rows = pipe.param("rows", default=400, description="sales in the synthetic data set")
seed = pipe.param("seed", default=7)
grid = pipe.param("grid", "json", [0.0, 1.0, 10.0, 100.0], description="ridge strengths to try, one training each")
min_r2 = pipe.param("min_r2", default=0.9, description="the lowest test R² that is published")
registry = pipe.param("registry", default=".orch/house-prices-registry", description="a folder for a model registry")

dataset = pipe.step(steps.make_dataset, args={"rows": rows, "seed": seed})
split = pipe.step(steps.split, args={"dataset": dataset.outputs.result})
train = pipe.step(steps.train, foreach=grid, parallelism=2, args={"train_path": split.outputs.train, "l2": ITEM})
best = pipe.step(steps.select, args={"models": train.outputs.model, "losses": train.outputs.val_rmse, "grid": grid})
evaluate = pipe.step(steps.evaluate, args={"model": best.outputs.model, "test": split.outputs.test})
publish = pipe.step(steps.publish, when=evaluate.outputs.r2 > min_r2, args={
    "model": best.outputs.model, "r2": evaluate.outputs.r2, "registry": registry, "run_id": RUN_ID})
