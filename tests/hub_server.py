"""A local stand-in for the Hugging Face Hub's HTTP API, enough for huggingface_hub's real client.

Started by the tests on 127.0.0.1 (a free port); point ``HF_ENDPOINT`` at ``server.url``. It answers:

- ``GET /api/{models,datasets}/ORG/NAME/revision/REV``: the repository info (``sha``, ``siblings``);
- ``HEAD``/``GET /[datasets/]ORG/NAME/resolve/REV/PATH``: a file, with ``X-Repo-Commit``, ``ETag`` and
  ``Content-Length`` as the Hub sends them;
- the Hub's error shapes: 404 with ``X-Error-Code`` ``RepoNotFound``, ``RevisionNotFound`` or
  ``EntryNotFound``, and 401 for a private repository without the right ``Authorization`` header.

A repository holds commits (``{path: bytes}`` each) and branches pointing at them; ``push`` adds a commit
and moves a branch, as a ``git push`` to the Hub would. Every request is recorded in ``requests``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    repo_id: str
    repo_type: str = "model"  # or "dataset"
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    #: the token a request must send (``Authorization: Bearer ...``); None for a public repository
    token: str | None = None

    def push(self, files: dict[str, bytes], *, branch: str = "main") -> str:
        """Add a commit holding ``files`` (the whole tree) and point ``branch`` at it; returns its sha."""
        parent = self.branches.get(branch, "")
        tree = json.dumps({path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())})
        sha = hashlib.sha1(f"{self.repo_id}\n{parent}\n{tree}".encode()).hexdigest()
        self.commits[sha] = dict(files)
        self.branches[branch] = sha
        return sha

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None


class FakeHub:
    """``with FakeHub() as hub: hub.add("org/name").push({...})``; ``hub.url`` is its endpoint."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []
        #: seconds to wait before answering each file request (makes concurrent fetches overlap)
        self.file_delay = 0.0
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hub._handle(self, "GET")

            def do_HEAD(self) -> None:
                hub._handle(self, "HEAD")

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, repo_id: str, *, repo_type: str = "model", token: str | None = None) -> Repo:
        repo = Repo(repo_id, repo_type, token=token)
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------------------------------ requests

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = unquote(urlsplit(handler.path).path)
        with self._lock:
            self.requests.append((method, path))
        parts = path.strip("/").split("/")
        if parts[:1] == ["api"] and len(parts) >= 6 and parts[4] == "revision":
            kind = {"models": "model", "datasets": "dataset"}.get(parts[1])
            self._info(handler, method, kind, f"{parts[2]}/{parts[3]}", "/".join(parts[5:]))
            return
        repo_type = "model"
        if parts[:1] == ["datasets"]:
            repo_type, parts = "dataset", parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve":
            self._file(handler, method, repo_type, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
            return
        self._error(handler, method, 404, None, "Not Found")

    def _repo(self, handler, method, repo_type, repo_id) -> Repo | None:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            self._error(handler, method, 404, "RepoNotFound", f"Repository {repo_id} not found")
            return None
        if repo.token is not None and handler.headers.get("Authorization") != f"Bearer {repo.token}":
            # The Hub answers 401 for a private repository without (the right) credentials.
            self._error(handler, method, 401, "RepoNotFound", "Invalid username or password.")
            return None
        return repo

    def _info(self, handler, method, repo_type, repo_id, revision) -> None:
        repo = self._repo(handler, method, repo_type, repo_id)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            self._error(handler, method, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        body = {
            "id": repo_id,
            "sha": sha,
            "private": repo.token is not None,
            "siblings": [{"rfilename": name} for name in sorted(repo.commits[sha])],
        }
        self._send(handler, method, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _file(self, handler, method, repo_type, repo_id, revision, filename) -> None:
        repo = self._repo(handler, method, repo_type, repo_id)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            self._error(handler, method, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        data = repo.commits[sha].get(filename)
        if data is None:
            self._error(handler, method, 404, "EntryNotFound", f"{filename} does not exist at {revision}")
            return
        if self.file_delay:
            time.sleep(self.file_delay)
        etag = hashlib.sha256(data).hexdigest()
        headers = {"X-Repo-Commit": sha, "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}
        self._send(handler, method, 200, data, headers)

    def _error(self, handler, method, status: int, code: str | None, message: str) -> None:
        headers = {"Content-Type": "application/json"}
        if code:
            headers["X-Error-Code"] = code
            headers["X-Error-Message"] = message
        self._send(handler, method, status, json.dumps({"error": message}).encode(), headers)

    @staticmethod
    def _send(handler, method, status: int, body: bytes, headers: dict[str, str]) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if method == "GET":
            handler.wfile.write(body)
