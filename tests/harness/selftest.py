#!/usr/bin/env python3
"""Self-test of the emulator and the provisioner. TEST FIXTURE CHECK.

    .moto/bin/python tests/harness/selftest.py [--spec checks/seed.toml] [--quick]

Starts tests/harness/emulator.py as a subprocess, exercises every patch with boto3, provisions the
spec (correct set-up, then each defect), and checks the results. Prints one line per check and a
closing 'N passed, M failed'; exits non-zero on any failure. --quick skips the per-defect runs,
--defect NAME (repeatable) runs only those.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from typing import Any, Callable

import boto3
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PY = sys.executable
CFG = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})

_getaddrinfo = socket.getaddrinfo


def _loopback(host: Any, *a: Any, **k: Any) -> Any:  # <account-id>.localhost for s3control
    return _getaddrinfo("127.0.0.1" if isinstance(host, str) and host.endswith(".localhost") else host, *a, **k)


socket.getaddrinfo = _loopback

PASSED: list[str] = []
FAILED: list[str] = []


def check(name: str, ok: Any, detail: Any = "") -> bool:
    if ok:
        PASSED.append(name)
        print(f"ok   {name}", flush=True)
    else:
        FAILED.append(name)
        print(f"FAIL {name} {detail}", flush=True)
    return bool(ok)


def error_code(fn: Callable[[], Any]) -> str | None:
    try:
        fn()
    except ClientError as exc:
        return exc.response.get("Error", {}).get("Code") or str(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return None


def wait_for(fn: Callable[[], Any], timeout: float = 5.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
            if value:
                return value
        except ClientError:
            pass
        if time.monotonic() > deadline:
            return None
        time.sleep(step)


# ----------------------------------------------------------------------------- emulator process


class Emulator:
    def __init__(self) -> None:
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([PY, os.path.join(HERE, "emulator.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr)
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(30)
        if not line or not line[0]:
            raise SystemExit("emulator printed no JSON line within 30 s")
        self.info = json.loads(line[0])
        self.endpoint = self.info["endpoint"]

    def http(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                     headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def reset(self) -> None:
        self.http("POST", "/moto-api/reset", b"")
        self.http("POST", "/moto-api/reset-auth", b"inf", "text/plain")

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint, config=CFG,
                            aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def provision(emu: Emulator, spec: str, out_dir: str, defects: list[str] = ()) -> subprocess.CompletedProcess:
    args = [PY, os.path.join(HERE, "provision.py"), "--endpoint", emu.endpoint, "--spec", spec, "--out-dir", out_dir]
    for d in defects:
        args += ["--defect", d]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


class Profiles:
    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.creds = configparser.ConfigParser()
        self.creds.read(os.path.join(out_dir, "aws-credentials"))
        self.config = configparser.ConfigParser()
        self.config.read(os.path.join(out_dir, "aws-config"))
        self.provisioned = json.load(open(os.path.join(out_dir, "provisioned.json")))
        self.sessions: dict[str, Any] = {}
        self.clients: dict[tuple, Any] = {}
        os.environ["AWS_CONFIG_FILE"] = os.path.join(out_dir, "aws-config")
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(out_dir, "aws-credentials")

    def client(self, profile: str, service: str = "s3", region: str | None = None) -> Any:
        key = (profile, service, region)
        if key not in self.clients:
            if profile not in self.sessions:
                self.sessions[profile] = boto3.Session(profile_name=profile)
            self.clients[key] = self.sessions[profile].client(service, region_name=region, config=CFG)
        return self.clients[key]


# ----------------------------------------------------------------------------- 1. emulator patches, default account

FULL_V2 = {
    "Role": "arn:aws:iam::123456789012:role/r",
    "Rules": [
        {
            "ID": "and-rule", "Priority": 7, "Status": "Enabled",
            "Filter": {"And": {"Prefix": "p/", "Tags": [{"Key": "k", "Value": "v"}, {"Key": "k2", "Value": "v2"}]}},
            "DeleteMarkerReplication": {"Status": "Disabled"},
            "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"},
                                        "ReplicaModifications": {"Status": "Enabled"}},
            "ExistingObjectReplication": {"Status": "Enabled"},
            "Destination": {
                "Bucket": "arn:aws:s3:::st-dst-a", "Account": "123456789012", "StorageClass": "STANDARD_IA",
                "AccessControlTranslation": {"Owner": "Destination"},
                "EncryptionConfiguration": {"ReplicaKmsKeyID": "arn:aws:kms:us-east-1:123456789012:key/abc"},
                "ReplicationTime": {"Status": "Enabled", "Time": {"Minutes": 15}},
                "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}},
            },
        },
        {"ID": "tag-rule", "Priority": 3, "Status": "Disabled", "Filter": {"Tag": {"Key": "t", "Value": "1"}},
         "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": "arn:aws:s3:::st-dst-b"}},
        {"ID": "prefix-rule", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "reports/"},
         "DeleteMarkerReplication": {"Status": "Enabled"},
         "Destination": {"Bucket": "arn:aws:s3:::st-dst-b", "Metrics": {"Status": "Disabled"}}},
    ],
}
LEGACY_V1 = {"Role": "arn:aws:iam::123456789012:role/r",
             "Rules": [{"ID": "v1", "Prefix": "v1/", "Status": "Enabled",
                        "Destination": {"Bucket": "arn:aws:s3:::st-dst-a"}}]}


def mk_bucket(s3: Any, name: str, versioned: bool = True, kms: str | None = None) -> None:
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if kms:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms}}]})


def test_patches(emu: Emulator) -> None:
    s3 = emu.client("s3")
    status, state = emu.http("GET", "/_harness/replication")
    check("control: defaults", status == 200 and state["mode"] == "normal" and state["delay_seconds"] == 0.5, state)
    emu.http("POST", "/_harness/replication", {"mode": "normal", "delay_seconds": 0.2})
    status, _ = emu.http("POST", "/_harness/replication", {"mode": "bogus"})
    check("control: bad mode is 400", status == 400)

    # --- read-back round trip (gap 2)
    for name in ("st-src", "st-dst-a", "st-dst-b", "st-dst-unversioned"):
        mk_bucket(s3, name, versioned=name != "st-dst-unversioned",
                  kms="arn:aws:kms:us-east-1:123456789012:key/dst-default" if name == "st-dst-a" else None)
    s3.put_bucket_replication(Bucket="st-src", ReplicationConfiguration=FULL_V2)
    got = s3.get_bucket_replication(Bucket="st-src")["ReplicationConfiguration"]
    check("read-back: V2 config round-trips every field", got == FULL_V2, json.dumps(got))
    mk_bucket(s3, "st-legacy")
    s3.put_bucket_replication(Bucket="st-legacy", ReplicationConfiguration=LEGACY_V1)
    got = s3.get_bucket_replication(Bucket="st-legacy")["ReplicationConfiguration"]
    check("read-back: V1 (legacy Prefix) config round-trips", got == LEGACY_V1, json.dumps(got))

    # --- replication engine (gap 1): filters and priority. Destination StorageClass tells which rule won.
    s3.put_bucket_replication(Bucket="st-src", ReplicationConfiguration={"Role": "arn:aws:iam::123456789012:role/r", "Rules": [
        {"ID": "all-to-a", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
         "DeleteMarkerReplication": {"Status": "Enabled"},
         "Destination": {"Bucket": "arn:aws:s3:::st-dst-a", "StorageClass": "STANDARD"}},
        {"ID": "tag-to-a", "Priority": 3, "Status": "Enabled", "Filter": {"Tag": {"Key": "t", "Value": "1"}},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": "arn:aws:s3:::st-dst-a", "StorageClass": "STANDARD_IA"}},
        {"ID": "and-to-b", "Priority": 5, "Status": "Enabled",
         "Filter": {"And": {"Prefix": "p/", "Tags": [{"Key": "k", "Value": "v"}]}},
         "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": "arn:aws:s3:::st-dst-b"}},
        {"ID": "off-to-b", "Priority": 9, "Status": "Disabled", "Filter": {"Prefix": "q/"},
         "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": "arn:aws:s3:::st-dst-b"}},
        {"ID": "to-unversioned", "Priority": 2, "Status": "Enabled", "Filter": {"Prefix": "fail/"},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": "arn:aws:s3:::st-dst-unversioned"}},
    ]})
    s3.put_object(Bucket="st-src", Key="p/both", Body=b"both", Tagging="k=v&t=1", ContentType="text/csv",
                  Metadata={"owner": "l2"})
    s3.put_object(Bucket="st-src", Key="q/plain", Body=b"plain")
    s3.put_object(Bucket="st-src", Key="p/wrongtag", Body=b"x", Tagging="k=w")
    src_head = s3.head_object(Bucket="st-src", Key="p/both")
    check("engine: source PENDING right after the put", src_head.get("ReplicationStatus") == "PENDING", src_head.get("ReplicationStatus"))
    a = wait_for(lambda: s3.head_object(Bucket="st-dst-a", Key="p/both"))
    check("engine: tagged object replicated to A by the higher-priority tag rule",
          a and a.get("StorageClass") == "STANDARD_IA" and a.get("ReplicationStatus") == "REPLICA", a)
    b = wait_for(lambda: s3.head_object(Bucket="st-dst-b", Key="p/both"))
    check("engine: And{prefix,tags} rule replicates to its own destination B", b and b.get("ReplicationStatus") == "REPLICA")
    if a:
        check("engine: replica keeps version id, content-type, metadata, body, tags",
              a["VersionId"] == src_head["VersionId"] and a["ContentType"] == "text/csv"
              and a["Metadata"] == {"owner": "l2"}
              and s3.get_object(Bucket="st-dst-a", Key="p/both")["Body"].read() == b"both"
              and {(t["Key"], t["Value"]) for t in s3.get_object_tagging(Bucket="st-dst-a", Key="p/both")["TagSet"]}
              == {("k", "v"), ("t", "1")}, a)
    check("engine: source COMPLETED", wait_for(lambda: s3.head_object(Bucket="st-src", Key="p/both").get("ReplicationStatus") == "COMPLETED"))
    q = wait_for(lambda: s3.head_object(Bucket="st-dst-a", Key="q/plain"))
    check("engine: untagged object by the priority-1 catch-all rule (disabled rule ignored)",
          q and q.get("StorageClass") is None and error_code(lambda: s3.head_object(Bucket="st-dst-b", Key="q/plain")) == "404")
    check("engine: wrong tag value does not match the And rule",
          wait_for(lambda: s3.head_object(Bucket="st-dst-a", Key="p/wrongtag"))
          and error_code(lambda: s3.head_object(Bucket="st-dst-b", Key="p/wrongtag")) == "404")
    check("engine: unencrypted source object gets the destination's default encryption",
          q and q.get("ServerSideEncryption") == "aws:kms" and q.get("SSEKMSKeyId", "").endswith("dst-default"), q)

    s3.put_object(Bucket="st-src", Key="q/sse-s3", Body=b"x", ServerSideEncryption="AES256")
    r = wait_for(lambda: s3.head_object(Bucket="st-dst-a", Key="q/sse-s3"))
    check("engine: SSE-S3 replica stays SSE-S3 (destination default not applied)",
          r and r.get("ServerSideEncryption") == "AES256" and "SSEKMSKeyId" not in r, r)
    s3.put_object(Bucket="st-src", Key="q/kms", Body=b"x", ServerSideEncryption="aws:kms",
                  SSEKMSKeyId="arn:aws:kms:us-east-1:123456789012:key/src")
    time.sleep(0.6)
    check("engine: SSE-KMS object without SseKmsEncryptedObjects opt-in is not replicated, has no status",
          error_code(lambda: s3.head_object(Bucket="st-dst-a", Key="q/kms")) == "404"
          and "ReplicationStatus" not in s3.head_object(Bucket="st-src", Key="q/kms"))

    s3.copy_object(Bucket="st-src", Key="q/copied", CopySource={"Bucket": "st-src", "Key": "q/plain"})
    mpu = s3.create_multipart_upload(Bucket="st-src", Key="q/multi", ContentType="text/plain")
    part = s3.upload_part(Bucket="st-src", Key="q/multi", UploadId=mpu["UploadId"], PartNumber=1, Body=b"m" * 10)
    s3.complete_multipart_upload(Bucket="st-src", Key="q/multi", UploadId=mpu["UploadId"],
                                 MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    check("engine: CopyObject result replicated", wait_for(lambda: s3.head_object(Bucket="st-dst-a", Key="q/copied")))
    m = wait_for(lambda: s3.head_object(Bucket="st-dst-a", Key="q/multi"))
    check("engine: CompleteMultipartUpload result replicated with the same ETag",
          m and m["ETag"] == s3.head_object(Bucket="st-src", Key="q/multi")["ETag"], m)

    s3.put_object(Bucket="st-src", Key="fail/x", Body=b"x")
    check("engine: unversioned destination -> source FAILED, no replica",
          wait_for(lambda: s3.head_object(Bucket="st-src", Key="fail/x").get("ReplicationStatus") == "FAILED")
          and error_code(lambda: s3.head_object(Bucket="st-dst-unversioned", Key="fail/x")) == "404")

    # replicas are not replicated again: dst-a replicates everything back to st-src
    s3.put_bucket_replication(Bucket="st-dst-a", ReplicationConfiguration={"Role": "arn:aws:iam::123456789012:role/r", "Rules": [
        {"ID": "back", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
         "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": "arn:aws:s3:::st-src"}}]})
    s3.put_object(Bucket="st-src", Key="q/loop", Body=b"x")
    wait_for(lambda: s3.head_object(Bucket="st-dst-a", Key="q/loop"))
    time.sleep(0.5)
    versions = s3.list_object_versions(Bucket="st-src", Prefix="q/loop").get("Versions", [])
    check("engine: replicas are not re-replicated (bidirectional set-up)", len(versions) == 1, versions)
    s3.delete_bucket_replication(Bucket="st-dst-a")

    # delete markers
    vid = s3.head_object(Bucket="st-src", Key="q/plain")["VersionId"]
    s3.delete_object(Bucket="st-src", Key="q/plain")
    marker = wait_for(lambda: s3.list_object_versions(Bucket="st-dst-a", Prefix="q/plain").get("DeleteMarkers"))
    src_marker = s3.list_object_versions(Bucket="st-src", Prefix="q/plain")["DeleteMarkers"][0]
    check("engine: delete marker replicated (rule has DeleteMarkerReplication Enabled), same version id",
          marker and marker[0]["VersionId"] == src_marker["VersionId"]
          and error_code(lambda: s3.head_object(Bucket="st-dst-a", Key="q/plain")) == "404", marker)
    s3.delete_object(Bucket="st-src", Key="p/both", VersionId=src_head["VersionId"])
    time.sleep(0.6)
    check("engine: deleting a specific version is not replicated",
          s3.head_object(Bucket="st-dst-a", Key="p/both")["VersionId"] == src_head["VersionId"])
    s3.put_object(Bucket="st-src", Key="p/tagonly", Body=b"x", Tagging="t=1")
    wait_for(lambda: s3.head_object(Bucket="st-dst-a", Key="p/tagonly"))
    s3.delete_object(Bucket="st-src", Key="p/tagonly")
    time.sleep(0.6)
    check("engine: delete marker never replicated by a tag-based rule (catch-all rule wins for markers)",
          bool(s3.list_object_versions(Bucket="st-dst-a", Prefix="p/tagonly").get("DeleteMarkers")))
    # a V1 rule replicates delete markers
    s3.put_object(Bucket="st-legacy", Key="v1/x", Body=b"x")
    wait_for(lambda: s3.head_object(Bucket="st-dst-a", Key="v1/x"))
    s3.delete_object(Bucket="st-legacy", Key="v1/x")
    check("engine: V1 rule (no Filter) replicates delete markers",
          wait_for(lambda: s3.list_object_versions(Bucket="st-dst-a", Prefix="v1/x").get("DeleteMarkers")))

    # --- bucket-policy Deny is per caller (patch 3) and comes back as AccessDenied
    iam = emu.client("iam")
    iam.create_user(UserName="writer")
    iam.attach_user_policy(UserName="writer", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    wk = iam.create_access_key(UserName="writer")["AccessKey"]
    writer = boto3.client("s3", region_name="us-east-1", endpoint_url=emu.endpoint, config=CFG,
                          aws_access_key_id=wk["AccessKeyId"], aws_secret_access_key=wk["SecretAccessKey"])
    mk_bucket(s3, "st-policy")
    s3.put_bucket_policy(Bucket="st-policy", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::st-policy/in/*",
         "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:user/writer"}}}]}))
    check("deny: exempted principal may write", error_code(lambda: writer.put_object(Bucket="st-policy", Key="in/a", Body=b"x")) is None)
    check("deny: anyone else gets AccessDenied",
          error_code(lambda: s3.put_object(Bucket="st-policy", Key="in/a", Body=b"x")) == "AccessDenied")
    check("deny: a multipart upload is a PutObject too",
          error_code(lambda: s3.create_multipart_upload(Bucket="st-policy", Key="in/mpu")) == "AccessDenied")
    check("deny: outside the resource nobody is denied",
          error_code(lambda: s3.put_object(Bucket="st-policy", Key="out/a", Body=b"x")) is None)

    # --- KMS custom key id (patch 4)
    kms = emu.client("kms", "ap-southeast-2")
    key = kms.create_key(Tags=[{"TagKey": "_custom_key_id_", "TagValue": "11111111-2222-4333-8444-555555555555"},
                               {"TagKey": "team", "TagValue": "x"}])["KeyMetadata"]
    check("kms: _custom_key_id_ tag sets the key id",
          key["Arn"] == "arn:aws:kms:ap-southeast-2:123456789012:key/11111111-2222-4333-8444-555555555555"
          and kms.describe_key(KeyId="11111111-2222-4333-8444-555555555555")["KeyMetadata"]["KeyId"] == key["KeyId"]
          and kms.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "x"}], key)

    # --- control endpoint modes
    def mode_case(mode: str, key_name: str) -> dict:
        emu.http("POST", "/_harness/replication", {"mode": mode, "delay_seconds": 0.1})
        s3.put_object(Bucket="st-src", Key=key_name, Body=b"x")
        time.sleep(0.5)
        return s3.head_object(Bucket="st-src", Key=key_name)

    before = emu.http("GET", "/_harness/replication")[1]["counters"]
    h = mode_case("fail", "q/mode-fail")
    check("mode fail: FAILED, no replica, counter", h.get("ReplicationStatus") == "FAILED"
          and error_code(lambda: s3.head_object(Bucket="st-dst-a", Key="q/mode-fail")) == "404"
          and emu.http("GET", "/_harness/replication")[1]["counters"]["failed"] == before["failed"] + 1)
    h = mode_case("never", "q/mode-never")
    check("mode never: stays PENDING, no replica", h.get("ReplicationStatus") == "PENDING"
          and error_code(lambda: s3.head_object(Bucket="st-dst-a", Key="q/mode-never")) == "404")
    mode_case("wrong-key", "q/mode-wrong")
    r = s3.head_object(Bucket="st-dst-a", Key="q/mode-wrong")
    check("mode wrong-key: replica under another KMS key", r.get("ServerSideEncryption") == "aws:kms"
          and "dst-default" not in r.get("SSEKMSKeyId", "") and r.get("ReplicationStatus") == "REPLICA", r)
    state = emu.http("GET", "/_harness/replication")[1]
    check("control: counters count", state["counters"]["replicated"] >= 10 and state["counters"]["delete_markers_replicated"] >= 2
          and state["pending"] == 0, state)

    # --- reset
    emu.http("POST", "/moto-api/reset", b"")
    state = emu.http("GET", "/_harness/replication")[1]
    check("reset: harness state back to defaults", state == {"mode": "normal", "delay_seconds": 0.5,
          "counters": {"replicated": 0, "failed": 0, "delete_markers_replicated": 0}, "pending": 0}, state)
    check("reset: moto state gone", error_code(lambda: s3.head_bucket(Bucket="st-src")) == "404")


# ----------------------------------------------------------------------------- 2. s3control routing


def test_s3control_routing(emu: Emulator, prof: Profiles, spec: dict) -> None:
    """A signed request to plain localhost:PORT/v20180820/... reaches s3control (no <account>.localhost).

    Both signers: botocore's S3 signer (signs x-amz-content-sha256) and plain SigV4 (does not)."""
    acct = next(iter(spec["accounts"].values()))
    section = prof.creds[acct["credentials"]["profile"]]
    creds = Credentials(section["aws_access_key_id"], section["aws_secret_access_key"])
    for signer in (S3SigV4Auth, SigV4Auth):
        req = AWSRequest(method="GET", url=f"http://localhost:{emu.info['port']}/v20180820/configuration/publicAccessBlock",
                         headers={"x-amz-account-id": str(acct["account_id"])})
        signer(creds, "s3", acct["region"]).add_auth(req)
        try:
            with urllib.request.urlopen(urllib.request.Request(req.url, headers=dict(req.headers), method="GET"),
                                        timeout=10) as resp:
                status, body = resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode()
        check(f"s3control: /v20180820/ on plain localhost routed to s3control ({signer.__name__})",
              status == 200 and "<BlockPublicAcls>true</BlockPublicAcls>" in body, body[:300])


