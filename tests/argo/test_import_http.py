"""`orch import argo` of http templates: the successCondition read as expr-lang over the response is, run by sh,
the verdict Argo's agent gives (a missing header fails, as expr-lang's error does; `&&`/`||` stop where expr-lang
stops); the step's script run against a stand-in curl under sh and busybox (the applets curlimages/curl runs it
with) passes the request as Argo's agent makes it and writes the body as the result; with the real curl against a
local server, the request on the wire is what Go's client sends."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from orch.backends.argo.importer import import_
from orch.backends.argo.importer import http_condition as cond
from orch.backends.argo.importer.http import CURL_IMAGE
from orch.backends.argo.importer.tags import Unsupported
from orch.core.fidelity import APPROXIMATED, MAPPED, UNSUPPORTED
from orch.core.load import parse_spec

CASES = Path(__file__).parent / "import_cases"
SHELLS = ["sh", "busybox"]
APPLETS = ("sh", "awk", "grep", "cmp", "tail", "mktemp", "cat", "printf", "base64", "cp", "echo")

RESPONSE = ("HTTP/1.1 301 Moved\r\nLocation: /b\r\nServer: first\r\n\r\n"
            "HTTP/2 200\r\nserver:  cloudflare \r\nx-list: a\r\nX-List: b\r\nContent-Type: text/plain\r\n\r\n")


def _bin(tmp_path: Path, shell: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if shell == "busybox":
        for applet in APPLETS:
            if not (bin_dir / applet).exists():
                (bin_dir / applet).symlink_to(shutil.which("busybox"))
    return bin_dir


def _verdict(tmp_path: Path, text: str, code: int, body: str, shell: str = "sh") -> tuple[int, str]:
    """The condition's sh text run with the script's header reader over a response: (status, stderr)."""
    (tmp_path / "response").write_text(body)
    (tmp_path / "headers").write_text(RESPONSE)
    from orch.backends.argo.importer.http import _HEADER
    program = f'dir={tmp_path}; code={code}\n{_HEADER}\nif {cond.to_sh(cond.parse(text))}; then exit 0; fi\nexit 3'
    env = {**os.environ, "PATH": f"{_bin(tmp_path, shell)}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", "-c", program], env=env, capture_output=True, text=True, timeout=30)
    return done.returncode, done.stderr


TRUE, FALSE, ERROR = 0, 3, 1  # exit 0, the condition false, the script ended as expr-lang errors


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("text, code, body, verdict", [
    ("response.statusCode == 201", 201, "", TRUE),
    ("response.statusCode == 201", 200, "", FALSE),
    ("response.statusCode >= 200 && response.statusCode < 300", 204, "", TRUE),
    ("response.statusCode > 399 || response.statusCode <= 100", 404, "", TRUE),
    ("response.statusCode != 500 and not (response.statusCode in [200, 204])", 204, "", FALSE),
    ("response.statusCode in [200, 201]", 201, "", TRUE),
    ('response.body contains "google"', 200, "<html>www.google.com</html>", TRUE),
    ('response.body contains "Google"', 200, "<html>www.google.com</html>", FALSE),  # case counts
    ('response.body contains ""', 200, "", TRUE),
    ('response.body contains "a.b"', 200, "axb", FALSE),  # a fixed string, not a pattern
    ('response.body == "ok\\n"', 200, "ok\n", TRUE),  # the whole body, its newline too
    ('response.body == "ok"', 200, "ok\n", FALSE),
    ('response.body != "ok"', 200, "ok\n", TRUE),
    ('response.headers["Server"][0] == "cloudflare"', 200, "", TRUE),  # the last response's, trimmed, any case
    ("response.headers['X-List'][0] == 'a'", 200, "", TRUE),  # the first value
    ('response.headers.Server[0] != "first"', 200, "", TRUE),
    ('response.headers["Content-Type"][0] contains "text/"', 200, "", TRUE),
    ('response.headers["Location"][0] == "/b"', 200, "", ERROR),  # an earlier response's only: missing
    ('response.headers["server"][0] == "cloudflare"', 200, "", ERROR),  # not Go's canonical key: never found
    ('!(response.headers["Missing"][0] == "x")', 200, "", ERROR),  # the error is no false: ! does not turn it
    ('response.statusCode == 200 || response.headers["Missing"][0] == "x"', 200, "", TRUE),  # never read
    ('response.statusCode == 201 || response.headers["Missing"][0] == "x"', 200, "", ERROR),
    ('response.statusCode == 201 && response.headers["Missing"][0] == "x"', 200, "", FALSE),  # never read
    ("(response.statusCode == 1 || response.statusCode == 200) && response.body contains 'x'", 200, "x", TRUE),
])
def test_the_condition_gives_the_verdict_of_argos_agent(tmp_path, shell, text, code, body, verdict):
    status, stderr = _verdict(tmp_path, text, code, body, shell)
    assert status == verdict, stderr
    if verdict == ERROR:
        assert "unable to evaluate the successCondition" in stderr


@pytest.mark.parametrize("text, why", [
    ('response.body matches "^ok"', "only contains"),
    ("!response.statusCode == 200", "binds tighter"),
    ('response.statusCode == "200"', "integer literal"),
    ("response.statusCode == 200.0", "integer literal"),
    ('request.method == "GET"', "not request"),
    ('response.headers["Server"][1] == "x"', "first value"),
    ('response.headers["Server"] == "x"', "expected ["),
    ('response.body contains "a\\nb"', "newline"),
    ("response.body startsWith 'x'", "only contains"),
    ("len(response.body) > 0", "only response"),
    ('response.body contains "\\u00e9"', "escape"),
    ("response.statusCode == 200 extra", "unexpected"),
])
def test_other_conditions_are_unsupported_with_their_reason(text, why):
    with pytest.raises(Unsupported, match="successCondition") as err:
        cond.parse(text)
    assert why in str(err.value)


def test_a_header_name_is_canonical_as_go_writes_it():
    assert cond.canonical("content-TYPE") == "Content-Type"
    assert cond.canonical("x-b3-traceid") == "X-B3-Traceid"
    assert cond.canonical("WWW-Authenticate") == "Www-Authenticate"


FAKE_CURL = r"""#!/bin/sh
# records its arguments, one a line; writes $HEADERS_TEXT where -D says, $BODY_FILE where --output says, the
# request body it was given to $SEEN, prints $CODE as -w would; exits $EXIT
printf '%s\n' "$@" > "$CALLS"
while [ $# -gt 0 ]; do
  case $1 in
    --dump-header) headers=$2; shift ;;
    --output) output=$2; shift ;;
    --data-binary) cp "${2#@}" "$SEEN"; shift ;;
  esac
  shift
