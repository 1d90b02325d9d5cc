"""Argo Workflows: Workflow / CronWorkflow manifests built with hera's models."""

from ..base import Backend

BACKEND = Backend(name="argo", description="Argo Workflows manifests (hera); running on an Argo Server comes next",
                  engine="hera", extra="argo", abilities=("render",), module="orch.backends.argo.render")
