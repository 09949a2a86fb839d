"""A small stand-in for the Hugging Face Hub's HTTP API, on 127.0.0.1, for tests.

It answers the calls huggingface_hub 2.4 makes for create_repo, create_branch,
create_commit (files inline: preupload answers "regular" for all), model_info/repo_info,
list_repo_tree, hf_hub_download (HEAD then GET on /resolve/) and whoami, as listed in
../shared/notes/hub-protocol.md. Commits are kept in memory and content-addressed, so a
revision pins its bytes as on the real Hub. Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    sha: str
    parent: str | None
    message: str
    files: dict[str, bytes]


@dataclass
class Repo:
    owner: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, rev: str) -> str | None:
        return self.branches.get(rev) or (rev if rev in self.commits else None)

    def history(self, branch: str = "main") -> list[Commit]:
        out, sha = [], self.branches.get(branch)
        while sha:
            out.append(self.commits[sha])
            sha = self.commits[sha].parent
        return out


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class LocalHub:
    """The server and its state. `tokens` maps a token to the user it authenticates."""

    def __init__(self, tokens: dict[str, str], port: int = 0):
        self.tokens = tokens
        self.repos: dict[str, Repo] = {}
        self.tampered: dict[tuple[str, str], bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.port = port
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalHub:
        handler = type("Handler", (_Handler,), {"hub": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def tamper(self, repo_id: str, path: str, data: bytes) -> None:
        """Serve `data` for `path` at every revision, as a corrupt mirror would."""
        self.tampered[(repo_id, path)] = data

    # --- state changes, called by the handler under the lock -------------------------
    def commit(self, repo: Repo, branch: str, files: dict[str, bytes], message: str) -> str:
        parent = repo.branches.get(branch)
        digest = hashlib.sha1(json.dumps([parent, message, len(repo.commits),
                                          sorted((p, git_sha1(d)) for p, d in files.items())])
                              .encode()).hexdigest()
        repo.commits[digest] = Commit(digest, parent, message, files)
        repo.branches[branch] = digest
        return digest


class _Handler(BaseHTTPRequestHandler):
    hub: LocalHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    # --- plumbing ----------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        # One request per connection: a stopped server must not keep serving a client's
        # pooled keep-alive connection from a leftover handler thread.
        self.close_connection = True
        self.send_header("Connection", "close")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _error(self, e: HubError) -> None:
        headers = {"X-Error-Message": e.message}
        if e.code:
            headers["X-Error-Code"] = e.code
        self._json(e.status, {"error": e.message}, headers)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        token = auth[len("Bearer "):]
        if token not in self.hub.tokens:
            raise HubError(401, INVALID_CREDENTIALS)
        return self.hub.tokens[token]

    def _repo(self, repo_id: str, write: bool = False) -> Repo:
        user = self._user()
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and user != repo.owner):
            status = 401 if user is None else 404
            raise HubError(status, f"Repository {repo_id} not found", "RepoNotFound")
        if write and user != repo.owner:
            raise HubError(403, f"You have read access but not the required permissions "
                                f"for this operation on {repo_id}")
        return repo

    def _commit_at(self, repo_id: str, repo: Repo, rev: str) -> Commit:
        sha = repo.resolve(rev)
        if sha is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return repo.commits[sha]

    def _dispatch(self) -> None:
        self.hub.requests.append((self.command, self.path))
        parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
        try:
            with self.hub.lock:
                self._route(parts)
        except HubError as e:
            self._error(e)

    do_GET = do_HEAD = do_POST = _dispatch  # noqa: N815 (http.server's names)

    # --- the API -----------------------------------------------------------------------
    def _route(self, p: list[str]) -> None:
        method = self.command
        if p[:2] == ["api", "whoami-v2"]:
            user = self._user()
            if user is None:
                raise HubError(401, INVALID_CREDENTIALS)
            return self._json(200, {"type": "user", "name": user, "auth": {}})
        if p == ["api", "validate-yaml"] and method == "POST":
            self._body()
            return self._json(200, {"errors": [], "warnings": []})
        if p == ["api", "repos", "create"] and method == "POST":
            return self._create_repo(json.loads(self._body() or b"{}"))
        if len(p) >= 4 and p[:2] == ["api", "models"]:
            repo_id, rest = f"{p[2]}/{p[3]}", p[4:]
            if method == "GET" and not rest:
                return self._info(repo_id, "main")
            if method == "GET" and rest[:1] == ["revision"] and len(rest) == 2:
                return self._info(repo_id, rest[1])
            if method == "GET" and rest[:1] == ["tree"] and len(rest) >= 2:
                return self._tree(repo_id, rest[1], "/".join(rest[2:]))
            if method == "POST" and rest[:1] == ["preupload"] and len(rest) == 2:
                return self._preupload(repo_id, rest[1], json.loads(self._body()))
            if method == "POST" and rest[:1] == ["commit"] and len(rest) == 2:
                return self._commit(repo_id, rest[1], self._body())
            if method == "POST" and rest[:1] == ["branch"] and len(rest) == 2:
                return self._branch(repo_id, rest[1], json.loads(self._body() or b"{}"))
        if len(p) >= 5 and p[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(f"{p[0]}/{p[1]}", p[3], "/".join(p[4:]))
        if method == "POST":
            self._body()
        raise HubError(404, f"no route for {method} {self.path}")

    def _create_repo(self, body: dict) -> None:
        user = self._user()
        if user is None:
            raise HubError(401, INVALID_CREDENTIALS)
        ns = body.get("organization") or user
        if ns != user:
            raise HubError(403, f"{user} cannot create repos in {ns}")
        repo_id = f"{ns}/{body['name']}"
        url = {"url": f"{self.hub.url}/{repo_id}"}
        if repo_id in self.hub.repos:
            return self._json(409, {**url, "error": "You already created this model repo"})
        private = bool(body.get("private")) or body.get("visibility") == "private"
        repo = self.hub.repos[repo_id] = Repo(user, private)
        self.hub.commit(repo, "main", {".gitattributes": b"*.safetensors filter=lfs\n"},
                        "initial commit")
        self._json(200, url)

    def _info(self, repo_id: str, rev: str) -> None:
        repo = self._repo(repo_id)
        c = self._commit_at(repo_id, repo, rev)
        self._json(200, {"id": repo_id, "modelId": repo_id, "sha": c.sha,
                         "private": repo.private,
                         "siblings": [{"rfilename": f} for f in sorted(c.files)]})

    def _tree(self, repo_id: str, rev: str, prefix: str) -> None:
        repo = self._repo(repo_id)
        c = self._commit_at(repo_id, repo, rev)
        self._json(200, [{"type": "file", "path": f, "size": len(d), "oid": git_sha1(d)}
                         for f, d in sorted(c.files.items()) if f.startswith(prefix)])

    def _preupload(self, repo_id: str, rev: str, body: dict) -> None:
        repo = self._repo(repo_id, write=True)
        files = self._commit_at(repo_id, repo, rev).files if repo.resolve(rev) else {}
        self._json(200, {"files": [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
             "oid": git_sha1(files[f["path"]]) if f["path"] in files else None}
            for f in body["files"]]})

    def _commit(self, repo_id: str, rev: str, body: bytes) -> None:
        repo = self._repo(repo_id, write=True)
        head = self._commit_at(repo_id, repo, rev)
        if rev not in repo.branches:
            raise HubError(400, f"{rev} is not a branch")
        files = dict(head.files)
        message = ""
        for line in body.splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                message = value["summary"]
                parent = value.get("parentCommit")
                if parent and parent != head.sha:
                    raise HubError(412, "A newer commit exists on this branch")
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {f: d for f, d in files.items() if not f.startswith(prefix)}
            else:
                raise HubError(400, f"unsupported commit item {key}")
        sha = self.hub.commit(repo, rev, files, message)
        self._json(200, {"commitOid": sha, "commitUrl": f"{self.hub.url}/{repo_id}/commit/{sha}",
                         "pullRequestUrl": None})

    def _branch(self, repo_id: str, branch: str, body: dict) -> None:
        repo = self._repo(repo_id, write=True)
        if branch in repo.branches:
            raise HubError(409, f"Branch {branch} already exists")
        start = self._commit_at(repo_id, repo, body.get("startingPoint") or "main")
        repo.branches[branch] = start.sha
        self._json(200, {})

    def _resolve(self, repo_id: str, rev: str, path: str) -> None:
        repo = self._repo(repo_id)
        c = self._commit_at(repo_id, repo, rev)
        if path not in c.files:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        data = self.hub.tampered.get((repo_id, path), c.files[path])
        self._send(200, data, {"X-Repo-Commit": c.sha, "ETag": f'"{git_sha1(data)}"'},
                   content_type="application/octet-stream")