done
printf '%s' "$HEADERS_TEXT" > "$headers"
cp "$BODY_FILE" "$output"
printf %s "$CODE"
exit "${EXIT:-0}"
"""


def _imported(tmp_path: Path, http: dict, **template) -> tuple:
    manifest = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "h-"},
                "spec": {"entrypoint": "h", "templates": [{"name": "h", "http": http, **template}]}}
    case = tmp_path / "case.yaml"
    case.write_text(yaml.safe_dump(manifest))
    [imported] = import_(case)
    parse_spec(imported.text)
    [step] = yaml.safe_load(imported.text)["steps"].values()
    return imported, step


def _run(tmp_path: Path, step: dict, shell: str = "sh", code: int = 200, body: str = "hello\n", exit: int = 0,
         env: dict | None = None):
    bin_dir = _bin(tmp_path, shell)
    (bin_dir / "curl").write_text(FAKE_CURL)
    (bin_dir / "curl").chmod(0o755)
    (tmp_path / "body").write_text(body)
    run_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls"),
               "SEEN": str(tmp_path / "seen"), "BODY_FILE": str(tmp_path / "body"), "CODE": str(code),
               "EXIT": str(exit), "HEADERS_TEXT": RESPONSE, **(env or {})}
    done = subprocess.run(step["command"], env=run_env, capture_output=True, text=True, timeout=60)
    calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    seen = (tmp_path / "seen").read_text() if (tmp_path / "seen").exists() else None
    return done, calls, seen


def _headers(calls: list[str]) -> list[str]:
    return [calls[i + 1] for i, a in enumerate(calls) if a == "-H"]


@pytest.mark.parametrize("shell", SHELLS)
def test_the_step_makes_the_request_of_argos_agent_and_writes_the_body_as_its_result(tmp_path, shell):
    _, step = _imported(tmp_path, {
        "url": "https://example.com/a?b=c d", "method": "POST", "timeoutSeconds": 7, "body": "it's $HOME `x`",
        "headers": [{"name": "X-One", "value": "1"}, {"name": "X-Empty", "value": ""},
                    {"name": "Authorization", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "k"}}},
                    {"name": "X-One", "value": "2"}]})
    assert step["image"] == CURL_IMAGE
    assert step["env"] == {"ARGO_HTTP_HEADER_3": {"secret": "tok", "key": "k"}}
    done, calls, seen = _run(tmp_path, step, shell, env={"ARGO_HTTP_HEADER_3": "Bearer s3cret"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n\n"  # orch drops one trailing newline: the result is the body as it came
    assert seen == "it's $HOME `x`"  # the body as written, no shell reading it
    assert calls[calls.index("--url") + 1] == "https://example.com/a?b=c d"
    assert calls[calls.index("--request") + 1] == "POST"
    assert calls[calls.index("--max-time") + 1] == "7"
    assert calls[calls.index("--max-redirs") + 1] == "9"
    assert "--insecure" not in calls and "--compressed" in calls
    assert _headers(calls) == ["Accept-Encoding: gzip", "Accept:", "Content-Type:", "Expect:", "X-One: 1",
                               "X-Empty;", "Authorization: Bearer s3cret", "X-One: 2"]  # in order; curl's own off


@pytest.mark.parametrize("shell", SHELLS)
def test_a_non_2xx_status_fails_the_step_and_a_failed_request_too(tmp_path, shell):
    _, step = _imported(tmp_path, {"url": "http://x"})
    done, calls, seen = _run(tmp_path, step, shell, code=404, body="nope")
    assert done.returncode == 1 and "received non-2xx response code: 404" in done.stderr
    assert done.stdout == "nope" and seen is None  # a GET without a body sends none
    assert calls[calls.index("--request") + 1] == "GET"
    done, _, _ = _run(tmp_path, step, shell, code=0, exit=28)
    assert done.returncode == 1 and "the request failed (curl exited 28)" in done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_a_condition_decides_and_bytes_are_sent_decoded(tmp_path, shell):
    _, step = _imported(tmp_path, {"url": "http://x", "method": "PUT", "insecureSkipVerify": True,
                                   "bodyFrom": {"bytes": "aGk="}, "body": "ignored",
                                   "successCondition": 'response.headers["Server"][0] == "cloudflare"'})
    done, calls, seen = _run(tmp_path, step, shell, code=500)
    assert done.returncode == 0, done.stderr  # the condition replaces the 2xx rule
    assert seen == "hi" and "--insecure" in calls
    _, step = _imported(tmp_path, {"url": "http://x", "successCondition": "response.statusCode == 201"})
    done, _, _ = _run(tmp_path, step, shell, code=200)
    assert done.returncode == 1 and "successCondition 'response.statusCode == 201' evaluated false" in done.stderr


def test_the_templates_own_accept_encoding_turns_off_decoding_and_its_headers_are_not_removed(tmp_path):
    _, step = _imported(tmp_path, {"url": "http://x", "method": "DELETE",
                                   "headers": [{"name": "accept-encoding", "value": "br"},
                                               {"name": "Content-Type", "value": "a/b"}]})
    done, calls, seen = _run(tmp_path, step)
    assert done.returncode == 0, done.stderr
    assert "--compressed" not in calls and seen == ""  # a DELETE sends its Content-Length: 0, as Go does
    assert _headers(calls) == ["Accept:", "Expect:", "accept-encoding: br", "Content-Type: a/b"]


@pytest.mark.parametrize("http, why", [
    ({"method": "GET"}, "no url"),
    ({"url": "http://x", "method": "GE T"}, "literal method"),
    ({"url": "http://x", "bodyFrom": {}}, "bodyFrom without bytes"),
    ({"url": "http://x", "bodyFrom": {"bytes": "!!"}}, "not base64"),
    ({"url": "http://x", "timeoutSeconds": 0}, "positive integer"),
    ({"url": "http://x", "method": "HEAD", "body": "x"}, "HEAD request with a body"),
    ({"url": "http://x", "successCondition": 'response.headers["Content-Encoding"][0] == "gzip"'}, "removes"),
    ({"url": "http://x", "successCondition": "response.body matches 'x'"}, "only contains"),
])
def test_what_has_no_exact_reading_is_unsupported(tmp_path, http, why):
    imported, _ = _imported(tmp_path, http)
    [entry] = [e for e in imported.report.entries if e.status == UNSUPPORTED]
    assert entry.path == "spec.templates[0].http" and why in entry.note


def test_declared_outputs_and_a_header_valuefrom_other_than_a_secret_are_unsupported(tmp_path):
    imported, _ = _imported(tmp_path, {"url": "http://x", "headers": [
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]},
        outputs={"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/p"}}]})
    assert [e.path for e in imported.report.entries if e.status == UNSUPPORTED] == [
        "spec.templates[0].http.headers[0]", "spec.templates[0].outputs.parameters"]


def test_pod_settings_are_not_kept_and_a_pod_deadline_is_no_timeout(tmp_path):
    imported, step = _imported(tmp_path, {"url": "http://x"}, nodeSelector={"a": "b"}, activeDeadlineSeconds=5)
    entries = {e.path: e for e in imported.report.entries}
    assert entries["spec.templates[0].nodeSelector"].status == APPROXIMATED and "agent pod" in \
        entries["spec.templates[0].nodeSelector"].note
    assert entries["spec.templates[0].activeDeadlineSeconds"].status == MAPPED
    assert "kubernetes" not in step and "timeout" not in step


def test_the_case_maps_each_field_and_says_what_differs():
    [imported] = import_(CASES / "http.yaml")
    entries = {e.path: e for e in imported.report.entries}
    for i in (1, 2, 4):
        entry = entries[f"spec.templates[{i}].http"]
        assert entry.status == APPROXIMATED and "Argo's agent pod makes it" in entry.note
    assert entries["spec.templates[1].http.headers[1]"].status == APPROXIMATED
    assert entries["spec.templates[1].http.successCondition"].status == APPROXIMATED  # it reads a header
    assert entries["spec.templates[2].http.successCondition"].status == MAPPED
    assert entries["spec.templates[1].http.timeoutSeconds"].status == MAPPED
    spec = yaml.safe_load(imported.text)
    assert spec["steps"]["fetch"]["outputs"] == {"result": {"type": "string", "from": "stdout"}}
    assert spec["steps"]["show"]["command"] == ["echo", "${{ steps.fetch.outputs.result }}"]
    assert spec["steps"]["upload"]["retries"]["limit"] == 2


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers with the request it got, as JSON: its method, path, headers in order and body."""

    def _any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/moved":
            self.send_response(307)
            self.send_header("Location", "/echo")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        out = json.dumps({"method": self.command, "path": self.path, "headers": self.headers.items(),
                          "body": body.decode()}).encode()
        self.send_response(201)
        self.send_header("X-Served-By", "echo")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = _any

    def log_message(self, *args):
        pass


