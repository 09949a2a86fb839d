"""A small stand-in for the Hugging Face Hub's HTTP API, on 127.0.0.1, for tests.

It answers the calls huggingface_hub 2.4 makes for create_repo (models and Spaces),
create_commit / upload_folder, model_info / space_info / repo_info, list_repo_tree,
hf_hub_download / snapshot_download, Space variables and secrets, and whoami, as listed in
../shared/notes/hub-protocol.md and read from the client (`hf_api.py`, `_commit_api.py`,
`lfs.py`, `file_download.py`).

Binary files take the real Hub's LFS path: `/preupload` answers "lfs" for paths matching the
repo's `.gitattributes` LFS patterns, for samples with a NUL byte and for files over 10 MiB;
the client then asks the LFS batch API for upload actions, PUTs the bytes to a separate
storage server (another origin, as S3 is), has them verified, and commits `lfsFile` lines.
The repo keeps a git-lfs pointer; a download of an LFS file is a 302 to the storage server
with `X-Linked-Etag` and `X-Linked-Size`, as the Hub redirects to its CDN. An inline commit
line carrying binary content is refused, as the Hub refuses binary files outside LFS/Xet.
Xet is not served: its token endpoint answers an error (tests run with HF_HUB_DISABLE_XET=1).

Commits are kept in memory and content-addressed, so a revision pins its bytes as on the
real Hub. Standard library only.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub stores anything larger through LFS
# What a new repo's first commit tracks with LFS on the Hub (a subset of its default list).
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in (
    "*.7z", "*.bin", "*.ckpt", "*.gz", "*.h5", "*.npy", "*.npz", "*.onnx", "*.pickle", "*.pkl",
    "*.pt", "*.pth", "*.safetensors", "*.tar", "*.zip", "*tfevents*")).encode()
SPACE_README = (b"---\ntitle: New Space\nemoji: \xf0\x9f\x90\xa2\ncolorFrom: gray\ncolorTo: gray\n"
                b"sdk: gradio\nsdk_version: 5.0.0\napp_file: app.py\npinned: false\n---\n\n"
                b"Check out the configuration reference.\n")
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256(data)}\n"
            f"size {len(data)}\n").encode()


def lfs_patterns(gitattributes: bytes) -> list[str]:
    return [line.split()[0] for line in gitattributes.decode(errors="replace").splitlines()
            if "filter=lfs" in line.split()[1:]]


def matches(path: str, pattern: str) -> bool:
    """gitattributes matching, as far as the Hub's patterns need: no slash -> the basename."""
    return fnmatch.fnmatchcase(path if "/" in pattern else path.rsplit("/", 1)[-1], pattern)


@dataclass(frozen=True)
class Blob:
    data: bytes
    lfs: bool  # stored in LFS storage; git holds a pointer

    @property
    def git(self) -> bytes:
        """What git stores for this path."""
        return lfs_pointer(self.data) if self.lfs else self.data


@dataclass
class Commit:
    sha: str
    parent: str | None
    message: str
    files: dict[str, Blob]

    def content(self, path: str) -> bytes:
        return self.files[path].data


