"""An http template as an orch command step making the same request with curl.

Argo hands an http template to its agent: one pod per workflow (`…-agent`, the workflow's service account,
argoexec's `agent` command) that makes every http node's request (workflow/controller/agent.go, http_template.go;
workflow/executor/agent.go, executeHTTPTemplate) with Go's http.DefaultClient (`insecureSkipVerify`: a client
that skips TLS checks): the method as written (Go reads "" as GET), the url, each header added in order (`Host`
sets the request's host; `valueFrom.secretKeyRef` read from the Secret by the agent as it makes the request), the
body (`bodyFrom.bytes` before `body`), the whole exchange bounded by `timeoutSeconds` where given -- no bound
otherwise (the field's doc says 30 s; the code sets none). The node's `outputs.result` is the response's body, as
it came; it is Succeeded when the status is 2xx -- or, with a `successCondition`, when the condition holds
(http_condition.py) -- and Failed otherwise, and Failed too when the request or the condition errors (processTask
makes every error Failed), so a retryStrategy retries it by its policy as a failed pod.

The step runs curl in CURL_IMAGE through `sh -c`: the url, the body and the headers are arguments (so no
quoting can go wrong, whatever a param holds), the body written to the step's stdout (orch's `result`), the
status and headers read back from curl (`-w %{http_code}`, `-D`) for the verdict.
"""

from __future__ import annotations

import base64
import binascii
import re

from . import command as cmd
from . import http_condition as cond
from .common import failing
from .tags import Scope, Unsupported, translate

# The image the step's curl runs in. Argo's agent runs in its executor image (quay.io/argoproj/argoexec), which
# is distroless: no shell, no curl. curlimages/curl is the curl project's own image: Alpine, a few MB, with
# busybox's sh, mktemp, awk, grep, cmp, tail and base64 the script uses. A pipeline pins it once here; a reviewer
# changes the step's `image` to their own.
CURL_IMAGE = "curlimages/curl:8.11.1"

KEYS = ("url", "method", "headers", "body", "bodyFrom", "timeoutSeconds", "successCondition", "insecureSkipVerify")
MAX_REDIRECTS = 9  # Go's defaultCheckRedirect stops at the 10th request: 9 redirects followed
USER_AGENT = "Go-http-client/1.1"  # what Go's client names itself over HTTP/1.1 (net/http: defaultUserAgent)
SECRET_ENV = "ARGO_HTTP_HEADER_{}"  # the env var that holds the k-th header's Secret value
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # what Go's NewRequest takes as a method (validMethod)

# The script's fixed part: the header reader the condition calls (http_condition.py) and the headers' rebuilding
# from (mode, name, value) triples into curl's -H arguments, each in order, as Argo's agent adds them.
_HEADER = r"""header() {  # the first value of header $1 in the last response curl -D wrote, its name in any case
  awk -v want="$1" '{ sub(/\r$/, "") } /^HTTP\// { found = 0; next } found || !index($0, ":") { next }
    tolower(substr($0, 1, index($0, ":") - 1)) == tolower(want) {
      v = substr($0, index($0, ":") + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); found = 1; got = v }
    END { if (!found) exit 1; printf "%s", got }' "$dir/headers"
}
missing() { echo "unable to evaluate the successCondition: the response has no header $1" >&2; exit 1; }"""
_ARGS = r"""n=$(($# / 3)); k=0; nl='
'; cr=$(printf '\r')
while [ $k -lt $n ]; do  # (mode, name, value) -> -H: a value, the Secret's (env var named by value), a Host
  k=$((k + 1)); mode=$1; name=$2; value=$3; shift 3
  [ "$mode" = secret ] && eval "value=\${$value-}"
  case "$value" in *"$nl"*|*"$cr"*)  # Go's client refuses it (no header is smuggled in after it)
    echo "net/http: invalid header field value for \"$name\"" >&2; exit 1 ;; esac
  if [ "$mode" = host ] && [ -z "$value" ]; then continue; fi  # Go's request.Host = "": the url's host
  if [ -n "$value" ]; then set -- "$@" -H "$name: $value"; else set -- "$@" -H "$name;"; fi
done"""


