"""Loaded by Prowler's Python (PYTHONPATH) in `benches/scale.py` only: resolve `*.localhost` to loopback.

botocore sends S3 Control calls to `<account-id>.<endpoint host>` (the API's host prefix), so against an
emulator at `http://localhost:PORT` Prowler asks for `111122223333.localhost`. RFC 6761 section 6.3 says
names under `.localhost` resolve to loopback, and macOS and systemd-resolved do so, but glibc's resolver
here does not: without this Prowler spends its time on connection errors and retries that it would
not have against AWS, which would flatter replaudit in the comparison.
"""

import socket

_getaddrinfo = socket.getaddrinfo


def _loopback_getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_getaddrinfo
