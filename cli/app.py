"""The typer app: one small module per command, registered here."""

from __future__ import annotations

import typer

from . import backends_cmd, deploy_cmd, export_cmd, graph_cmd, import_cmd, render_cmd, run_cmd, runs_cmd, schema_cmd, ui_cmd, validate_cmd

app = typer.Typer(
    name="orch",
    help="Write an ML pipeline once; validate it, draw it, and run it locally or on Argo, Prefect or Airflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("validate")(validate_cmd.validate)
app.command("run")(run_cmd.run)
app.command("deploy")(deploy_cmd.deploy)
app.add_typer(runs_cmd.runs_app, name="runs")
app.command("logs")(runs_cmd.logs)
app.command("render")(render_cmd.render)
app.command("graph")(graph_cmd.graph)
app.command("export")(export_cmd.export)
app.command("import")(import_cmd.import_)
app.command("schema")(schema_cmd.schema)
app.command("backends")(backends_cmd.backends)
app.command("ui")(ui_cmd.ui)
