"""Load on the app: concurrent clients of Gradio's /predict or of the JSON POST /api/predict.

Starts `python app.py` on 127.0.0.1 in a subprocess (so its memory and CPU time are its
own, with an upload folder of its own), loads the variants with one request, then runs
--clients clients at once, each sending --drawings distinct drawn MNIST digits (280x280,
as the pad sends them) one after another, all within --deadline seconds. Prints errors,
"busy" answers (the queue is bounded) and misread digits, latency percentiles, throughput,
the server's CPU time per answer, its RSS and its upload folder before and after (and
again after --settle seconds, when the app has deleted old uploads).

--hostile K adds K clients that send hostile drawings for as long as the others run (a
4096x4096 canvas with a 1-px line, 2048x2048 noise, a PNG whose header declares 100,000 x
100,000 pixels, 10,000 copies of one variant name, junk variants): the measured clients'
figures then say whether the app stays usable meanwhile. --fresh-sessions gives every
request a new Gradio session, like as many one-off visitors. --path gradio-http sends the
same requests to /predict as a page's JavaScript client does (upload, queue join, event
stream) over keep-alive connections, without gradio_client's connection and client per
request. --path json sends the same drawings to the JSON endpoint instead, as PNG bodies
over one keep-alive connection per client (the hostile clients too: the same files, and
junk variant lists).

The clients share the machine with the server; they stand in for visitors' machines, so
they run at a lower priority (--nice, 10 by default; 0 puts them level with the server)
and take the CPU the server leaves, and every client opens its session (gradio_client
reads the app's config and API, and sends one drawing, not counted) before the clock
starts: the figures are the server's answers, not its start-up. They talk plain http to
127.0.0.1 with ssl_verify=False: otherwise gradio_client builds an SSL context (reading the
CA bundle) for every request, about 60 ms of the clients' CPU per request, which the
server then lacks.

    MNIST_DIR=... python bench/load.py                         # 50 clients x 20 drawings
    MNIST_DIR=... python bench/load.py --clients 5 --drawings 10 --hostile 1
    MNIST_DIR=... python bench/load.py --path json --clients 50 --drawings 10

Its table is the `bench:load` block of docs/benchmarks.md (with --path gradio-http and
json, the `bench:load-http` and `bench:load-json` blocks); `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from _common import ROOT, emit, mnist, parser, table

from engine.data.drawn import drawn_digits
from webapp.json_endpoint import ROUTE

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def family(pid: int) -> list[int]:
    """The process and its live descendants (the app's model workers)."""
    pids, i = [pid], 0
    while i < len(pids):
        for task in Path(f"/proc/{pids[i]}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pids += [int(c) for c in task.read_text().split()]
        i += 1
    return pids


def rss_mb(pid: int) -> float:
    """The resident memory of the process and its workers, together."""
    total = 0.0
    for p in family(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


def cpu_s(pid: int) -> float:
    """User + system CPU time of the process and its live workers: the server's, all of
    it, whichever core ran it."""
    total = 0
    for p in family(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def folder(path: Path) -> tuple[int, float]:
    """(files, MB) under path."""
    sizes = [p.stat().st_size for p in path.rglob("*") if p.is_file()]
    return len(sizes), sum(sizes) / 2**20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(uploads: Path, queue_size: int | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_TEMP_DIR": str(uploads), "GRADIO_ANALYTICS_ENABLED": "False"}
    if queue_size is not None:
        env["ZOO_QUEUE_SIZE"] = str(queue_size)
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited: {proc.stderr.read()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("app.py did not listen within 120 s")


def unique_png(drawing: np.ndarray, tag: int, folder_: Path) -> Path:
    """The drawing with one invisible pixel changed, so that no two uploads are the same
    file (a crowd's drawings never are; Gradio would otherwise store one copy)."""
    img = drawing.copy()
    img.flat[tag % img.size] ^= 1
    path = folder_ / f"d{tag}.png"
    cv2.imwrite(str(path), img)
    return path


def hostile_files(folder_: Path) -> dict[str, Path]:
    line = np.full((4096, 4096), 255, np.uint8)
    cv2.line(line, (0, 0), (4095, 4095), 0, 1)
    noise = np.random.default_rng(0).integers(0, 256, (2048, 2048), np.uint8)
    seven = np.full((280, 280), 255, np.uint8)
    cv2.polylines(seven, [np.array([(80, 70), (200, 70), (130, 220)])], False, 0, 12)
    files = {"line4096": line, "noise2048": noise, "seven": seven}
    paths = {}
    for name, img in files.items():
        paths[name] = folder_ / f"{name}.png"
        cv2.imwrite(str(paths[name]), img)
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    paths["bomb-header"] = folder_ / "bomb.png"
    paths["bomb-header"].write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0,
                                                          0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return paths


class Run:
    """What the clients saw, shared between their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency: list[float] = []
        self.outcomes: Counter = Counter()
        self.errors: Counter = Counter()
        self.hostile: dict[str, list] = {}
        self.stop_at = float("inf")  # no request starts after it (set when the clock starts)

    def add(self, seconds: float, outcome: str, error: str = "") -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            if outcome in ("right", "misread"):
                self.latency.append(seconds)
            if error:
                self.errors[error[:160]] += 1


class Sampler(threading.Thread):
    """The server's RSS once a second, with how many answers had come back by then."""

    def __init__(self, pid: int, run: Run):
        super().__init__(daemon=True)
        self.pid, self.run_, self.samples, self.stop = pid, run, [], threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            with self.run_.lock:
                n = len(self.run_.latency)
            self.samples.append((n, rss_mb(self.pid)))

    def at(self, fraction: float, total: int) -> str:
        past = [mb for n, mb in self.samples if n >= fraction * total]
        return f"{past[0]:.0f}" if past else "-"


class GradioSender:
    """Gradio's /predict through gradio_client: one session, or a new one per request."""

    def __init__(self, url: str, timeout: float = 120, fresh: bool = False):
        from gradio_client import Client

        self.client = Client(url, verbose=False, download_files=False, ssl_verify=False,
                             httpx_kwargs={"timeout": timeout})
        self.fresh = fresh

    def predict(self, png: Path, variants) -> dict:
        from gradio_client import handle_file

        if self.fresh:
            self.client.reset_session()
        return self.client.predict({"background": None, "layers": [], "id": None,
                                    "composite": handle_file(str(png))}, variants,
                                   api_name="/predict")


class JSONSender:
    """POST /api/predict over one keep-alive connection, reopened if the server closes it:
    the PNG as the body, or as JSON when the variant list is not one a query string holds
    (nested junk, or longer than a request line may be)."""

    def __init__(self, url: str, timeout: float = 120, fresh: bool = False):
        host, port = url.split("//")[1].rstrip("/").split(":")
        self.address, self.timeout, self.connection = (host, int(port)), timeout, None

    def predict(self, png: Path, variants) -> dict:
        data = png.read_bytes()
        names = variants is None or all(isinstance(v, str) for v in variants)
        if names and len(",".join(variants or [])) < 4096:
            query = "?variants=" + ",".join(variants) if variants else ""
            return self._post(ROUTE + query, data, "image/png")
        body = {"image": base64.b64encode(data).decode(), "variants": variants}
        return self._post(ROUTE, json.dumps(body).encode(), "application/json")

    def _post(self, target: str, body: bytes, kind: str) -> dict:
        for attempt in (0, 1):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(*self.address,
                                                             timeout=self.timeout)
            try:
                self.connection.request("POST", target, body, {"Content-Type": kind})
                response = self.connection.getresponse()
                answer = json.loads(response.read())
                if response.status == 503:
                    raise RuntimeError("busy: " + answer["message"])
                return answer
            except (ConnectionError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


class PageSender:
    """Gradio's /predict over HTTP as a page's JavaScript client sends it: the PNG uploaded,
    the event joined to the queue, its answer read from the session's event stream, all on
    one pool of keep-alive connections (gradio_client opens a connection for each of the
    three and builds an HTTP client for each, on the server's 2 cores)."""

    def __init__(self, url: str, timeout: float = 120, fresh: bool = False):
        import httpx

        self.http = httpx.Client(base_url=url, timeout=timeout)
        config = self.http.get("/config").json()
        self.prefix = config.get("api_prefix", "/gradio_api")
        self.fn = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "predict")
        self.fresh, self.session = fresh, secrets.token_hex(8)

    def predict(self, png: Path, variants) -> dict:
        if self.fresh:
            self.session = secrets.token_hex(8)
        up = self.http.post(f"{self.prefix}/upload",
                            files={"files": (png.name, png.read_bytes(), "image/png")})
        up.raise_for_status()
        file = {"path": up.json()[0], "orig_name": png.name, "meta": {"_type": "gradio.FileData"}}
        pad = {"background": None, "layers": [], "id": None, "composite": file}
        join = self.http.post(f"{self.prefix}/queue/join", json={
            "data": [pad, variants, False, False], "event_data": None, "fn_index": self.fn,
            "trigger_id": None, "session_hash": self.session})
        if join.status_code == 503:
            raise RuntimeError("busy: the queue is full")
        join.raise_for_status()
        event = join.json()["event_id"]
        with self.http.stream("GET", f"{self.prefix}/queue/data",
                              params={"session_hash": self.session}) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("event_id") == event and message["msg"] == "process_completed":
                    if not message.get("success"):
                        raise RuntimeError(str(message.get("output")))
                    return message["output"]["data"][0]
        raise RuntimeError("the event stream closed without the answer")


SENDERS = {"gradio": GradioSender, "gradio-http": PageSender, "json": JSONSender}


def busy(e: Exception) -> bool:
    """The server's "come back later" on either path (a bounded queue, bounded turns)."""
    return any(s in str(e).lower() for s in ("queue is full", "busy:"))


def client(sender: Callable, drawings: list, first: int, n: int, variants, run: Run,
           go: threading.Barrier, folder_: Path) -> None:
    try:
        c = sender()
        warm = unique_png(drawings[first % len(drawings)][0], -1 - first, folder_)
        try:  # the session's first request, uncounted: gradio_client's own lazy start
            c.predict(warm, variants)
        finally:
            warm.unlink(missing_ok=True)
    except Exception as e:  # the app refused even the connection: count every drawing
        c = e
    try:
        go.wait()  # every client connected; the clock starts
    except threading.BrokenBarrierError:
        pass
    if isinstance(c, Exception):
        for _ in range(n):
            run.add(0.0, "error", f"connect: {type(c).__name__}: {c}")
        return
    for i in range(first, first + n):
        if time.time() > run.stop_at:
            run.add(0.0, "not sent (deadline)")
            continue
        drawing, label = drawings[i % len(drawings)]
        path = unique_png(drawing, i, folder_)
        start = time.perf_counter()
        try:
            result = c.predict(path, variants)
        except Exception as e:  # a load test counts whatever goes wrong
            run.add(time.perf_counter() - start, "busy" if busy(e) else "error",
                    "" if busy(e) else f"{type(e).__name__}: {e}")
            continue
        finally:
            path.unlink(missing_ok=True)
        seconds = time.perf_counter() - start
        if result.get("status") != "ok":
            run.add(seconds, "error", f"status {result.get('status')}: {result.get('message')}")
        else:
            tops = set(result["top"].values())
            run.add(seconds, "right" if tops == {label} else "misread")


HOSTILE = ("line4096", "noise2048", "bomb-header", "10k-names", "junk-variants")


def hostile_client(sender: Callable, files: dict[str, Path], names: list[str],
                   kinds_: list[str], run: Run, done: threading.Event) -> None:
    c = sender(timeout=300)
    seven = files["seven"]  # the names are the hostile part, so the drawing is fine
    every = {"line4096": (files["line4096"], None), "noise2048": (files["noise2048"], None),
             "bomb-header": (files["bomb-header"], None),
             "10k-names": (seven, names[:1] * 10_000), "junk-variants": (seven, [["x"], {}])}
    kinds = [(k, *every[k]) for k in kinds_]
    k = 0
    while not done.is_set():
        kind, path, variants = kinds[k % len(kinds)]
        k += 1
        start = time.perf_counter()
        try:
            outcome = c.predict(path, variants).get("status", "?")
        except Exception as e:  # an attacker sees what anyone would
            outcome = "busy" if busy(e) else type(e).__name__
        with run.lock:
            run.hostile.setdefault(kind, []).append((time.perf_counter() - start, outcome))


def pct(values: list[float], q: float) -> str:
    return f"{1000 * np.percentile(values, q):.0f}" if values else "-"


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--path", choices=tuple(SENDERS), default="gradio",
                   help="Gradio's /predict through gradio_client, or over keep-alive HTTP "
                        "as a page sends it, or POST /api/predict")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--drawings", type=int, default=20, help="per client")
    p.add_argument("--deadline", type=float, default=300,
                   help="seconds; no request starts after it")
    p.add_argument("--hostile", type=int, default=0, help="clients sending hostile drawings")
    p.add_argument("--hostile-kinds", default=",".join(HOSTILE),
                   help=f"which, in turn (default: all of {', '.join(HOSTILE)})")
    p.add_argument("--variants", help="comma-separated names (default: the app's selection)")
    p.add_argument("--fresh-sessions", action="store_true",
                   help="a new Gradio session per request")
    p.add_argument("--queue-size", type=int, help="the app's ZOO_QUEUE_SIZE")
    p.add_argument("--nice", type=int, default=10,
                   help="the clients' niceness (0: level with the server)")
    p.add_argument("--settle", type=float, default=0,
                   help="then wait this long and measure the upload folder again")
    args = p.parse_args()
    variants = args.variants.split(",") if args.variants else None

    data = mnist(args.data)
    drawings = list(drawn_digits(data.test_images, data.test_labels, 200, seed=1, size=280))
    work = Path(tempfile.mkdtemp(prefix="digit-zoo-load-"))
    uploads, files = work / "uploads", work / "files"
    uploads.mkdir()
    files.mkdir()
    proc, url = start_server(uploads, args.queue_size)
    try:
        from gradio_client import Client, handle_file

        warm = Client(url, verbose=False, download_files=False, ssl_verify=False)
        names = list(warm.predict({"background": None, "layers": [], "id": None,
                                   "composite": handle_file(str(unique_png(drawings[0][0], -1,
                                                                           files)))},
                                  variants, api_name="/predict")["top"])
        run, done = Run(), threading.Event()
        sender = partial(SENDERS[args.path], url, fresh=args.fresh_sessions)
        hostile = [threading.Thread(target=hostile_client, daemon=True,
                                    args=(sender, hostile_files(files), names,
                                          args.hostile_kinds.split(","), run, done))
                   for _ in range(args.hostile)]
        # The clients stand in for visitors' machines: they take what CPU the server leaves.
        os.nice(args.nice)  # this thread's, and so its clients' (Linux: per thread)
        go = threading.Barrier(args.clients + 1)
        threads = [threading.Thread(target=client, args=(
            sender, drawings, i * args.drawings, args.drawings, variants, run, go, files))
            for i in range(args.clients)]
        connect = time.perf_counter()
        for t in threads:
            t.start()
        with contextlib.suppress(threading.BrokenBarrierError):  # counted as errors
            go.wait(timeout=300)  # every session open and warm ...
        connect = time.perf_counter() - connect
        rss0, cpu0, up0 = rss_mb(proc.pid), cpu_s(proc.pid), folder(uploads)
        own0 = time.process_time()
        start = time.perf_counter()  # ... before the clock starts
        run.stop_at = time.time() + args.deadline
        sampler = Sampler(proc.pid, run)
        sampler.start()
        for t in hostile:
            t.start()
        for t in threads:
            t.join(max(1.0, run.stop_at - time.time() + 150))
        wall = time.perf_counter() - start
        sampler.stop.set()
        done.set()
        for t in hostile:  # whatever is still in flight ends with the server
            t.join(5)
        rss1, cpu1, up1 = rss_mb(proc.pid), cpu_s(proc.pid), folder(uploads)
        own = time.process_time() - own0
        up2 = None
        if args.settle:
            time.sleep(args.settle)
            up2 = folder(uploads)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    o = run.outcomes
    answered = o["right"] + o["misread"]
    hostile_n = sum(len(v) for v in run.hostile.values())
    rows = [["requests (clients x drawings)",
             f"{sum(o.values()):,} ({args.clients} x {args.drawings})"],
            ["answered / busy / errors / not sent",
             f"{answered:,} / {o['busy']:,} / {o['error']:,} / {o['not sent (deadline)']:,}"],
            ["answers that match the label", f"{o['right'] / max(answered, 1):.1%}"],
            ["latency p50 / p90 / p99 / max (ms)",
             f"{pct(run.latency, 50)} / {pct(run.latency, 90)} / {pct(run.latency, 99)} / "
             f"{pct(run.latency, 100)}"],
            ["throughput (answers/s)", f"{answered / wall:.1f} over {wall:.1f} s"],
            ["server CPU per request (ms)",
             f"{1000 * (cpu1 - cpu0) / max(answered + hostile_n, 1):.1f}"],
            ["server RSS before -> after (MB)", f"{rss0:.0f} -> {rss1:.0f} ({rss1 - rss0:+.0f})"],
            ["server RSS at 25 / 50 / 75% of the answers (MB)",
             " / ".join(sampler.at(f, answered) for f in (0.25, 0.5, 0.75))],
            ["upload folder before -> after",
             f"{up0[0]} files, {up0[1]:.1f} MB -> {up1[0]} files, {up1[1]:.1f} MB"
             + (f" -> {up2[0]} files, {up2[1]:.1f} MB after {args.settle:.0f} s" if up2 else "")],
            ["this script's own CPU (s)", f"{own:.1f} (it shares the machine)"]]
    where = "POST /api/predict" if args.path == "json" else "/predict"
    text = table([f"load on {where}", "value"], rows)
    if run.hostile:
        text += "\n\n" + table(
            ["hostile drawing", "sent", "answers", "max latency (ms)"],
            [[k, len(v), ", ".join(f"{n} {s}" for s, n in Counter(s for _, s in v).items()),
              f"{1000 * max(t for t, _ in v):.0f}"] for k, v in run.hostile.items()])
    if run.errors:
        text += "\n\nErrors:\n" + "\n".join(f"- {n} x {e}" for e, n in run.errors.most_common(5))
    sessions = "a new session per request" if args.fresh_sessions else "one session per client"
    kind = {"json": "HTTP clients (one keep-alive connection each)",
            "gradio-http": f"HTTP clients of Gradio's queue as a page sends to it (keep-alive "
                           f"connections; upload, join, event stream; {sessions})",
            "gradio": f"gradio_client clients ({sessions})"}[args.path]
    text += (f"\n\n{args.clients} {kind} on 127.0.0.1 at nice {args.nice} (sessions "
             f"opened and warmed in {connect:.1f} s before the clock started), variants: "
             f"{', '.join(names)}; {args.hostile} hostile clients.")
    emit({"json": "load-json", "gradio-http": "load-http", "gradio": "load"}[args.path], text,
         args.doc)


if __name__ == "__main__":
    main()