# ----------------------------------------------------------------------------- 3. the provisioned seed


def test_seed(emu: Emulator, prof: Profiles, spec: dict) -> None:
    p = prof.provisioned
    accounts = spec["accounts"]
    buckets = spec["buckets"]
    primary = next(r for r in spec["replication"] if r["id"] == p["primary_replication"]["id"])
    src_alias, rule = primary["source"], primary["rules"][0]
    src, dst = buckets[src_alias], buckets[rule["destination"]]
    src_prof = accounts[src["account"]]["credentials"]["profile"]
    dst_prof = accounts[dst["account"]]["credentials"]["profile"]
    s3_src, s3_dst = prof.client(src_prof), prof.client(dst_prof)
    emu.http("POST", "/_harness/replication", {"mode": "normal", "delay_seconds": 0.3})

    got = s3_src.get_bucket_replication(Bucket=src["name"])["ReplicationConfiguration"]
    r0 = got["Rules"][0]
    check("seed: replication read-back matches the spec",
          got["Role"] == spec["principals"][primary["role"]]["arn"] and r0["ID"] == rule["id"]
          and r0["Priority"] == rule["priority"] and r0["Filter"] == {"Prefix": rule["prefix"]}
          and r0["DeleteMarkerReplication"]["Status"] == "Enabled"
          and r0["Destination"]["Account"] == str(accounts[dst["account"]]["account_id"])
          and r0["Destination"]["ReplicationTime"] == {"Status": "Enabled", "Time": {"Minutes": 15}}
          and r0["Destination"]["EncryptionConfiguration"]["ReplicaKmsKeyID"] == rule["replica_kms_key_arn"]
          and r0["SourceSelectionCriteria"]["SseKmsEncryptedObjects"]["Status"] == "Enabled", json.dumps(got))
    check("seed: KMS keys have the spec's ARNs", sorted(p["kms_keys"]) == sorted({src["kms_key_arn"], rule["replica_kms_key_arn"]}))
    kms_dst = prof.client(dst_prof, "kms", rule["replica_kms_key_arn"].split(":")[3])
    kp = json.loads(kms_dst.get_key_policy(KeyId=rule["replica_kms_key_arn"].rsplit("/", 1)[1], PolicyName="default")["Policy"])
    principals = json.dumps(kp)
    check("seed: replica key policy lets the role encrypt and the readers decrypt",
          spec["principals"][primary["role"]]["arn"] in principals
          and all(spec["principals"][r]["arn"] in principals for r in spec["scenario_a"]["readers"]), principals)

    # sample object replicated during provisioning (scenario A: tom reads the replica)
    sample = spec["scenario_a"]["sample_key"]
    tom = prof.client(spec["principals"][spec["scenario_a"]["readers"][0]]["credentials"]["profile"])
    check("seed: scenario A reader opens the replicated sample", tom.get_object(Bucket=dst["name"], Key=sample)["Body"].read())

    # canary-like put by the scenario C uploader under the replicated prefix
    c = spec["scenario_c"]
    uploader = prof.client(spec["principals"][c["uploaders"][0]]["credentials"]["profile"])
    key = f"{rule['prefix']}selftest-{int(time.time() * 1000)}.txt"
    t0 = time.monotonic()
    uploader.put_object(Bucket=src["name"], Key=key, Body=b"canary", Tagging="canary=1", Metadata={"run": "selftest"})
    h = wait_for(lambda: s3_dst.head_object(Bucket=dst["name"], Key=key), timeout=5)
    check(f"seed: put under {rule['prefix']} replicated in {time.monotonic() - t0:.2f}s, REPLICA, replica KMS key",
          h and h.get("ReplicationStatus") == "REPLICA" and h.get("SSEKMSKeyId") == rule["replica_kms_key_arn"]
          and h.get("Metadata") == {"run": "selftest"}, h)
    check("seed: source COMPLETED", wait_for(lambda: s3_src.head_object(Bucket=src["name"], Key=key)["ReplicationStatus"] == "COMPLETED"))
    check("seed: object tags visible across accounts (source read by the destination account, replica by the source's)",
          s3_dst.get_object_tagging(Bucket=src["name"], Key=key)["TagSet"] == [{"Key": "canary", "Value": "1"}]
          and s3_src.get_object_tagging(Bucket=dst["name"], Key=key)["TagSet"] == [{"Key": "canary", "Value": "1"}])
    non = prof.client(spec["principals"][c["non_uploaders"][0]]["credentials"]["profile"])
    check("seed: non-uploader denied in the replicated prefix",
          error_code(lambda: non.put_object(Bucket=src["name"], Key=f"{rule['prefix']}intern.txt", Body=b"x")) == "AccessDenied")
    scratch = f"{spec['scenario_b']['unreplicated_prefix']}selftest.txt"
    non.put_object(Bucket=src["name"], Key=scratch, Body=b"x")
    time.sleep(0.8)
    check(f"seed: put under {spec['scenario_b']['unreplicated_prefix']} not replicated, no status",
          error_code(lambda: s3_dst.head_object(Bucket=dst["name"], Key=scratch)) == "404"
          and "ReplicationStatus" not in s3_src.head_object(Bucket=src["name"], Key=scratch))

    # access: allowed reader lists + reads the source, denied reader cannot
    allow = next(e for e in spec["access"] if e.get("allow"))
    deny = next(e for e in spec["access"] if e.get("deny"))
    reader = prof.client(spec["principals"][allow["principal"]]["credentials"]["profile"])
    denied = prof.client(spec["principals"][deny["principal"]]["credentials"]["profile"])
    check("seed: authorized reader lists and reads the source",
          reader.list_objects_v2(Bucket=src["name"]).get("KeyCount", 0) >= 1
          and reader.get_object(Bucket=src["name"], Key=allow["sample_key"])["Body"].read())
    check("seed: denied principal gets AccessDenied",
          error_code(lambda: denied.get_object(Bucket=src["name"], Key=deny["sample_key"])) == "AccessDenied"
          and error_code(lambda: denied.list_objects_v2(Bucket=src["name"])) == "AccessDenied")

    # delete marker replication on (primary rule)
    s3_src.delete_object(Bucket=src["name"], Key=key)
    check("seed: delete marker replicated (DeleteMarkerReplication Enabled)",
          wait_for(lambda: s3_dst.list_object_versions(Bucket=dst["name"], Prefix=key).get("DeleteMarkers")))
    # delete marker replication off (scenario D rule), and SSE-S3 stays SSE-S3
    d = spec["scenario_d"]
    logs, backup = buckets[d["log_bucket"]], buckets[d["backup_bucket"]]
    s3_logs = prof.client(accounts[logs["account"]]["credentials"]["profile"])
    s3_backup = prof.client(accounts[backup["account"]]["credentials"]["profile"])
    lk = f"{d['export_prefix']}selftest.log"
    s3_logs.put_object(Bucket=logs["name"], Key=lk, Body=b"log line\n")
    h = wait_for(lambda: s3_backup.head_object(Bucket=backup["name"], Key=lk))
    check("seed: log export replicated to the backup bucket as SSE-S3", h and h.get("ServerSideEncryption") == "AES256", h)
    s3_logs.delete_object(Bucket=logs["name"], Key=lk)
    time.sleep(0.8)
    check("seed: delete marker not replicated when the rule says Disabled",
          not s3_backup.list_object_versions(Bucket=backup["name"], Prefix=lk).get("DeleteMarkers")
          and s3_backup.head_object(Bucket=backup["name"], Key=lk))

    # CloudWatch Logs export (moto writes the objects itself) replicates like any other object
    lg = prof.client(accounts[logs["account"]]["credentials"]["profile"], "logs", d["logs_region"])
    group = d["log_groups"][0]
    lg.create_log_stream(logGroupName=group, logStreamName="selftest")
    now = int(time.time() * 1000)
    lg.put_log_events(logGroupName=group, logStreamName="selftest", logEvents=[{"timestamp": now, "message": "hello"}])
    lg.create_export_task(logGroupName=group, fromTime=now - 60000, to=now + 60000, destination=logs["name"],
                          destinationPrefix=d["export_prefix"].rstrip("/"))
    exported = s3_logs.list_objects_v2(Bucket=logs["name"], Prefix=d["export_prefix"]).get("Contents", [])
    check("seed: CloudWatch Logs export wrote under the export prefix", exported, exported)
    if exported:
        ek = exported[0]["Key"]
        h = wait_for(lambda: s3_backup.head_object(Bucket=backup["name"], Key=ek))
        check("seed: exported log object replicated to the backup bucket", h and h.get("ReplicationStatus") == "REPLICA", h)

    # account-level BPA through the SDK's <account>.localhost host, other services
    s3c = prof.client(src_prof, "s3control")
    check("seed: account-level BPA on", s3c.get_public_access_block(
        AccountId=str(accounts[src["account"]]["account_id"]))["PublicAccessBlockConfiguration"]["BlockPublicPolicy"])
    trail = p["trail"]
    ct = prof.client(src_prof, "cloudtrail", trail["region"])
    sel = ct.get_event_selectors(TrailName=trail["name"])
    wanted = [buckets[a]["name"] for a in spec.get("evidence", {}).get("data_events_for") or [src_alias]]
    check("seed: CloudTrail multi-region trail logging S3 data events",
          ct.get_trail_status(Name=trail["name"])["IsLogging"]
          and ct.get_trail(Name=trail["name"])["Trail"]["IsMultiRegionTrail"]
          and all(f"arn:aws:s3:::{n}/" in json.dumps(sel) for n in wanted), sel)
    ok = True
    for alias in spec.get("evidence", {}).get("config_recording_in") or list(accounts):
        acct = accounts[alias]
        cfg = prof.client(acct["credentials"]["profile"], "config")
        st = cfg.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
        ok = ok and st and st[0]["recording"] and cfg.describe_delivery_channels()["DeliveryChannels"]
    check("seed: AWS Config recorder recording + delivery channel in each account", ok)
    names = [g["logGroupName"] for g in lg.describe_log_groups()["logGroups"]]
    check("seed: scenario D log groups exist", all(g in names for g in d["log_groups"]), names)
    pol = s3_logs.get_bucket_policy(Bucket=logs["name"])["Policy"]
    check("seed: log bucket policy lets CloudWatch Logs write exports",
          f"logs.{d['logs_region']}.amazonaws.com" in pol and d["export_prefix"] in pol, pol)


