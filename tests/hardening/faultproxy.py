#!/usr/bin/env python3
"""Fault-injecting HTTP/1.1 forwarding proxy for replaudit's hardening tests (a test fixture).

    faultproxy.py --upstream http://localhost:EMULATOR_PORT [--rate 0.1] [--seed 1] [--stall 6]

Listens on a free loopback port and prints one JSON line on stdout:
`{"endpoint": "http://localhost:PORT", "port": PORT}`; nothing else is ever written to stdout.
Exits when its stdin reaches EOF (the test process died or dropped the handle) or on SIGTERM.

Every request is forwarded **unchanged** (method, path, query, headers — including Host, since the
requests are SigV4-signed for `localhost:PORT` — and the body, byte for byte) to the upstream
emulator, and the answer is relayed back; unless the request draws a fault. Per request, with
probability `rate`, one fault is injected instead, of a kind drawn by weight:

| kind        | what the client sees |
|-------------|----------------------|
| `throttle`  | the protocol's throttling error: S3 `503 SlowDown` (`<Error>`), S3 Control `503 SlowDown` (`<ErrorResponse><Error>`), IAM/STS query protocol `400 Throttling` (`<ErrorResponse><Error><Code>Throttling`), JSON protocols (`X-Amz-Target`) `400 ThrottlingException`, Smithy RPC v2 CBOR (`smithy-protocol: rpc-v2-cbor`, CloudWatch) `400` `__type` `ThrottlingException` + `x-amzn-query-error: Throttling;Sender` |
| `internal`  | `500 InternalError` (S3) / `InternalFailure` (other protocols), in the protocol's format |
| `reset`     | the request is read, never forwarded, and the connection is reset (RST, no answer) |
| `lost`      | the request **is** forwarded and executed upstream, then the connection is reset (answer lost) |
| `stall`     | the request is read, never forwarded, nothing is answered for `stall` seconds, then the connection is closed |

Reproducible: the draw for a request depends only on the seed, the request's identity (method, host
name without port, path, query, SigV4 region and service, `X-Amz-Target`, and the body for query
and JSON protocol requests) and how many times that identity was seen before (a retry draws
again), not on arrival order or on the set-up's random access keys. (Identical requests in flight
at the same time, and CBOR bodies, which carry the current time, are the exceptions: those draws
may swap between runs.) Control endpoint on the same port (the `_faults` path is no valid bucket name, so no AWS
request can collide):

    GET  /_faults/stats   -> {"requests": N, "faulted": M, "by_kind": {...}, "by_service": {...}, "config": {...}}
    POST /_faults/config  {"rate": 0.3, "seed": 7, "stall_seconds": 6, "weights": {"throttle": 3, ...}}
                          -> sets what is given, resets the counters and the occurrence memory; answers the stats
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import socket
import socketserver
import struct
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

KINDS = ("throttle", "internal", "reset", "lost", "stall")
DEFAULT_WEIGHTS = {"throttle": 3, "internal": 2, "reset": 2, "lost": 1, "stall": 1}
MAX_BODY = 64 * 1024 * 1024


class State:
    def __init__(self, rate: float, seed: int, stall: float) -> None:
        self.lock = threading.Lock()
        self.rate = rate
        self.seed = seed
        self.stall = stall
        self.weights = dict(DEFAULT_WEIGHTS)
        self.reset_counters()

    def reset_counters(self) -> None:
        self.requests = 0
        self.faulted = 0
        self.by_kind = {k: 0 for k in KINDS}
        self.by_service: dict[str, dict[str, int]] = {}
        self.seen: dict[str, int] = {}

    def config(self) -> dict:
        return {"rate": self.rate, "seed": self.seed, "stall_seconds": self.stall, "weights": self.weights}

    def stats(self) -> dict:
        with self.lock:
            return {"requests": self.requests, "faulted": self.faulted, "by_kind": dict(self.by_kind),
                    "by_service": json.loads(json.dumps(self.by_service)), "config": self.config()}

    def draw(self, identity: str, service: str) -> str | None:
        """The fault for this request, or None; counts it."""
        with self.lock:
            n = self.seen.get(identity, 0)
            self.seen[identity] = n + 1
            h = hashlib.sha256(f"{self.seed}\0{identity}\0{n}".encode()).digest()
            u1 = int.from_bytes(h[:8], "big") / 2**64
            u2 = int.from_bytes(h[8:16], "big") / 2**64
            kind = None
            if u1 < self.rate:
                total = sum(w for k, w in self.weights.items() if k in KINDS and w > 0)
                if total > 0:
                    x = u2 * total
                    for k in KINDS:
                        w = self.weights.get(k, 0)
                        if w <= 0:
                            continue
                        if x < w:
                            kind = k
                            break
                        x -= w
            self.requests += 1
            svc = self.by_service.setdefault(service, {"requests": 0, "faulted": 0})
            svc["requests"] += 1
            if kind:
                self.faulted += 1
                self.by_kind[kind] += 1
                svc["faulted"] += 1
            return kind


STATE: State
UPSTREAM: tuple[str, int]


# ----------------------------------------------------------------------------- protocol detection
def protocol(path: str, headers: dict[str, str], body: bytes) -> str:
    """cbor | json | query | s3control | s3"""
    if headers.get("smithy-protocol", "").lower() == "rpc-v2-cbor":
        return "cbor"
    if "x-amz-target" in headers:
        return "json"
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded") and b"Action=" in body:
        return "query"
    if path.startswith("/v20180820/"):
        return "s3control"
    return "s3"


def service_of(headers: dict[str, str]) -> str:
    """The SigV4 credential scope's service (`.../<date>/<region>/<service>/aws4_request`)."""
    auth = headers.get("authorization", "")
    i = auth.find("Credential=")
    if i >= 0:
        parts = auth[i + len("Credential="):].split(",")[0].split("/")
        if len(parts) >= 5:
            return parts[3]
    return "unsigned"


