"""Argo Workflows: Workflow / CronWorkflow manifests built with hera, run on an Argo Server."""

from ..base import Backend

BACKEND = Backend(name="argo", description="Argo Workflows manifests (hera), run on an Argo Server", engine="hera", extra="argo")
