"""Prefect 3: a self-contained flow module, run on Prefect's own engine."""

from ..base import Backend

BACKEND = Backend(name="prefect", description="a Prefect 3 flow module, run on Prefect", engine="prefect", extra="prefect",
                  abilities=("render", "run", "deploy"), renders_without_engine=True,
                  module="orch.backends.prefect.run")