def scope_of(headers: dict[str, str]) -> str:
    """Region and service of the SigV4 credential scope (not the key id: it differs per set-up)."""
    auth = headers.get("authorization", "")
    i = auth.find("Credential=")
    if i >= 0:
        parts = auth[i + len("Credential="):].split(",")[0].split("/")
        if len(parts) >= 5:
            return f"{parts[2]}/{parts[3]}"
    return ""


def _cbor_text(s: str) -> bytes:
    b = s.encode()
    n = len(b)
    if n < 24:
        head = bytes([0x60 | n])
    elif n < 256:
        head = bytes([0x78, n])
    else:
        head = bytes([0x79]) + struct.pack(">H", n)
    return head + b


def cbor_map(d: dict[str, str]) -> bytes:
    assert len(d) < 24
    return bytes([0xA0 | len(d)]) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in d.items())


def error_response(kind: str, proto: str) -> tuple[int, str, dict[str, str], bytes]:
    rid = str(uuid.uuid4())
    throttle = kind == "throttle"
    msg = "Rate exceeded (injected by faultproxy)" if throttle else "We encountered an internal error (injected by faultproxy)"
    if proto in ("s3", "s3control"):
        code = "SlowDown" if throttle else "InternalError"
        status = 503 if throttle else 500
        inner = f"<Code>{code}</Code><Message>{msg}</Message><RequestId>{rid}</RequestId>"
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                + (f"<ErrorResponse><Error>{inner}</Error></ErrorResponse>" if proto == "s3control" else f"<Error>{inner}</Error>"))
        return status, "Slow Down" if throttle else "Internal Server Error", {"Content-Type": "application/xml", "x-amz-request-id": rid}, body.encode()
    if proto == "query":
        code, typ, status = ("Throttling", "Sender", 400) if throttle else ("InternalFailure", "Receiver", 500)
        body = (f"<ErrorResponse><Error><Type>{typ}</Type><Code>{code}</Code><Message>{msg}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>")
        return status, "Bad Request" if throttle else "Internal Server Error", {"Content-Type": "text/xml", "x-amzn-RequestId": rid}, body.encode()
    code, status = ("ThrottlingException", 400) if throttle else ("InternalFailure", 500)
    if proto == "json":
        body = json.dumps({"__type": code, "message": msg}).encode()
        return status, "Bad Request" if throttle else "Internal Server Error", {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid}, body
    # Smithy RPC v2 CBOR (CloudWatch, awsQueryCompatible: the query error code rides in a header).
    query_code = "Throttling;Sender" if throttle else "InternalFailure;Receiver"
    body = cbor_map({"__type": f"com.amazonaws.cloudwatch#{code}", "message": msg})
    return status, "Bad Request" if throttle else "Internal Server Error", {
        "Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor",
        "x-amzn-query-error": query_code, "x-amzn-RequestId": rid}, body