def method_of(body: dict) -> str:
    method = body.get("method")
    return "GET" if method in (None, "") else str(method)


def script(method: str, body_kind: str, compress: bool, quiet: list[str], insecure: bool, timeout: int | None,
           condition: str | None, said: str) -> str:
    """The `sh -c` text: $1 the url, $2 the body (base64 where `body_kind` is "bytes"), then the headers'
    triples. `quiet`: the headers curl adds that Go does not send (Accept, Content-Type, Expect), each removed."""
    lines = ["dir=$(mktemp -d) || exit 1", 'url=$1', _HEADER]
    if body_kind == "bytes":
        lines.append('printf %s "$2" | base64 -d > "$dir/request" || exit 1')
    else:
        lines.append('printf %s "$2" > "$dir/request" || exit 1')
    lines += ["shift 2", _ARGS]
    if method not in ("GET", "HEAD"):  # Go sends a Content-Length (0 too) for any other method
        lines.append('set -- --data-binary "@$dir/request" "$@"')
    elif method == "GET":  # and for a GET with a body
        lines.append('[ -s "$dir/request" ] && set -- --data-binary "@$dir/request" "$@"')
    words = ["curl", "-sS", "--location", "--max-redirs", str(MAX_REDIRECTS), "--referer", "';auto'",
             "--user-agent", cmd.quoted(USER_AGENT)]
    words += ["--head"] if method == "HEAD" else ["--request", cmd.quoted(method)]
    if insecure:
        words.append("--insecure")
    if timeout is not None:
        words += ["--max-time", str(timeout)]
    if compress:  # Go's transport asks for gzip and decodes it, where the template asks for no encoding itself
        words += ["--compressed", "-H", cmd.quoted("Accept-Encoding: gzip")]
    for name in quiet:
        words += ["-H", cmd.quoted(f"{name}:")]
    if method == "HEAD":  # curl --head writes the headers to --output: the body is none
        lines.append(': > "$dir/response"')
        words += ["--dump-header", '"$dir/headers"', "--output", "/dev/null"]
    else:
        words += ["--dump-header", '"$dir/headers"', "--output", '"$dir/response"']
    words += ["--write-out", "'%{http_code}'", '"$@"', "--url", '"$url"']
    lines.append("code=$(" + " ".join(words) + ") || { status=$?; echo \"the request failed (curl exited "
                 "$status)\" >&2; exit 1; }")
    lines.append('cat "$dir/response"  # the result; orch drops one trailing newline, so one is added back')
    lines.append('[ -s "$dir/response" ] && [ -z "$(tail -c 1 "$dir/response")" ] && echo')
    if condition is None:
        lines.append('[ "$code" -ge 200 ] && [ "$code" -lt 300 ] && exit 0')
        lines.append('echo "received non-2xx response code: $code" >&2')
    else:
        lines.append(f"if {condition}; then exit 0; fi")
        lines.append(f"echo {cmd.quoted(said)} >&2")
    lines.append("exit 1")
    return "\n".join(lines)