# ----------------------------------------------------------------------------- 4. defects


def snapshot(prof: Profiles, spec: dict) -> dict[str, Any]:
    """Everything a defect may change, keyed by thing."""
    snap: dict[str, Any] = {}
    accounts = spec["accounts"]
    for alias, b in spec["buckets"].items():
        s3 = prof.client(accounts[b["account"]]["credentials"]["profile"])

        def get(fn: Callable[[], Any]) -> Any:
            try:
                out = fn()
                out.pop("ResponseMetadata", None)
                return out
            except ClientError as exc:
                return exc.response["Error"]["Code"]

        snap[f"bucket:{alias}:location"] = get(lambda: s3.get_bucket_location(Bucket=b["name"]))
        snap[f"bucket:{alias}:versioning"] = get(lambda: s3.get_bucket_versioning(Bucket=b["name"]))
        snap[f"bucket:{alias}:bpa"] = get(lambda: s3.get_public_access_block(Bucket=b["name"]))
        snap[f"bucket:{alias}:encryption"] = get(lambda: s3.get_bucket_encryption(Bucket=b["name"]))
        snap[f"bucket:{alias}:policy"] = get(lambda: json.loads(s3.get_bucket_policy(Bucket=b["name"])["Policy"]))
        snap[f"bucket:{alias}:replication"] = get(lambda: s3.get_bucket_replication(Bucket=b["name"]))
    for alias, a in accounts.items():
        s3c = prof.client(a["credentials"]["profile"], "s3control")
        try:
            snap[f"account:{alias}:bpa"] = s3c.get_public_access_block(AccountId=str(a["account_id"]))["PublicAccessBlockConfiguration"]
        except ClientError as exc:
            snap[f"account:{alias}:bpa"] = exc.response["Error"]["Code"]
    for alias, a in accounts.items():
        ct = prof.client(a["credentials"]["profile"], "cloudtrail", a["region"])
        trails = []
        for t in ct.describe_trails(includeShadowTrails=True)["trailList"]:
            trails.append([t["Name"], t["HomeRegion"], t["IsMultiRegionTrail"], t["S3BucketName"],
                           ct.get_event_selectors(TrailName=t["TrailARN"]).get("EventSelectors"),
                           ct.get_trail_status(Name=t["TrailARN"])["IsLogging"]])
        snap[f"account:{alias}:trails"] = sorted(trails, key=json.dumps)
        cfg = prof.client(a["credentials"]["profile"], "config", a["region"])
        snap[f"account:{alias}:config"] = [(r["name"], r["recording"])
                                           for r in cfg.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]]
    for alias, pr in spec["principals"].items():
        acct = next(a for a in accounts.values() if str(a["account_id"]) == pr["arn"].split(":")[4])
        iam = prof.client(acct["credentials"]["profile"], "iam")
        name = pr["arn"].rsplit("/", 1)[1]
        if ":role/" in pr["arn"]:
            snap[f"role:{alias}:trust"] = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
            snap[f"role:{alias}:policy"] = [iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"]
                                            for n in iam.list_role_policies(RoleName=name)["PolicyNames"]]
        else:
            snap[f"user:{alias}:policy"] = [iam.get_user_policy(UserName=name, PolicyName=n)["PolicyDocument"]
                                            for n in iam.list_user_policies(UserName=name)["PolicyNames"]]
    return snap


