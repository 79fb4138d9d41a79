"""Objects for tests/reconcile_emulator.rs: one per reconcile class, in a provisioned seed.

Usage: reconcile_fixture.py --endpoint URL --spec checks/seed.toml  (with AWS_CONFIG_FILE /
AWS_SHARED_CREDENTIALS_FILE of the provisioned set-up in the environment). Prints one JSON line:
{"<class>": {"key": ..., "version_id": ...}, ...}. Writes only through the S3 API (the replication
mode through /_harness/replication), except the size mismatch (patch 20, /_harness/object-tamper),
which the S3 API cannot produce.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
import urllib.request

import boto3
from botocore.config import Config


def control(endpoint: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(endpoint + path, data=data, headers={"Content-Type": "application/json"},
                                 method="GET" if body is None else "POST")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read().decode())


def idle(endpoint: str) -> None:
    for _ in range(2000):
        if control(endpoint, "/_harness/replication")["pending"] == 0:
            return
        time.sleep(0.05)
    raise SystemExit("replication did not go idle")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--bulk", type=int, default=0,
                    help="instead of one object per class, write this many replicating objects under reports/bulk/")
    a = ap.parse_args()
    with open(a.spec, "rb") as f:
        spec = tomllib.load(f)
    src = spec["buckets"]["source"]
    dst = spec["buckets"]["destination"]
    uploader = spec["principals"][spec["scenario_c"]["uploaders"][0]]["credentials"]["profile"]

    def s3(profile: str, region: str):
        return boto3.Session(profile_name=profile).client(
            "s3", region_name=region, endpoint_url=a.endpoint, config=Config(s3={"addressing_style": "path"}))

    owner_src = s3(spec["accounts"][src["account"]]["credentials"]["profile"], src["region"])
    owner_dst = s3(spec["accounts"][dst["account"]]["credentials"]["profile"], dst["region"])
    up = s3(uploader, src["region"])
    out: dict[str, dict[str, str]] = {}

    def put(cls: str, key: str, mode: str) -> str:
        control(a.endpoint, "/_harness/replication", {"mode": mode, "delay_seconds": 0.05})
        r = up.put_object(Bucket=src["name"], Key=key, Body=f"reconcile fixture {key}\n".encode())
        out[cls] = {"key": key, "version_id": r["VersionId"]}
        return r["VersionId"]

    if a.bulk:
        from concurrent.futures import ThreadPoolExecutor

        control(a.endpoint, "/_harness/replication", {"mode": "normal", "delay_seconds": 0.01})

        def one(i: int) -> None:
            up.put_object(Bucket=src["name"], Key=f"reports/bulk/{i:06d}.txt", Body=f"bulk {i}\n".encode())

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(a.bulk)))
        idle(a.endpoint)
        print(json.dumps({"bulk": a.bulk}))
        return 0

    put("intact", "reports/reconcile/intact.txt", "normal")
    put("failed", "reports/reconcile/failed.txt", "fail")
    put("pending", "reports/reconcile/pending.txt", "never")
    put("encryption", "reports/reconcile/wrong-key.txt", "wrong-key")
    vid = put("mismatched", "reports/reconcile/tampered.txt", "normal")
    missing = put("missing", "reports/reconcile/replica-deleted.txt", "normal")
    idle(a.endpoint)
    control(a.endpoint, "/_harness/replication", {"mode": "normal"})
    # The replica differs in size from its source (patch 20).
    control(a.endpoint, "/_harness/object-tamper",
            {"bucket": dst["name"], "key": out["mismatched"]["key"], "version_id": vid, "body": "tampered, longer"})
    # The replica was deleted at the destination (deleting a version is never replicated back).
    owner_dst.delete_object(Bucket=dst["name"], Key=out["missing"]["key"], VersionId=missing)
    # Written while the rule did not exist: no replication status, no replica.
    conf = owner_src.get_bucket_replication(Bucket=src["name"])["ReplicationConfiguration"]
    owner_src.delete_bucket_replication(Bucket=src["name"])
    put("never-eligible", "reports/reconcile/before-rule.txt", "normal")
    owner_src.put_bucket_replication(Bucket=src["name"], ReplicationConfiguration=conf)
    # Written into the destination directly: a version no source explains.
    r = owner_dst.put_object(Bucket=dst["name"], Key="reports/reconcile/orphan.txt", Body=b"no source\n")
    out["no-source"] = {"key": "reports/reconcile/orphan.txt", "version_id": r["VersionId"]}
    idle(a.endpoint)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
