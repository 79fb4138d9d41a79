#!/usr/bin/env python3
"""Runs a `replaudit fix` plan's commands.sh against the emulator through boto3, as the AWS CLI
would run it: each line `aws <service> <operation> --cli-input-json file://F --profile P` becomes
`Session(profile_name=P).client(<service>).<operation>(**json(F))`.

botocore validates every request against the service model before it sends it (the AWS CLI
uses the same models and the same validation), so a request file the CLI would refuse (an
unknown member, a missing required one, a wrong type) fails here, not only on real AWS.
Comment lines (changes the plan could not verify) are skipped. Usage:
  run_commands.py PLAN_DIR   (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE name the profiles)
Prints one line per command; exits 1 on the first failure, naming it.
"""
import json
import os
import shlex
import socket
import sys

import boto3
from botocore.config import Config

# S3 Control calls go to <account-id>.<endpoint host>: resolve *.localhost to loopback (as
# provision.py does).
_getaddrinfo = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: _getaddrinfo(
    "127.0.0.1" if isinstance(host, str) and host.endswith(".localhost") else host, *a, **k)

SERVICES = {"s3api": "s3", "s3control": "s3control", "iam": "iam", "kms": "kms"}


def main() -> int:
    plan = sys.argv[1]
    n = 0
    with open(os.path.join(plan, "commands.sh"), encoding="utf-8") as f:
        for line in f:
            if not line.startswith("aws "):
                continue
            argv = shlex.split(line)
            service, op = argv[1], argv[2]
            path = argv[argv.index("--cli-input-json") + 1].removeprefix("file://")
            profile = argv[argv.index("--profile") + 1]
            with open(os.path.join(plan, path), encoding="utf-8") as r:
                request = json.load(r)
            session = boto3.Session(profile_name=profile)
            client = session.client(SERVICES[service], config=Config(s3={"addressing_style": "path"}))
            try:
                getattr(client, op.replace("-", "_"))(**request)
            except Exception as e:  # noqa: BLE001 - named and fatal
                print(f"FAILED: {' '.join(argv[:3])} ({path}): {e}")
                return 1
            n += 1
            print(f"ok: {service} {op} {path}")
    print(f"{n} command(s) run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