def statements(doc: Any) -> list[dict]:
    if isinstance(doc, str):
        return []
    st = doc.get("Statement", [])
    return st if isinstance(st, list) else [st]


def defect_expectations(spec: dict, primary: dict) -> dict[str, tuple[str, Callable[[Any, Profiles], bool]]]:
    src = primary["source"]
    dst = primary["rules"][0]["destination"]
    d = spec.get("scenario_d", {})
    deny = next(e for e in spec["access"] if e.get("deny"))
    allow = next(e for e in spec["access"] if e.get("allow"))
    role = primary["role"]
    region = spec["buckets"][src]["region"]
    src_acct = spec["buckets"][src]["account"]
    rules = lambda v: v["ReplicationConfiguration"]["Rules"] if isinstance(v, dict) else []  # noqa: E731

    def intern_can_upload(_: Any, prof: Profiles) -> bool:
        c = spec["scenario_c"]
        s3 = prof.client(spec["principals"][c["non_uploaders"][0]]["credentials"]["profile"])
        return error_code(lambda: s3.put_object(Bucket=spec["buckets"][c["bucket"]]["name"],
                                                Key=f"{c['prefixes'][0]}intern.txt", Body=b"x")) is None

    return {
        "wrong-region": (f"bucket:{src}:location", lambda v, _: v["LocationConstraint"] != region),
        "bpa-off": (f"bucket:{src}:bpa", lambda v, _: not any(v["PublicAccessBlockConfiguration"].values())),
        "account-bpa-off": (f"account:{src_acct}:bpa", lambda v, _: v == "NoSuchPublicAccessBlockConfiguration"),
        "dest-versioning-off": (f"bucket:{dst}:versioning", lambda v, _: v.get("Status") == "Suspended"),
        "role-wrong-trust": (f"role:{role}:trust", lambda v, _: "ec2.amazonaws.com" in json.dumps(v) and "s3.amazonaws.com" not in json.dumps(v)),
        "role-extra-trust": (f"role:{role}:trust", lambda v, _: "s3.amazonaws.com" in json.dumps(v) and '"AWS"' in json.dumps(v)),
        "role-missing-replicate-object": (f"role:{role}:policy", lambda v, _: "s3:ReplicateObject" not in json.dumps(v) and "s3:ReplicateDelete" in json.dumps(v)),
        "role-s3-admin": (f"role:{role}:policy", lambda v, _: any(s.get("Action") == "s3:*" and s.get("Resource") == "*" for doc in v for s in statements(doc))),
        "rtc-off": (f"bucket:{src}:replication", lambda v, _: all("ReplicationTime" not in r["Destination"] and "Metrics" not in r["Destination"] for r in rules(v))),
        "delete-markers-off": (f"bucket:{src}:replication", lambda v, _: all(r["DeleteMarkerReplication"]["Status"] == "Disabled" for r in rules(v))),
        "dest-policy-missing": (f"bucket:{dst}:policy", lambda v, _: v == "NoSuchBucketPolicy"),
        "clint-granted": (f"bucket:{src}:policy", lambda v, _: any(s["Effect"] == "Allow" and spec["principals"][deny["principal"]]["arn"] in json.dumps(s.get("Principal")) for s in statements(v))),
        "grant-star": (f"bucket:{src}:policy", lambda v, _: any(s["Effect"] == "Allow" and s.get("Principal") == "*" for s in statements(v))),
        "grant-account": (f"bucket:{src}:policy", lambda v, _: any(s.get("Principal") == {"AWS": f"arn:aws:iam::{spec['principals'][allow['principal']]['arn'].split(':')[4]}:root"} for s in statements(v))),
        "wrong-prefix": (f"bucket:{src}:replication", lambda v, _: all(r["Filter"]["Prefix"] != pr["prefix"] for r, pr in zip(rules(v), primary["rules"]))),
        "rule-disabled": (f"bucket:{src}:replication", lambda v, _: all(r["Status"] == "Disabled" for r in rules(v))),
        "no-owner-override": (f"bucket:{src}:replication", lambda v, _: all("AccessControlTranslation" not in r["Destination"] for r in rules(v))),
        "no-replica-key": (f"bucket:{src}:replication", lambda v, _: all("EncryptionConfiguration" not in r["Destination"] for r in rules(v))),
        "intern-can-upload": (f"bucket:{spec['scenario_c']['bucket']}:policy", intern_can_upload),
        "log-policy-no-service": (f"bucket:{d.get('log_bucket')}:policy", lambda v, _: '"Service"' not in json.dumps(v)),
        "backup-versioning-off": (f"bucket:{d.get('backup_bucket')}:versioning", lambda v, _: v.get("Status") == "Suspended"),
        "log-rule-wrong-prefix": (f"bucket:{d.get('log_bucket')}:replication", lambda v, _: all(r["Filter"]["Prefix"] != d["export_prefix"] for r in rules(v))),
        "no-replication": (f"bucket:{src}:replication", lambda v, _: v == "ReplicationConfigurationNotFoundError"),
    }


