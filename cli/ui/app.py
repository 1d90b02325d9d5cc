"""`orch ui`'s web app: starlette routes over the local backend's records (the page contract: docs/ui.md).

Every request opens the records afresh (SQLite in WAL mode: reading never blocks a run writing them); the
pages are plain functions, run in starlette's thread pool, so the live streams never wait on a disk.
Bad input is a 400 or 404 page, never a traceback; stop and resume are POSTs from this app's own pages
(a request from another site is refused), and the app answers only the host names it was bound to.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Optional
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from orch.backends.local.state import Store, orch_home
from orch.core.errors import OrchError, shorten

from . import actions, data, pages
from .artifacts import content_type, inside, run_folder
from .servers import ServerRuns

POLL_SECONDS = 0.3
SERVER_POLL_SECONDS = 2.0  # a server run's live page reads the server again this often
KEEP_ALIVE_SECONDS = 10
PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'")
FILE_POLICY = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"  # a served file runs nothing
ENDED = frozenset({"succeeded", "failed", "interrupted"})


def create_app(home: Optional[Path] = None, allowed_hosts: Optional[list[str]] = None,
               server: Optional[ServerRuns] = None) -> Starlette:
    """The app over the records in `home` ($ORCH_HOME or .orch); `allowed_hosts`: the Host headers it answers
    (None: any, for a test client); `server`: a deployed pipeline whose server's runs are shown beside them."""
    ui = Pages(Path(home) if home else None, server)
    routes = [
        Route("/", ui.runs),
        Route("/runs/{run_id}", ui.run),
        Route("/runs/{run_id}/steps/{step}", ui.step),
        Route("/runs/{run_id}/events", ui.events),
        Route("/runs/{run_id}/log/{step}", ui.log),
        Route("/runs/{run_id}/files/{path:path}", ui.files),
        Route("/runs/{run_id}/stop", ui.stop, methods=["POST"]),
        Route("/runs/{run_id}/resume", ui.resume, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=pages.HERE / "static"), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={HTTPException: _error_page, Exception: _internal_page})


