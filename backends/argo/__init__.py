"""Argo Workflows: Workflow / CronWorkflow manifests built with hera's models."""

from ..base import Backend

BACKEND = Backend(name="argo", description="Argo Workflows manifests (hera), run on an Argo Server",
                  engine="hera", extra="argo", abilities=("render", "run"), module="orch.backends.argo.run")
