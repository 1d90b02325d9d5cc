"""`orch ui`'s web app: starlette routes over the local backend's records (the page contract: docs/ui.md).

Every request opens the records afresh (SQLite in WAL mode: reading never blocks a run writing them).
Bad input is a 400 or 404 page, never a traceback; stop and resume are POSTs from this app's own pages
(a request from another site is refused), and the app answers only the host names it was bound to.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
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

from orch.backends.local.lock import holder_pid, is_held
from orch.backends.local.state import Store
from orch.core.errors import shorten

from . import data, pages
from .artifacts import content_type, inside, run_folder

POLL_SECONDS = 0.3
PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'")
FILE_POLICY = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"  # a served file runs nothing
ENDED = frozenset({"succeeded", "failed", "interrupted"})


def create_app(home: Optional[Path] = None, allowed_hosts: Optional[list[str]] = None) -> Starlette:
    """The app over the records in `home` ($ORCH_HOME or .orch); `allowed_hosts`: the Host headers it answers
    (None: any, for a test client)."""
    home = Path(home) if home else None

    def store() -> Store:
        return Store(home)

    async def runs(request: Request) -> Response:
        query = request.query_params
        page = _int(query.get("page") or "1", "page", 1, data.MAX_PAGE)
        status = query.get("status") or ""
        if status and status not in data.STATUSES:
            raise HTTPException(400, f"status is one of {', '.join(data.STATUSES)}, not {status!r}")
        filters = {"pipeline": query.get("pipeline") or "", "status": status, "backend": query.get("backend") or ""}
        records = store()
        try:
            found = data.runs_page(records, page=page, **filters)
        finally:
            records.close()
        return _page(pages.render("runs.html", found=found, filters=filters, statuses=data.STATUSES,
                                  pager=_pager(filters, page, found.has_next)))

    async def run_page(request: Request) -> Response:
        run = _run(store, request)
        run_id = quote(run.run_id, safe="")
        context = pages.run_context(run, lambda step: f"/runs/{run_id}/steps/{quote(step, safe='')}")
        return _page(pages.render("run.html", report=False, **context))

    async def step_page(request: Request) -> Response:
        run = _run(store, request)
        query = request.query_params
        attempt = _int(query["attempt"], "attempt", 1, 1 << 31) if query.get("attempt") else None
        item = query.get("item") or None
        context = pages.step_context(run, request.path_params["step"], attempt, item)
        if context is None:
            raise HTTPException(404, f"run {run.run_id} has no such step or attempt")
        return _page(pages.render("step.html", **context))

    async def events(request: Request) -> Response:
        run = _run(store, request, with_graph=False)
        names = list(run.steps)

        async def stream():
            records, last, quiet = store(), None, 0
            try:
                while True:
                    state = data.live_state(records, run.run_id, names)
                    if state is None:
                        return
                    if state != last:
                        last, quiet = state, 0
                        yield f"event: state\ndata: {json.dumps(state)}\n\n"
                    elif quiet * POLL_SECONDS >= 10:
                        quiet = 0
                        yield ": still here\n\n"  # a comment keeps proxies and the browser from closing the stream
                    if state["run"] in ENDED:
                        return
                    quiet += 1
                    await asyncio.sleep(POLL_SECONDS)
            finally:
                records.close()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def log(request: Request) -> Response:
        run = _run(store, request, with_graph=False)
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

    async def files(request: Request) -> Response:
        run = _run(store, request, with_graph=False)
        path = inside(run_folder(run.artifact_store, run.pipeline, run.run_id), request.path_params["path"])
        if path is None:
            raise HTTPException(404, "no such file in this run's artifacts")
        with open(path, "rb") as handle:
            kind = content_type(handle.read(64 << 10))
        disposition = "inline" if kind.startswith(("image/", "text/")) else "attachment"
        return FileResponse(path, media_type=kind, content_disposition_type=disposition, filename=path.name,
                            headers={"Content-Security-Policy": FILE_POLICY, "X-Content-Type-Options": "nosniff"})

    async def stop(request: Request) -> Response:
        _same_origin(request)
        run = _run(store, request, with_graph=False)
        pid = holder_pid(run.run_dir) if run.status == "running" and is_held(run.run_dir) else None
        if pid is None or pid == os.getpid():
            raise HTTPException(409, f"run {run.run_id} is not running here (it is {run.status}); nothing to stop")
        try:
            os.kill(pid, signal.SIGINT)  # as Ctrl-C: attempts stopped, the run interrupted and resumable
        except ProcessLookupError:
            raise HTTPException(409, f"run {run.run_id} ended meanwhile") from None
        return _back_to(run.run_id)

    async def resume(request: Request) -> Response:
        _same_origin(request)
        records = store()
        try:
            run = _run_from(records, request, with_graph=False)
            home_dir = records.home.resolve()
        finally:
            records.close()
        if run.status not in ("interrupted", "failed") or run.backend != "local":
            raise HTTPException(409, f"run {run.run_id} is {run.status}: only an interrupted or failed run resumes")
        spec = _spec_file(run.spec_path, home_dir)
        if spec is None:
            raise HTTPException(409, f"the spec of run {run.run_id} ({run.spec_path or 'not recorded'}) is not found "
                                f"from here; resume it with: orch run SPEC --resume {run.run_id}")
        _spawn_resume(run, spec, home_dir)
        return _back_to(run.run_id)

    routes = [
        Route("/", runs),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/steps/{step}", step_page),
        Route("/runs/{run_id}/events", events),
        Route("/runs/{run_id}/log/{step}", log),
        Route("/runs/{run_id}/files/{path:path}", files),
        Route("/runs/{run_id}/stop", stop, methods=["POST"]),
        Route("/runs/{run_id}/resume", resume, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=pages.HERE / "static"), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={HTTPException: _error_page, Exception: _internal_page})


def _run(store, request: Request, with_graph: bool = True) -> data.RunView:
    records = store()
    try:
        return _run_from(records, request, with_graph)
    finally:
        records.close()


def _run_from(records: Store, request: Request, with_graph: bool = True) -> data.RunView:
    run_id = request.path_params["run_id"]
    run = data.read_run(records, run_id, with_graph)
    if run is None:
        raise HTTPException(404, f"no run {shorten(repr(run_id))} in {records.home}")
    return run


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


def _spec_file(spec_path: Optional[str], home: Path) -> Optional[Path]:
    """The recorded spec's file, from here or from the folder holding the records (a run started where its
    .orch is); None when neither has it (a module:NAME spec is given as recorded)."""
    if not spec_path:
        return None
    file_part = spec_path.split(":", 1)[0] if ":" in spec_path and not Path(spec_path).exists() else spec_path
    for base in (Path.cwd(), home.parent):
        candidate = base / file_part
        if candidate.is_file():
            return base
    if ":" in spec_path and not file_part.endswith((".py", ".yaml", ".yml", ".json")):
        return Path.cwd()  # module:NAME, found on the import path
    return None


def _spawn_resume(run: data.RunView, base: Path, home: Path) -> None:
    """`orch run SPEC --resume ID`, detached (its own session: it outlives the UI), its output in the run's folder."""
    out = open(run.run_dir / "resume.log", "ab")
    try:
        process = subprocess.Popen([sys.executable, "-m", "orch.cli.main", "run", run.spec_path, "--resume", run.run_id],
                         cwd=base, env={**os.environ, "ORCH_HOME": str(home)}, stdin=subprocess.DEVNULL, stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()
    threading.Thread(target=process.wait, daemon=True).start()  # reaped when it ends, while the UI runs