def test_defects(emu: Emulator, spec_path: str, spec: dict, baseline: dict, tmp: str, only: list[str]) -> None:
    sys.dont_write_bytecode = True
    sys.path.insert(0, HERE)
    from provision import DEFECTS  # noqa: E402

    primary = next(r for r in spec["replication"] if r["id"] == spec.get("scenario_b", {}).get("replication", spec["replication"][0]["id"]))
    expectations = defect_expectations(spec, primary)
    check("defects: every provisioner defect has a self-test expectation", set(expectations) == set(DEFECTS),
          set(DEFECTS) ^ set(expectations))
    for name in DEFECTS:
        if only and name not in only:
            continue
        emu.reset()
        out = os.path.join(tmp, f"defect-{name}")
        res = provision(emu, spec_path, out, [name])
        if not check(f"defect {name}: provisions", res.returncode == 0, res.stderr[-2000:]):
            continue
        prof = Profiles(out)
        snap = snapshot(prof, spec)
        changed = sorted(k for k in set(snap) | set(baseline) if snap.get(k) != baseline.get(k))
        key, predicate = expectations[name]
        check(f"defect {name}: changes exactly {key}", changed == [key], changed)
        check(f"defect {name}: {DEFECTS[name]}", predicate(snap.get(key), prof), snap.get(key))
        check(f"defect {name}: recorded in provisioned.json", prof.provisioned["defects"] == [name])