@dataclass
class Repo:
    owner: str
    private: bool
    type: str = "model"
    sdk: str | None = None
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    secrets: dict[str, dict] = field(default_factory=dict)

    def resolve(self, rev: str) -> str | None:
        return self.branches.get(rev) or (rev if rev in self.commits else None)

    def history(self, branch: str = "main") -> list[Commit]:
        out, sha = [], self.branches.get(branch)
        while sha:
            out.append(self.commits[sha])
            sha = self.commits[sha].parent
        return out

    def head(self, branch: str = "main") -> Commit:
        return self.commits[self.branches[branch]]


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class LocalHub:
    """The server and its state. `tokens` maps a token to the user it authenticates.

    `repos` is keyed as the Hub's URLs are: "owner/name" for models, "spaces/owner/name" for
    Spaces. `requests` logs (method, path) on the Hub, `storage_requests` (method, path,
    whether an Authorization header came along) on the storage server; `lfs` holds the
    verified LFS objects by SHA-256, `commit_lines` the items of every commit received, and
    `garbled` answers a path with a body of the test's choosing.
    """

    def __init__(self, tokens: dict[str, str], port: int = 0):
        self.tokens = tokens
        self.repos: dict[str, Repo] = {}
        self.tampered: dict[tuple[str, str], bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.storage_requests: list[tuple[str, str, bool]] = []
        self.commit_lines: list[dict] = []
        self.lfs: dict[str, bytes] = {}
        self.uploaded: dict[str, bytes] = {}  # PUT to storage, not yet verified
        self.tampered_lfs: dict[str, bytes] = {}
        self.garbled: dict[str, bytes] = {}  # path -> a 200 body that is not the Hub's answer
        self.lock = threading.Lock()
        self.port = port
        self.server: ThreadingHTTPServer | None = None
        self.storage: ThreadingHTTPServer | None = None
        self.signature = secrets.token_hex(8)  # stands in for a signed URL's signature

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage_url(self) -> str:
        assert self.storage is not None
        return f"http://127.0.0.1:{self.storage.server_address[1]}"

    def start(self) -> LocalHub:
        self.storage = self._serve(_StorageHandler, 0)
        self.server = self._serve(_Handler, self.port)
        self.port = self.server.server_address[1]
        return self

    def _serve(self, handler: type, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), type("H", (handler,), {"hub": self}))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def stop(self) -> None:
        for server in (self.server, self.storage):
            if server:
                server.shutdown()
                server.server_close()
        self.server = self.storage = None

    def tamper(self, repo_id: str, path: str, data: bytes) -> None:
        """Serve `data` for `path` at every revision, as a corrupt mirror would."""
        blob = self.repos[repo_id].head().files.get(path)
        if blob is not None and blob.lfs:
            self.tampered_lfs[sha256(blob.data)] = data
        else:
            self.tampered[(repo_id, path)] = data

    # --- state changes, called by the handlers under the lock ------------------------
    def commit(self, repo: Repo, branch: str, files: dict[str, Blob], message: str) -> str:
        parent = repo.branches.get(branch)
        digest = hashlib.sha1(json.dumps([parent, message, len(repo.commits),
                                          sorted((p, git_sha1(b.git)) for p, b in files.items())])
                              .encode()).hexdigest()
        repo.commits[digest] = Commit(digest, parent, message, files)
        repo.branches[branch] = digest
        return digest

    def is_lfs(self, files: dict[str, Blob], path: str, sample: bytes, size: int) -> bool:
        """What the Hub decides in /preupload: tracked by .gitattributes, binary, or large."""
        attributes = files.get(".gitattributes")
        tracked = attributes is not None and any(
            matches(path, p) for p in lfs_patterns(attributes.data))
        return tracked or b"\0" in sample[:512] or size > LFS_THRESHOLD

    def object_href(self, oid: str) -> str:
        return f"{self.storage_url}/lfs/{oid}?X-Signature={self.signature}"


class _Base(BaseHTTPRequestHandler):
    hub: LocalHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

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


class _StorageHandler(_Base):
    """The LFS object store (S3 and its CDN on the real Hub): signed URLs, no Hub token."""

    def _dispatch(self) -> None:
        self.hub.storage_requests.append((self.command, self.path,
                                          "Authorization" in self.headers))
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        signed = parse_qs(url.query).get("X-Signature") == [self.hub.signature]
        try:
            if len(parts) != 2 or parts[0] != "lfs" or not signed:
                raise HubError(403, "AccessDenied: bad or missing signature")
            oid = parts[1]
            with self.hub.lock:
                if self.command == "PUT":
                    data = self._body()
                    if sha256(data) != oid:
                        raise HubError(400, "BadDigest: the body does not hash to the oid")
                    self.hub.uploaded[oid] = data
                    return self._send(200, headers={"ETag": f'"{oid[:32]}"'})
                if oid not in self.hub.lfs:
                    raise HubError(404, "NoSuchKey")
                data = self.hub.tampered_lfs.get(oid, self.hub.lfs[oid])
            self._send(200, data, {"ETag": f'"{oid[:32]}"'}, "application/octet-stream")
        except HubError as e:
            self._error(e)

    do_GET = do_HEAD = do_PUT = _dispatch  # noqa: N815 (http.server's names)