def test_with_the_real_curl_the_wire_request_is_what_gos_client_sends(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        _, step = _imported(tmp_path, {"url": f"http://127.0.0.1:{port}/moved", "method": "POST", "body": "{}",
                                       "timeoutSeconds": 10, "headers": [{"name": "X-A", "value": "1"}],
                                       "successCondition": 'response.statusCode == 201 && '
                                                           'response.headers["X-Served-By"][0] == "echo"'})
        done = subprocess.run(step["command"], capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/echo", "{}")  # a 307 keeps both, as in Go
    headers = dict(seen["headers"])
    assert headers["User-Agent"] == "Go-http-client/1.1" and headers["Content-Length"] == "2"
    assert headers["X-A"] == "1" and headers["Accept-Encoding"] == "gzip"
    assert "Accept" not in headers and "Content-Type" not in headers and "Expect" not in headers


def test_an_imported_spec_runs_on_the_local_backend_and_the_next_step_reads_the_body(tmp_path):
    """Real processes: the http step's body is its result, which the next task reads as Argo's would; a body
    that fails the condition fails the step and its reader never starts."""
    from orch.backends.local.run import run

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen = tmp_path / "seen"
    try:
        port = server.server_address[1]
        for want, status in (("PUT", "succeeded"), ("GET", "failed")):
            manifest = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "h"},
                        "spec": {"entrypoint": "main", "templates": [
                            {"name": "main", "dag": {"tasks": [
                                {"name": "call", "template": "call"},
                                {"name": "keep", "template": "keep", "dependencies": ["call"], "arguments": {
                                    "parameters": [{"name": "b", "value": "{{tasks.call.outputs.result}}"}]}}]}},
                            {"name": "call", "http": {"url": f"http://127.0.0.1:{port}/thing", "method": "PUT",
                                                      "body": "payload",
                                                      "successCondition": f'response.body contains "{want}"'}},
                            {"name": "keep", "inputs": {"parameters": [{"name": "b"}]},
                             "script": {"image": "alpine:3.23", "command": ["sh"],
                                        "source": f"printf %s '{{{{inputs.parameters.b}}}}' > {seen}"}}]}}
            (tmp_path / "wf.yaml").write_text(yaml.safe_dump(manifest))
            [imported] = import_(tmp_path / "wf.yaml")
            assert not [e for e in imported.report.entries if e.status == UNSUPPORTED]
            assert imported.report.behaviour.checked
            (tmp_path / "spec.yaml").write_text(imported.text)
            result = run(parse_spec(imported.text), {}, spec_path=str(tmp_path / "spec.yaml"), home=tmp_path / ".orch")
            assert result.steps["call"].status == status
            if status == "succeeded":
                body = json.loads(seen.read_text())
                assert (body["method"], body["body"]) == ("PUT", "payload")
                seen.unlink()
            else:
                assert result.steps["keep"].status == "upstream_failed" and not seen.exists()
    finally:
        server.shutdown()


@pytest.mark.parametrize("shell", SHELLS)
def test_a_header_value_holding_a_line_break_fails_the_step_and_smuggles_no_header(tmp_path, shell):
    """Go's client refuses such a value (the Argo node fails); curl would send the second line as a header."""
    _, step = _imported(tmp_path, {"url": "http://x", "headers": [
        {"name": "X-Tok", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "k"}}}]})
    for value in ("abc\nInjected: yes", "abc\r\nInjected: yes"):
        done, calls, _ = _run(tmp_path, step, shell, env={name: value for name in step["env"]})
        assert done.returncode == 1 and 'invalid header field value for "X-Tok"' in done.stderr
        assert calls == []  # curl never ran