class Pages:
    """The routes' handlers, over one records folder."""

    def __init__(self, home: Optional[Path], server: Optional[ServerRuns] = None):
        self.home = home
        self.server = server

    def store(self) -> Store:
        return Store(self.home)

    def read(self, request: Request, with_graph: bool = True) -> data.RunView:
        """The run the URL names, or a 404."""
        records = self.store()
        try:
            run_id = request.path_params["run_id"]
            run = data.read_run(records, run_id, with_graph)
        finally:
            records.close()
        if run is None and self.server is not None:  # not a local run: the server's, if it has it
            run = _from_server(self.server, run_id)
        if run is None:
            also = f" nor on {self.server.where()}" if self.server is not None else ""
            raise HTTPException(404, f"no run {shorten(repr(run_id))} in {records.home}{also}")
        return run

    def runs(self, request: Request) -> Response:
        query = request.query_params
        page = _int(query.get("page") or "1", "page", 1, data.MAX_PAGE)
        status = query.get("status") or ""
        if status and status not in data.STATUSES:
            raise HTTPException(400, f"status is one of {', '.join(data.STATUSES)}, not {shorten(repr(status))}")
        filters = {"pipeline": query.get("pipeline") or "", "status": status, "backend": query.get("backend") or ""}
        records = self.store()
        try:
            found = data.runs_page(records, page=page, **filters)
        finally:
            records.close()
        problem = None
        if self.server is not None:
            problem = _with_server_runs(found, self.server, filters)
        return _page(pages.render("runs.html", found=found, filters=filters, statuses=data.STATUSES,
                                  pager=_pager(filters, page, found.has_next), server_problem=problem))

    def run(self, request: Request) -> Response:
        run = self.read(request)
        run_id = quote(run.run_id, safe="")
        context = pages.run_context(run, lambda step: f"/runs/{run_id}/steps/{quote(step, safe='')}")
        return _page(pages.render("run.html", report=False, **context))

    def step(self, request: Request) -> Response:
        run = self.read(request)
        query = request.query_params
        attempt = _int(query["attempt"], "attempt", 1, 1 << 31) if query.get("attempt") else None
        context = pages.step_context(run, request.path_params["step"], attempt, query.get("item") or None)
        if context is None:
            raise HTTPException(404, f"run {run.run_id} has no such step or attempt")
        return _page(pages.render("step.html", **context))

    async def events(self, request: Request) -> Response:
        """`event: state` each time the run's status or a step's state changes; the stream ends with the run."""
        run = await asyncio.to_thread(self.read, request, False)
        names = list(run.steps)
        if run.server is not None:
            return _event_stream(self._server_states(run.run_id))

        async def stream():
            records, last, quiet = self.store(), None, 0.0
            try:
                while True:
                    state = data.live_state(records, run.run_id, names)
                    if state is None:
                        return
                    if state != last:
                        last, quiet = state, 0.0
                        yield f"event: state\ndata: {json.dumps(state)}\n\n"
                    elif quiet >= KEEP_ALIVE_SECONDS:
                        quiet = 0.0
                        yield ": still here\n\n"  # a comment: proxies and the browser keep the stream open
                    if state["run"] in ENDED:
                        return
                    quiet += POLL_SECONDS
                    await asyncio.sleep(POLL_SECONDS)
            finally:
                records.close()

        return _event_stream(stream())

    async def _server_states(self, run_id: str):
        """A server run's state, read from the server every SERVER_POLL_SECONDS until it ends."""
        last = None
        while True:
            try:
                state = await asyncio.to_thread(self.server.live_state, run_id)
            except OrchError:
                state = last  # the server did not answer this time: ask again later
            if state is None:
                return
            if state != last:
                last = state
                yield f"event: state\ndata: {json.dumps(state)}\n\n"
            else:
                yield ": still here\n\n"
            if state["run"] in ENDED:
                return
            await asyncio.sleep(SERVER_POLL_SECONDS)

    def log(self, request: Request) -> Response:
        """A log's bytes from `offset` (at most 1 MiB), the attempt's status in a header: the live log's tail."""
        run = self.read(request, with_graph=False)
        if run.server is not None:
            raise HTTPException(404, f"orch ui cannot read a server run's log: {run.log_hint}")
        query = request.query_params
        attempt = _int(query["attempt"], "attempt", 1, 1 << 31) if query.get("attempt") else None
        offset = _int(query.get("offset") or "0", "offset", 0, 1 << 62)
        chosen = pages.choose_attempt(run.attempts_of(request.path_params["step"]), attempt, query.get("item") or None)
        if chosen is None:
            raise HTTPException(404, f"run {run.run_id} has no such log")
        body = _read_from(chosen.log, offset, 1 << 20)
        headers = {"X-Orch-Attempt-Status": chosen.status, "X-Orch-Offset": str(offset + len(body)),
                   "Cache-Control": "no-cache"}
        return Response(body, media_type="text/plain; charset=utf-8", headers=headers)

    def files(self, request: Request) -> Response:
        run = self.read(request, with_graph=False)
        if run.server is not None:
            raise HTTPException(404, "a server run's artifacts are in its artifact store, at the URIs its step pages show")
        path = inside(run_folder(run.artifact_store, run.pipeline, run.run_id), request.path_params["path"])
        if path is None:
            raise HTTPException(404, "no such file in this run's artifacts")
        with open(path, "rb") as handle:
            kind = content_type(handle.read(64 << 10))
        disposition = "inline" if kind.startswith(("image/", "text/")) else "attachment"
        return FileResponse(path, media_type=kind, content_disposition_type=disposition, filename=path.name,
                            headers={"Content-Security-Policy": FILE_POLICY, "X-Content-Type-Options": "nosniff"})

    def stop(self, request: Request) -> Response:
        _same_origin(request)
        run = self.read(request, with_graph=False)
        _local_only(run, "stop")
        _act(actions.stop, run)
        return _back_to(run.run_id)

    def resume(self, request: Request) -> Response:
        _same_origin(request)
        run = self.read(request, with_graph=False)
        _local_only(run, "resume")
        _act(actions.resume, run, (self.home or orch_home()).resolve())
        return _back_to(run.run_id)


