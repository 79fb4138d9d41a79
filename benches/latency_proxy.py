#!/usr/bin/env python3
"""Loopback proxy that adds a fixed delay to every request (a benchmark fixture).

    latency_proxy.py --upstream http://localhost:EMULATOR_PORT --delay-ms 50

It is tests/hardening/faultproxy.py with no faults (rate 0) and `--delay-ms` slept before each
request is forwarded: a cross-Region round trip in front of the emulator. Same banner
(`{"endpoint": ..., "port": ...}` on stdout), same control endpoint (`GET /_faults/stats` counts
the requests), same exit on stdin EOF or SIGTERM. With `--delay-ms 0` it only counts requests.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "hardening"))
import faultproxy  # noqa: E402


def main() -> int:
    argv = sys.argv[1:]
    delay = 0.0
    if "--delay-ms" in argv:
        i = argv.index("--delay-ms")
        delay = float(argv[i + 1]) / 1000.0
        del argv[i:i + 2]
    original = faultproxy.Handler.forward

    def forward(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if delay:
            time.sleep(delay)
        return original(self, *args, **kwargs)

    faultproxy.Handler.forward = forward
    faultproxy.Server.request_queue_size = 1024
    sys.argv = [sys.argv[0], *argv, "--rate", "0"]
    return faultproxy.main()


if __name__ == "__main__":
    sys.exit(main())