# ----------------------------------------------------------------------------- main


def test_lifecycle() -> None:
    emu = Emulator()
    info = emu.info
    check("emulator: JSON line with a localhost endpoint, port and pid",
          info["endpoint"] == f"http://localhost:{info['port']}" and info["pid"] == emu.proc.pid, info)
    emu.proc.stdin.close()
    try:
        rc = emu.proc.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
        emu.stop()
    check("emulator: exits (rc 0) when its stdin closes", rc == 0, rc)
    emu2 = Emulator()
    emu2.proc.send_signal(signal.SIGTERM)
    try:
        rc = emu2.proc.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
        emu2.stop()
    check("emulator: exits (rc 0) on SIGTERM", rc == 0, rc)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default=os.path.join(REPO, "checks", "seed.toml"))
    parser.add_argument("--quick", action="store_true", help="skip the per-defect provisioning runs")
    parser.add_argument("--defect", action="append", default=[], help="run only these defects (repeatable)")
    args = parser.parse_args()
    with open(args.spec, "rb") as fh:
        spec = tomllib.load(fh)
    started = time.monotonic()
    emu = Emulator()
    phases = {}
    try:
        with tempfile.TemporaryDirectory(prefix="replaudit-selftest-") as tmp:
            t = time.monotonic()
            test_patches(emu)
            phases["patches"] = time.monotonic() - t
            t = time.monotonic()
            emu.reset()
            res = provision(emu, args.spec, os.path.join(tmp, "seed"))
            phases["provision"] = time.monotonic() - t
            if check("provision: seed spec", res.returncode == 0 and not res.stdout, res.stderr[-3000:]):
                prof = Profiles(os.path.join(tmp, "seed"))
                creds_text = open(os.path.join(tmp, "seed", "aws-credentials")).read()
                check("provision: secrets stay out of stdout/stderr and provisioned.json",
                      all(line.split(" = ")[1] not in res.stderr + json.dumps(prof.provisioned)
                          for line in creds_text.splitlines() if line.startswith("aws_secret_access_key")))
                check("provision: credentials file is 0600",
                      os.stat(os.path.join(tmp, "seed", "aws-credentials")).st_mode & 0o777 == 0o600)
                t = time.monotonic()
                test_s3control_routing(emu, prof, spec)
                baseline = snapshot(prof, spec)
                test_seed(emu, prof, spec)
                phases["seed checks"] = time.monotonic() - t
                if not args.quick:
                    t = time.monotonic()
                    test_defects(emu, args.spec, spec, baseline, tmp, args.defect)
                    phases["defects"] = time.monotonic() - t
    finally:
        emu.stop()
    t = time.monotonic()
    test_lifecycle()
    phases["lifecycle"] = time.monotonic() - t
    total = time.monotonic() - started
    print("timing: " + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items()) + f", total {total:.1f}s")
    if FAILED:
        print("failed: " + "; ".join(FAILED))
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