class _Handler(_Base):
    """The Hub's API, resolve URLs and LFS batch endpoint."""

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        token = auth[len("Bearer "):]
        if token not in self.hub.tokens:
            raise HubError(401, INVALID_CREDENTIALS)
        return self.hub.tokens[token]

    def _repo(self, key: str, write: bool = False) -> Repo:
        user = self._user()
        repo = self.hub.repos.get(key)
        if repo is None or (repo.private and user != repo.owner):
            status = 401 if user is None else 404
            raise HubError(status, f"Repository {key} not found", "RepoNotFound")
        if write and user != repo.owner:
            raise HubError(403, f"You have read access but not the required permissions "
                                f"for this operation on {key}")
        return repo

    def _commit_at(self, repo: Repo, rev: str) -> Commit:
        sha = repo.resolve(rev)
        if sha is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return repo.commits[sha]

    def _dispatch(self) -> None:
        self.hub.requests.append((self.command, self.path))
        parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
        if self.path in self.hub.garbled:
            return self._send(200, self.hub.garbled[self.path])
        try:
            with self.hub.lock:
                self._route(parts)
        except HubError as e:
            self._error(e)

    do_GET = do_HEAD = do_POST = do_DELETE = _dispatch  # noqa: N815 (http.server's names)

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
        if len(p) >= 4 and p[0] == "api" and p[1] in TYPES:
            kind = TYPES[p[1]]
            key, rest = f"{PREFIX[kind]}{p[2]}/{p[3]}", p[4:]
            if method == "GET" and not rest:
                return self._info(key, "main")
            if method == "GET" and rest[:1] == ["revision"] and len(rest) == 2:
                return self._info(key, rest[1])
            if method == "GET" and rest[:1] == ["tree"] and len(rest) >= 2:
                return self._tree(key, rest[1], "/".join(rest[2:]))
            if method == "POST" and rest[:1] == ["preupload"] and len(rest) == 2:
                return self._preupload(key, rest[1], json.loads(self._body()))
            if method == "POST" and rest[:1] == ["commit"] and len(rest) == 2:
                return self._commit(key, rest[1], self._body())
            if method == "POST" and rest[:1] == ["branch"] and len(rest) == 2:
                return self._branch(key, rest[1], json.loads(self._body() or b"{}"))
            if method == "GET" and rest[:1] == ["xet-write-token"]:
                self._repo(key, write=True)
                raise HubError(501, "Xet storage is not available on this Hub")
            if kind == "space" and rest in (["variables"], ["secrets"]):
                return self._space_settings(key, rest[0])
        if len(p) >= 2 and p[-1] == "batch" and p[-4:-1] == ["info", "lfs", "objects"]:
            return self._lfs_batch(self._lfs_repo(p[:-4]), json.loads(self._body()))
        if len(p) >= 2 and p[-1] == "verify" and p[-4:-1] == ["info", "lfs", "objects"]:
            return self._lfs_verify(self._lfs_repo(p[:-4]), json.loads(self._body()))
        if p[0] in ("spaces", "datasets") and len(p) >= 6 and p[3] == "resolve":
            return self._resolve(f"{p[0]}/{p[1]}/{p[2]}", p[4], "/".join(p[5:]))
        if len(p) >= 5 and p[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(f"{p[0]}/{p[1]}", p[3], "/".join(p[4:]))
        if method in ("POST", "DELETE"):
            self._body()
        raise HubError(404, f"no route for {method} {self.path}")

    def _create_repo(self, body: dict) -> None:
        user = self._user()
        if user is None:
            raise HubError(401, INVALID_CREDENTIALS)
        ns = body.get("organization") or user
        if ns != user:
            raise HubError(403, f"{user} cannot create repos in {ns}")
        kind = body.get("type") or "model"
        key = f"{PREFIX[kind]}{ns}/{body['name']}"
        url = {"url": f"{self.hub.url}/{key}"}
        if key in self.hub.repos:
            return self._json(409, {**url, "error": f"You already created this {kind} repo"})
        if kind == "space" and body.get("sdk") not in ("gradio", "docker", "static"):
            raise HubError(400, "a Space needs an sdk: gradio, docker or static")
        private = bool(body.get("private")) or body.get("visibility") == "private"
        repo = self.hub.repos[key] = Repo(user, private, kind, body.get("sdk"))
        for item in body.get("variables") or []:
            repo.variables[item["key"]] = {"value": item["value"]}
        files = {".gitattributes": Blob(GITATTRIBUTES, False)}
        if kind == "space":  # a new Space starts with its own README, as on the Hub
            files["README.md"] = Blob(SPACE_README, False)
        self.hub.commit(repo, "main", files, "initial commit")
        self._json(200, url)

    def _info(self, key: str, rev: str) -> None:
        repo = self._repo(key)
        c = self._commit_at(repo, rev)
        siblings = []
        for f, b in sorted(c.files.items()):
            s = {"rfilename": f, "size": len(b.data), "blobId": git_sha1(b.git)}
            if b.lfs:
                s["lfs"] = {"size": len(b.data), "sha256": sha256(b.data),
                            "pointerSize": len(b.git)}
            siblings.append(s)
        info = {"id": key.removeprefix(PREFIX[repo.type]), "sha": c.sha,
                "private": repo.private, "siblings": siblings}
        if repo.type == "model":
            info["modelId"] = info["id"]
        if repo.type == "space":
            info["sdk"] = repo.sdk
        self._json(200, info)

    def _tree(self, key: str, rev: str, prefix: str) -> None:
        repo = self._repo(key)
        c = self._commit_at(repo, rev)
        out = []
        for f, b in sorted(c.files.items()):
            if f.startswith(prefix):
                item = {"type": "file", "path": f, "size": len(b.data), "oid": git_sha1(b.git)}
                if b.lfs:
                    item["lfs"] = {"oid": sha256(b.data), "size": len(b.data),
                                   "pointerSize": len(b.git)}
                out.append(item)
        self._json(200, out)

    def _preupload(self, key: str, rev: str, body: dict) -> None:
        repo = self._repo(key, write=True)
        files = self._commit_at(repo, rev).files if repo.resolve(rev) else {}
        out = []
        for f in body["files"]:
            path, sample = f["path"], base64.b64decode(f["sample"])
            lfs = self.hub.is_lfs(files, path, sample, f["size"])
            old = files.get(path)
            # The oid the client compares with its own to skip unchanged files: SHA-256 of
            # the content for LFS files, git's SHA-1 for the others.
            oid = None if old is None else sha256(old.data) if old.lfs else git_sha1(old.data)
            out.append({"path": path, "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": False, "oid": oid})
        self._json(200, {"files": out})

    def _lfs_repo(self, parts: list[str]) -> str:
        key = "/".join(parts)
        if not key.endswith(".git"):
            raise HubError(404, f"no LFS endpoint at {self.path}")
        key = key.removesuffix(".git")
        self._repo(key, write=True)
        return key

    def _lfs_batch(self, key: str, body: dict) -> None:
        if body.get("operation") != "upload" or body.get("hash_algo", "sha256") != "sha256":
            raise HubError(400, "only sha256 uploads are supported")
        objects = []
        for obj in body["objects"]:
            item = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.hub.lfs:  # an object the Hub has needs no upload
                item["authenticated"] = True
                item["actions"] = {
                    "upload": {"href": self.hub.object_href(obj["oid"])},
                    "verify": {"href": f"{self.hub.url}/{key}.git/info/lfs/objects/verify"}}
            objects.append(item)
        self._json(200, {"transfer": "basic", "objects": objects},
                   {"Content-Type": "application/vnd.git-lfs+json"})

    def _lfs_verify(self, key: str, body: dict) -> None:
        data = self.hub.uploaded.get(body["oid"], self.hub.lfs.get(body["oid"]))
        if data is None or len(data) != body["size"]:
            raise HubError(422, f"LFS object {body['oid']} was not uploaded with that size")
        self.hub.lfs[body["oid"]] = data
        self._json(200, {})

    def _commit(self, key: str, rev: str, body: bytes) -> None:
        repo = self._repo(key, write=True)
        head = self._commit_at(repo, rev)
        if rev not in repo.branches:
            raise HubError(400, f"{rev} is not a branch")
        files = dict(head.files)
        message = ""
        for line in body.splitlines():
            item = json.loads(line)
            self.hub.commit_lines.append(item)
            k, value = item["key"], item["value"]
            if k == "header":
                message = value["summary"]
                parent = value.get("parentCommit")
                if parent and parent != head.sha:
                    raise HubError(412, "A newer commit exists on this branch")
            elif k == "file":
                data = base64.b64decode(value["content"])
                if self.hub.is_lfs(files, value["path"], data[:512], len(data)):
                    raise HubError(400, f"Your push was rejected because it contains binary "
                                        f"files: {value['path']}. Please use "
                                        "https://huggingface.co/docs/hub/xet to store them.")
                files[value["path"]] = Blob(data, False)
            elif k == "lfsFile":
                data = self.hub.lfs.get(value["oid"])
                if value.get("algo") != "sha256" or data is None:
                    raise HubError(422, f"{value['path']}: LFS object {value['oid']} not found")
                files[value["path"]] = Blob(data, True)
            elif k == "deletedFile":
                files.pop(value["path"], None)
            elif k == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {f: d for f, d in files.items() if not f.startswith(prefix)}
            else:
                raise HubError(400, f"unsupported commit item {k}")
        sha = self.hub.commit(repo, rev, files, message)
        self._json(200, {"commitOid": sha, "commitUrl": f"{self.hub.url}/{key}/commit/{sha}",
                         "pullRequestUrl": None})

    def _branch(self, key: str, branch: str, body: dict) -> None:
        repo = self._repo(key, write=True)
        if branch in repo.branches:
            raise HubError(409, f"Branch {branch} already exists")
        start = self._commit_at(repo, body.get("startingPoint") or "main")
        repo.branches[branch] = start.sha
        self._json(200, {})

    def _space_settings(self, key: str, kind: str) -> None:
        repo = self._repo(key, write=True)
        store = repo.variables if kind == "variables" else repo.secrets
        if self.command == "POST":
            body = json.loads(self._body())
            store[body["key"]] = {"value": body["value"], "description": body.get("description"),
                                  "updatedAt": "2026-01-01T00:00:00.000Z"}
        elif self.command == "DELETE":
            store.pop(json.loads(self._body())["key"], None)
        # Secrets are write-only: their values are never sent back.
        self._json(200, {k: {x: y for x, y in v.items() if kind == "variables" or x != "value"}
                         for k, v in store.items()})

    def _resolve(self, key: str, rev: str, path: str) -> None:
        repo = self._repo(key)
        c = self._commit_at(repo, rev)
        if path not in c.files:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        blob = c.files[path]
        if blob.lfs:  # the Hub answers for the pointer and sends the body from its CDN
            oid = sha256(blob.data)
            return self._send(302, b"", {
                "Location": self.hub.object_href(oid), "X-Repo-Commit": c.sha,
                "ETag": f'"{git_sha1(blob.git)}"', "X-Linked-Etag": f'"{oid}"',
                "X-Linked-Size": str(len(blob.data))})
        data = self.hub.tampered.get((key, path), blob.data)
        self._send(200, data, {"X-Repo-Commit": c.sha, "ETag": f'"{git_sha1(data)}"'},
                   content_type="application/octet-stream")
