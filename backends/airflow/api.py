"""A small client of Airflow's REST API v2 (stdlib urllib only), for `orch deploy` and `orch run --server`.

The server: `--server URL`, else $AIRFLOW_API_URL. Auth as Airflow does it: a JWT sent as a bearer
token -- $AIRFLOW_CLI_TOKEN (the variable airflowctl reads), else one exchanged at POST /auth/token for
$AIRFLOW_USERNAME / $AIRFLOW_PASSWORD (orch's names: airflowctl takes these as flags only), else none
(an auth manager that lets everyone in). A token or a password never appears in a message: errors name
the URL only, without any user:password@ part.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterator, Mapping, Optional

from orch.core.errors import BackendUnavailable

URL_VAR, TOKEN_VAR, USER_VAR, PASSWORD_VAR = "AIRFLOW_API_URL", "AIRFLOW_CLI_TOKEN", "AIRFLOW_USERNAME", "AIRFLOW_PASSWORD"
PAGE = 100  # [api] maximum_page_limit's default: a longer page is cut to it


class ApiError(BackendUnavailable):
    """The server answered, but not with what was asked (404, 400, 409): the caller says what it means; one no
    caller expects is exit 3, as a server that does not answer as Airflow's would."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"the Airflow API answered HTTP {status}: {detail[:300]}")
        self.status, self.detail = status, detail


class Client:
    """One Airflow API server; the token is fetched on first use and again once if the server refuses it."""

    def __init__(self, url: str, *, token: Optional[str] = None, username: Optional[str] = None,
                 password: Optional[str] = None, timeout: float = 30.0):
        self.url = base_url(url)
        self._token, self._login = token, (username, password) if username and password else None
        self.timeout = timeout

    @classmethod
    def from_env(cls, server: Optional[str], environ: Mapping[str, str] = os.environ) -> "Client":
        url = server or environ.get(URL_VAR)
        if not url:
            raise BackendUnavailable(f"no Airflow server named: give --server URL or set {URL_VAR} "
                                     f"(with {TOKEN_VAR}, or {USER_VAR} and {PASSWORD_VAR})")
        return cls(url, token=environ.get(TOKEN_VAR) or None, username=environ.get(USER_VAR),
                   password=environ.get(PASSWORD_VAR))

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def request(self, method: str, path: str, body: Any = None, query: Optional[Mapping[str, Any]] = None,
                auth: bool = True) -> Any:
        """The decoded JSON answer (None for an empty one). Unreachable, refused auth, a server error:
        BackendUnavailable naming the URL; another 4xx: ApiError."""
        for again in (True, False):
            try:
                return self._send(method, path, body, query, auth)
            except ApiError as err:
                if again and err.status == 401 and auth and self._login and self._token:  # expired: log in again
                    self._token = None
                    continue
                if err.status in (401, 403) or err.status >= 500:
                    raise _unavailable(self.url, err) from None
                raise

    def pages(self, path: str, key: str, **query: Any) -> Iterator[dict]:
        """Every entry of a listing, a page at a time."""
        offset = 0
        while True:
            answer = self.get(path, **query, limit=PAGE, offset=offset)
            entries = answer[key]
            yield from entries
            offset += len(entries)
            if not entries or offset >= answer.get("total_entries", 0):
                return

    def _send(self, method: str, path: str, body: Any, query: Optional[Mapping[str, Any]], auth: bool) -> Any:
        target = self.url + path + (("?" + urllib.parse.urlencode(
            {k: v for k, v in query.items() if v is not None}, doseq=True)) if query else "")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        if auth and (token := self.token()):
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(target, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise ApiError(err.code, _detail(err.read())) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise BackendUnavailable(f"cannot reach the Airflow server at {self.url}: {reason}") from None
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError:
            raise BackendUnavailable(f"{self.url} did not answer {path} with JSON: is it an Airflow 3 API server?") from None

    def token(self) -> Optional[str]:
        """The bearer token: given, or exchanged for the username and password at /auth/token."""
        if self._token is None and self._login:
            username, password = self._login
            answer = self._send("POST", "/auth/token", {"username": username, "password": password}, None, False)
            self._token = (answer or {}).get("access_token")
            if not self._token:
                raise BackendUnavailable(f"the Airflow server at {self.url} gave no token at /auth/token")
        return self._token


def base_url(url: str) -> str:
    """The server's root, as given (a trailing /, /api/v2 or user:password@ taken off)."""
    parts = urllib.parse.urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        parts = urllib.parse.urlsplit("http://" + url.strip())
    netloc = parts.netloc.rsplit("@", 1)[-1]  # an IPv6 host keeps its brackets
    path = parts.path.rstrip("/")
    for tail in ("/api/v2", "/api/v1"):
        if path.endswith(tail):
            path = path[: -len(tail)]
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, "", ""))


def _detail(raw: bytes) -> str:
    try:
        detail = json.loads(raw).get("detail", raw.decode(errors="replace"))
    except (ValueError, AttributeError):
        detail = raw.decode(errors="replace")
    return detail if isinstance(detail, str) else json.dumps(detail)


def _unavailable(url: str, err: ApiError) -> BackendUnavailable:
    if err.status >= 500:
        return BackendUnavailable(f"the Airflow server at {url} failed (HTTP {err.status}: {err.detail[:300]})")
    why = "refused the credentials" if err.status == 401 else "refused access"
    return BackendUnavailable(f"the Airflow server at {url} {why} (HTTP {err.status}: {err.detail[:200]})\n"
                              f"  hint: set {TOKEN_VAR} to a valid token, or {USER_VAR} and {PASSWORD_VAR} to a user "
                              "of the server")