def _from_server(server: ServerRuns, run_id: str) -> Optional[data.RunView]:
    """The server's run, or None; an unreachable server is a 502 page saying so (never a 500)."""
    try:
        return server.view(run_id)
    except OrchError as err:
        raise HTTPException(502, shorten(str(err), 600)) from None


def _with_server_runs(found: data.RunsPage, server: ServerRuns, filters: dict) -> Optional[str]:
    """The server's newest runs (LIST_LIMIT at most) among the first page's rows, newest first; later pages are the
    local records' alone. Returns the banner's text when the server could not be read."""
    if server.pipeline not in found.pipelines:
        found.pipelines = sorted({*found.pipelines, server.pipeline})
    if server.backend not in found.backends:
        found.backends = sorted({*found.backends, server.backend})
    rows, problem = server.rows(**filters)
    found.total += len(rows)
    if found.page == 1 and rows:
        found.rows = sorted(found.rows + rows, key=lambda row: (row["started_at"] or "9999", row["run_id"]), reverse=True)
    return problem


def _event_stream(events) -> Response:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _local_only(run: data.RunView, verb: str) -> None:
    if run.server is not None:
        raise HTTPException(409, f"orch ui does not {verb} a run on {run.server}: the engine's own controls do"
                            + (f" ({run.engine_url})" if run.engine_url else ""))


def _act(action, *args) -> None:
    try:
        action(*args)
    except actions.Refused as refused:
        raise HTTPException(409, str(refused)) from None


def _int(text: str, name: str, least: int, most: int) -> int:
    if not text.isascii() or not text.isdigit() or not least <= int(text) <= most:
        raise HTTPException(400, f"{name} is a whole number from {least} to {most}, not {text[:40]!r}")
    return int(text)


def _pager(filters: dict, page: int, has_next: bool) -> dict:
    def href(number: int) -> str:
        params = "&".join(f"{k}={quote(v, safe='')}" for k, v in filters.items() if v)
        return "/?" + "&".join(p for p in (params, f"page={number}") if p)

    return {"prev": href(page - 1) if page > 1 else None, "next": href(page + 1) if has_next else None, "page": page}


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": PAGE_POLICY,
                                                          "X-Content-Type-Options": "nosniff",
                                                          "Referrer-Policy": "same-origin"})


async def _error_page(request: Request, error: HTTPException) -> Response:
    if error.status_code == 405 or not request.url.path.startswith("/") or _wants_text(request):
        return PlainTextResponse(str(error.detail), status_code=error.status_code)
    return _page(pages.render("error.html", status=error.status_code, message=str(error.detail)), error.status_code)


async def _internal_page(request: Request, error: Exception) -> Response:
    """The last net: a 500 page naming the error, never a traceback (ORCH_DEBUG=1 prints it to the console)."""
    if os.environ.get("ORCH_DEBUG"):
        import traceback

        traceback.print_exception(error)
    message = f"internal error: {type(error).__name__}; please report it (ORCH_DEBUG=1 prints the traceback)"
    return _page(pages.render("error.html", status=500, message=message), 500)


def _wants_text(request: Request) -> bool:
    path = request.url.path
    return "/log/" in path or path.endswith("/events") or "/files/" in path


def _same_origin(request: Request) -> None:
    """Refuse a stop or resume that another site's page sends (a form posted across origins)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(403, "stop and resume are sent from orch ui's own pages only")


def _back_to(run_id: str) -> Response:
    return RedirectResponse(f"/runs/{quote(run_id, safe='')}", status_code=303)


def _read_from(path: Path, offset: int, limit: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(limit)
    except OSError:
        return b""