# ----------------------------------------------------------------------------- the server
class Handler(socketserver.StreamRequestHandler):
    timeout = 300  # an idle keep-alive client connection is dropped after this

    def read_request(self) -> tuple[str, str, str, list[tuple[str, str]], bytes] | None:
        line = self.rfile.readline(65537)
        if not line:
            return None
        while line in (b"\r\n", b"\n"):
            line = self.rfile.readline(65537)
            if not line:
                return None
        method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            h = self.rfile.readline(65537)
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        lower = {k.lower(): v for k, v in headers}
        body = b""
        if "chunked" in lower.get("transfer-encoding", "").lower():
            # Relay the chunked framing unchanged (it may carry aws-chunked signatures).
            raw = bytearray()
            while True:
                size_line = self.rfile.readline(65537)
                raw += size_line
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        t = self.rfile.readline(65537)
                        raw += t
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                raw += self.rfile.read(size + 2)
                if len(raw) > MAX_BODY:
                    raise ValueError("body too large")
            body = bytes(raw)
        elif "content-length" in lower:
            n = int(lower["content-length"])
            if n > MAX_BODY:
                raise ValueError("body too large")
            body = self.rfile.read(n)
        return method, target, version, headers, body

    def send(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes, head_only: bool = False,
             close: bool = False) -> None:
        out = [f"HTTP/1.1 {status} {reason}"]
        out += [f"{k}: {v}" for k, v in headers]
        if close:
            out.append("Connection: close")
        self.wfile.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
        if not head_only:
            self.wfile.write(body)
        self.wfile.flush()

    def reset(self) -> None:
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True

    def control(self, method: str, path: str, body: bytes) -> None:
        if method == "POST" and path == "/_faults/config":
            cfg = json.loads(body or b"{}")
            with STATE.lock:
                if "rate" in cfg:
                    STATE.rate = float(cfg["rate"])
                if "seed" in cfg:
                    STATE.seed = int(cfg["seed"])
                if "stall_seconds" in cfg:
                    STATE.stall = float(cfg["stall_seconds"])
                if "weights" in cfg:
                    STATE.weights = {k: float(v) for k, v in cfg["weights"].items() if k in KINDS}
                STATE.reset_counters()
        elif not (method == "GET" and path == "/_faults/stats"):
            self.send(404, "Not Found", [("Content-Length", "0")], b"")
            return
        out = json.dumps(STATE.stats()).encode()
        self.send(200, "OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))], out,
                  close=self.close_connection)

    def handle(self) -> None:
        self.close_connection = False
        while not self.close_connection:
            try:
                req = self.read_request()
            except (OSError, ValueError):
                return
            if req is None:
                return
            method, target, _version, headers, body = req
            path = urlsplit(target).path
            lower = {k.lower(): v for k, v in headers}
            if lower.get("connection", "").lower() == "close":
                self.close_connection = True
            if path.startswith("/_faults/"):
                self.control(method, path, body)
                continue
            proto = protocol(path, lower, body)
            identity = "\0".join([method, lower.get("host", "").rsplit(":", 1)[0], target, scope_of(lower),
                                  lower.get("x-amz-target", ""),
                                  body.decode("latin-1") if proto in ("query", "json") else ""])
            kind = STATE.draw(identity, service_of(lower))
            try:
                if kind == "reset":
                    self.reset()
                    return
                if kind == "stall":
                    self.stall()
                    return
                if kind in ("throttle", "internal"):
                    status, reason, hdrs, out = error_response(kind, proto)
                    hdrs["Content-Length"] = str(len(out))
                    self.send(status, reason, list(hdrs.items()), out, head_only=method == "HEAD")
                    continue
                self.forward(method, target, headers, body, lost=kind == "lost")
                if kind == "lost":
                    return
            except OSError:
                return

    def stall(self) -> None:
        """Answer nothing for STATE.stall seconds (or until the client gives up), then close."""
        deadline = time.monotonic() + STATE.stall
        self.connection.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                if self.connection.recv(4096, socket.MSG_PEEK) == b"":
                    break  # the client closed its end (its attempt timed out)
                time.sleep(0.2)
            except socket.timeout:
                continue
            except OSError:
                break
        self.close_connection = True

    def forward(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, lost: bool) -> None:
        conn = http.client.HTTPConnection(*UPSTREAM, timeout=120)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                conn.putheader(k, v)
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            if lost:
                self.reset()
                return
            head_only = method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
            out_headers = []
            for k, v in resp.getheaders():
                kl = k.lower()
                if kl in ("transfer-encoding", "connection", "keep-alive"):
                    continue
                if kl == "content-length" and not head_only:
                    continue
                out_headers.append((k, v))
            if not head_only:
                out_headers.append(("Content-Length", str(len(data))))
            self.send(resp.status, resp.reason, out_headers, data, head_only=head_only, close=self.close_connection)
        except (http.client.HTTPException, OSError) as exc:
            msg = f"faultproxy: upstream failed: {exc}".encode()
            self.send(502, "Bad Gateway", [("Content-Length", str(len(msg)))], msg, close=True)
            self.close_connection = True
        finally:
            conn.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main() -> int:
    global STATE, UPSTREAM
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stall", type=float, default=30.0, help="seconds a stalled request is held")
    ap.add_argument("--no-stdin-watch", action="store_true")
    args = ap.parse_args()
    u = urlsplit(args.upstream)
    UPSTREAM = (u.hostname or "localhost", u.port or 80)
    STATE = State(args.rate, args.seed, args.stall)
    server = Server(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"endpoint": f"http://localhost:{port}", "port": port}), flush=True)
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.no_stdin_watch:
        stop.wait()
    else:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