class Https:
    """The part of the conversion that makes one step of an http template (mixed into convert.Workflow)."""

    def _http(self, path: tuple, template: dict, scope: Scope, plan, step: dict) -> None:
        """The http template's request into `plan.argv`, its image and Secret env into `step`."""
        led = self.ledger
        where = (*path, "http")
        body = template.get("http") or {}
        try:
            argv, env, notes = self._http_argv(where, body, scope)
        except Unsupported as err:
            led.unsupported(where, str(err))
            plan.argv = failing(str(err))["command"]
            return
        plan.argv = argv
        step["image"] = CURL_IMAGE
        if env:
            step["env"] = {**step.get("env", {}), **env}
        said = [f"curl makes the request in {CURL_IMAGE}, in the step's own pod (outside Kubernetes: curl taken from "
                "the machine), where Argo's agent pod makes it for every http node of the workflow: the step's pod's "
                "network, DNS, proxy variables and TLS roots (the image's CA bundle, where the agent has its own and "
                "any argo-workflows-agent-ca-certificates Secret) decide what it reaches",
                f"curl sends what Go's client sends -- User-Agent {USER_AGENT} (Go over HTTP/2 says 2.0), no Accept, "
                "Accept-Encoding gzip decoded where the template asks for no encoding, Range or HEAD (curl asks with "
                "--compressed), a Content-Length for a body and for any method but GET and HEAD, no Content-Type nor "
                "Expect of its own -- and follows redirects as Go's client does (at most 9, a Referer set), except "
                "that on a 301, 302 or 303 it keeps the method (without the body) where Go turns any but GET and "
                "HEAD into a GET, and that it sends the template's Authorization and Cookie headers to the first "
                "host only, where Go sends them to its subdomains too",
                "the body is the step's stdout, orch's result: where a step reads it, a body over 256 KiB or not "
                "UTF-8 fails the orch step, and a step that failed (its condition false) has no result, where Argo "
                "keeps the body whole as outputs.result either way", *notes]
        led.approximated(where, "; ".join(said), "command")

    def _http_argv(self, where: tuple, body: dict, scope: Scope) -> tuple[list[str], dict, list[str]]:
        """(the step's argv, its Secret env, what else differs); every field's entry written."""
        led = self.ledger
        notes: list[str] = []
        for key in body:
            if key not in KEYS:
                led.unsupported((*where, key), f"an http template's {key!r} has no orch form")
        if not str(body.get("url") or ""):
            raise Unsupported("no url: Argo's agent fails the request")
        url = translate(str(body["url"]), scope)
        led.mapped((*where, "url"), "command", "curl's --url, its tags filled in")
        method = method_of(body)
        if "${{" in translate(method, scope) or not _TOKEN.match(method):
            raise Unsupported(f"method {method!r}: the importer reads a literal method (an HTTP token)")
        if "method" in body:
            led.mapped((*where, "method"), "command", f"curl --request {method}" if method != "HEAD" else "curl --head")
        given, env, triples = self._http_headers(where, body, scope)
        if "bodyFrom" in body:
            raw = (body.get("bodyFrom") or {}).get("bytes")
            if raw is None:
                raise Unsupported("bodyFrom without bytes: Argo's agent makes no request (it has none to send)")
            try:
                base64.b64decode(str(raw), validate=True)
            except (binascii.Error, ValueError):
                raise Unsupported("bodyFrom.bytes is not base64, as a []byte is written in JSON and YAML") from None
            data, kind = str(raw), "bytes"
            led.mapped((*where, "bodyFrom"), "command", "decoded (base64) and sent as the body, before any `body`, "
                                                        "as Argo's agent sends it")
            if "body" in body:
                led.mapped((*where, "body"), note="not sent: bodyFrom is, as in Argo")
        else:
            data, kind = translate(str(body.get("body") or ""), scope), "text"
            if "body" in body:
                led.mapped((*where, "body"), "command", "sent as written (curl --data-binary), its tags filled in")
        if method == "HEAD" and data:
            raise Unsupported("a HEAD request with a body: curl's --head sends none")
        timeout = None
        if "timeoutSeconds" in body:
            value = body["timeoutSeconds"]
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise Unsupported(f"timeoutSeconds {value!r}: the importer reads a positive integer")
            timeout = value
            led.mapped((*where, "timeoutSeconds"), "command", "curl --max-time: the whole exchange, body read, as "
                                                              "Argo's agent bounds it")
        insecure = bool(body.get("insecureSkipVerify"))
        if "insecureSkipVerify" in body:
            led.mapped((*where, "insecureSkipVerify"), "command", "curl --insecure" if insecure else "TLS checked, "
                                                                                                  "as in Argo")
        lower = {name.lower() for name in given}
        compress = "accept-encoding" not in lower and "range" not in lower and method != "HEAD"
        quiet = [n for n in ("Accept", "Content-Type", "Expect") if n.lower() not in lower]
        condition, said = None, ""
        if body.get("successCondition"):
            text = translate(str(body["successCondition"]), scope)
            if "${{" in text:
                raise Unsupported("the successCondition comes from a param or an output: the importer reads it as "
                                  "written")
            tree = cond.parse(text)
            read = cond.headers(tree)
            if compress and any(cond.canonical(n) in cond.DROPPED for n in read):
                raise Unsupported("the successCondition reads Content-Encoding or Content-Length, which Go's "
                                  "transport removes from a gzip response it decoded and curl keeps")
            condition, said = cond.to_sh(tree), f"successCondition '{body['successCondition']}' evaluated false"
            note = "read as Argo's agent reads it (expr-lang over the response), in the script: the status, the body"
            if read:
                led.approximated((*where, "successCondition"), note + ", and each header's first value in the last "
                                 "response curl wrote, its name matched as Go's canonical key, its value trimmed: "
                                 "an obsolete folded header line (one starting with a space) is read as a header of "
                                 "its own where Go joins it to the one before", "command")
            else:
                led.mapped((*where, "successCondition"), "command", note)
        elif "successCondition" in body:
            led.mapped((*where, "successCondition"), "command", "empty: a 2xx status succeeds, as in Argo")
        text = script(method, kind, compress, quiet, insecure, timeout, condition, said)
        return ["sh", "-c", text, "argo", url, data, *triples], env, notes

    def _http_headers(self, where: tuple, body: dict, scope: Scope) -> tuple[list[str], dict, list[str]]:
        """(the header names given, the Secret env, the script's (mode, name, value) triples)."""
        led = self.ledger
        names, env, triples = [], {}, []
        for i, header in enumerate(body.get("headers") or []):
            at = (*where, "headers", i)
            name = str((header or {}).get("name") or "")
            if not _TOKEN.match(name):
                led.unsupported(at, f"the header name {name!r} is not an HTTP token written literally: Go's "
                                    "transport refuses the request")
                continue
            names.append(name)
            host = "host" if name.lower() == "host" else "value"
            source = header.get("valueFrom")
            ref = (source or {}).get("secretKeyRef") if isinstance(source, dict) else None
            if source is not None:
                if not isinstance(ref, dict) or set(source) != {"secretKeyRef"} or not ref.get("name") \
                        or not ref.get("key"):
                    led.unsupported(at, "a header's valueFrom: only secretKeyRef (name and key) has an orch form")
                    continue
                var = SECRET_ENV.format(len(triples) // 3 + 1)
                env[var] = {"secret": str(ref["name"]), "key": str(ref["key"])}
                triples += ["secret", name, var]  # a Host among them: the header, which curl takes as the host
                led.approximated(at, "the Secret's key is the step's env var " + var + " (orch's {secret, key}), "
                                 "which Kubernetes reads as the pod starts -- the step's service account, not the "
                                 "agent's, needs no access to it, and a missing Secret keeps the pod from starting "
                                 "where Argo's agent fails the node", "env." + var)
                continue
            value = translate(str(header.get("value") or ""), scope)
            triples += [host, name, value]
            host_note = "; a Host header sets the request's host, as Go's request.Host does" if host == "host" else ""
            led.mapped(at, "command", "sent in order (curl -H), as Argo's agent adds it" + host_note)
        return names, env, triples

    def _http_outputs(self, path: tuple, template: dict) -> dict:
        """Argo's agent saves the body as outputs.result and nothing else: declared outputs have no value."""
        for key in template.get("outputs") or {}:
            self.ledger.unsupported((*path, "outputs", key), f"outputs.{key} of an http template: Argo's agent sets "
                                                             "only outputs.result (the response's body)")
        return {}
