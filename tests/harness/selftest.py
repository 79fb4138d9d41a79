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
import base64
import configparser
import datetime
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
            # moto's reset takes 11-13 s on this machine under load (measured): allow for it
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def reset(self) -> None:
        self.http("POST", "/moto-api/reset", b"")
        self.http("POST", "/moto-api/reset-auth", b"inf", "text/plain")
        self.unthrottle()

    def unthrottle(self) -> None:
        """The self-test reads CloudTrail history many times a second; patch 14's rate has its own check."""
        self.http("POST", "/_harness/lookup-rate", {"per_second": 10000})

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
    # several destinations replicate independently: FAILED as soon as one fails, the other replica still lands
    emu.http("POST", "/_harness/replication", {"mode": "normal", "delay_seconds": 0.1,
                                                "destination_delays": {"st-dst-a": 1.0}})
    s3.put_object(Bucket="st-src", Key="fail/y", Body=b"y")
    failed_early = wait_for(lambda: s3.head_object(Bucket="st-src", Key="fail/y").get("ReplicationStatus") == "FAILED",
                            timeout=0.8)
    no_replica_yet = error_code(lambda: s3.head_object(Bucket="st-dst-a", Key="fail/y")) == "404"
    late = wait_for(lambda: s3.head_object(Bucket="st-dst-a", Key="fail/y"), timeout=3)
    check("engine: several destinations: FAILED when one fails, before the other's (later) replica lands; stays FAILED",
          failed_early and no_replica_yet and late and late.get("ReplicationStatus") == "REPLICA"
          and s3.head_object(Bucket="st-src", Key="fail/y").get("ReplicationStatus") == "FAILED")
    emu.http("POST", "/_harness/replication", {"mode": "normal", "delay_seconds": 0.2})

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
          "destination_delays": {}, "counters": {"replicated": 0, "failed": 0, "delete_markers_replicated": 0}, "pending": 0}, state)
    check("reset: moto state gone", error_code(lambda: s3.head_bucket(Bucket="st-src")) == "404")
    check("reset: export task duration back to 0 (patch 16)",
          emu.http("GET", "/_harness/logs-export")[1] == {"duration_seconds": 0.0, "hold_until_refused": False})


# ----------------------------------------------------------------------------- 1c. SSE-KMS (patch 11), default account


def test_sse_kms_patch(emu: Emulator) -> None:
    """Patch 11: key ARNs on objects, S3 Bucket Keys and the encryption context, invalid replica keys."""
    emu.reset()
    emu.http("POST", "/_harness/replication", {"mode": "normal", "delay_seconds": 0.1})
    acct = "123456789012"
    s3 = emu.client("s3")
    kms1 = emu.client("kms", "us-east-1")
    kms2 = emu.client("kms", "us-west-2")
    src_key = kms1.create_key()["KeyMetadata"]
    kms1.create_alias(AliasName="alias/st-src", TargetKeyId=src_key["KeyId"])
    dst_key = kms1.create_key()["KeyMetadata"]
    kms1.create_alias(AliasName="alias/st-dst", TargetKeyId=dst_key["KeyId"])
    off_key = kms1.create_key()["KeyMetadata"]
    kms1.disable_key(KeyId=off_key["KeyId"])
    far_key = kms2.create_key()["KeyMetadata"]

    def bucket(name: str, key: str | None, bucket_key: bool) -> None:
        s3.create_bucket(Bucket=name)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if key:
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
                 "BucketKeyEnabled": bucket_key}]})

    bucket("st-kms-bk", "alias/st-src", True)     # default named by alias name, Bucket Key on
    bucket("st-kms-nobk", src_key["KeyId"], False)  # default named by bare key id, no Bucket Key
    bucket("st-kms-dst", dst_key["Arn"], True)
    bucket("st-kms-dst-nobk", None, False)
    for name in ("st-kms-bk", "st-kms-nobk"):
        s3.put_object(Bucket=name, Key="a/obj", Body=b"x")
    s3.put_object(Bucket="st-kms-nobk", Key="a/explicit", Body=b"x", ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=f"arn:aws:kms:us-east-1:{acct}:alias/st-dst")
    h_bk = s3.head_object(Bucket="st-kms-bk", Key="a/obj")
    h_nobk = s3.head_object(Bucket="st-kms-nobk", Key="a/obj")
    h_alias = s3.head_object(Bucket="st-kms-nobk", Key="a/explicit")
    check("sse-kms: HeadObject reports the key ARN whether the default named an alias or a bare key id, "
          "or the put an alias ARN",
          h_bk.get("SSEKMSKeyId") == src_key["Arn"] and h_nobk.get("SSEKMSKeyId") == src_key["Arn"]
          and h_alias.get("SSEKMSKeyId") == dst_key["Arn"], [h_bk.get("SSEKMSKeyId"), h_nobk.get("SSEKMSKeyId"),
                                                             h_alias.get("SSEKMSKeyId")])
    check("sse-kms: BucketKeyEnabled reported from the bucket's default",
          h_bk.get("BucketKeyEnabled") is True and h_nobk.get("BucketKeyEnabled") is False, [h_bk, h_nobk])
    calls = emu.http("GET", "/_harness/kms-usage")[1]["calls"]
    ctx = {c["for"]: c["encryption_context"] for c in calls if c["operation"] == "GenerateDataKey"}
    check("sse-kms: encryption context is the bucket ARN with an S3 Bucket Key, the object ARN without",
          ctx.get("s3://st-kms-bk/a/obj") == {"aws:s3:arn": "arn:aws:s3:::st-kms-bk"}
          and ctx.get("s3://st-kms-nobk/a/obj") == {"aws:s3:arn": "arn:aws:s3:::st-kms-nobk/a/obj"}, calls)

    role = f"arn:aws:iam::{acct}:role/st-replication"

    def replicate(src: str, dst: str, replica_key: str, prefix: str) -> None:
        s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": role, "Rules": [
            {"ID": prefix, "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": prefix},
             "DeleteMarkerReplication": {"Status": "Disabled"},
             "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
             "Destination": {"Bucket": f"arn:aws:s3:::{dst}",
                             "EncryptionConfiguration": {"ReplicaKmsKeyID": replica_key}}}]})

    # Bucket Key on the source only: the replica keeps it (bucket-key.html#bucket-key-replication)
    replicate("st-kms-bk", "st-kms-dst-nobk", f"arn:aws:kms:us-east-1:{acct}:alias/st-dst", "r/")
    s3.put_object(Bucket="st-kms-bk", Key="r/one", Body=b"x")
    r = wait_for(lambda: s3.head_object(Bucket="st-kms-dst-nobk", Key="r/one"))
    check("sse-kms: replica key named by alias ARN is reported as the key ARN; the replica keeps the source "
          "object's S3 Bucket Key", r and r.get("SSEKMSKeyId") == dst_key["Arn"] and r.get("BucketKeyEnabled") is True, r)
    calls = [c for c in emu.http("GET", "/_harness/kms-usage")[1]["calls"] if "r/one" in c["for"]]
    want = [("Decrypt", src_key["Arn"], "arn:aws:s3:::st-kms-bk"),
            ("Encrypt", dst_key["Arn"], "arn:aws:s3:::st-kms-dst-nobk"),
            ("Decrypt", dst_key["Arn"], "arn:aws:s3:::st-kms-dst-nobk")]
    got = [(c["operation"], c["key_arn"], c["encryption_context"]["aws:s3:arn"]) for c in calls
           if c["principal"] == role]
    check("sse-kms: the replication role decrypts in the source bucket's context and encrypts and decrypts (S3 "
          "Bucket Key) with the replica key in the destination bucket's context", got == want, calls)

    # No Bucket Key on the source, one on the destination: the replica uses one too (source *or* destination)
    replicate("st-kms-nobk", "st-kms-dst", dst_key["Arn"], "a/")
    s3.put_object(Bucket="st-kms-nobk", Key="a/two", Body=b"x")
    r = wait_for(lambda: s3.head_object(Bucket="st-kms-dst", Key="a/two"))
    check("sse-kms: a destination with an S3 Bucket Key gives the replica one",
          r and r.get("BucketKeyEnabled") is True and r.get("SSEKMSKeyId") == dst_key["Arn"], r)

    # invalid replica keys: replication FAILS (the PUT of the configuration succeeded)
    for label, key in (("disabled", off_key["Arn"]), ("in another Region", far_key["Arn"]),
                       ("unknown", f"arn:aws:kms:us-east-1:{acct}:alias/st-none")):
        replicate("st-kms-bk", "st-kms-dst-nobk", key, "r/")
        name = "r/" + label.replace(" ", "-")
        s3.put_object(Bucket="st-kms-bk", Key=name, Body=b"x")
        check(f"sse-kms: replica key {label} -> source FAILED, no replica",
              wait_for(lambda: s3.head_object(Bucket="st-kms-bk", Key=name).get("ReplicationStatus") == "FAILED")
              and error_code(lambda: s3.head_object(Bucket="st-kms-dst-nobk", Key=name)) == "404")
    check("kms: GetKeyPolicy takes a key id or key ARN, not an alias (moto, as AWS)",
          error_code(lambda: kms1.get_key_policy(KeyId=f"arn:aws:kms:us-east-1:{acct}:alias/st-src",
                                                 PolicyName="default")) == "NotFoundException"
          and kms1.get_key_policy(KeyId=src_key["Arn"], PolicyName="default")["Policy"])
    check("kms: DescribeKey resolves an alias ARN to the key ARN",
          kms1.describe_key(KeyId=f"arn:aws:kms:us-east-1:{acct}:alias/st-src")["KeyMetadata"]["Arn"] == src_key["Arn"])
    emu.http("POST", "/moto-api/reset", b"")
    check("reset: KMS usage cleared", emu.http("GET", "/_harness/kms-usage")[1]["calls"] == [])


# ----------------------------------------------------------------------------- 1b. evidence patches (7-9), default account

CW_PATH = "/service/GraniteServiceVersion20100801/operation/"


def cbor_call(endpoint: str, op: str, body: Any, creds: Credentials, region: str = "ap-southeast-1",
              raw_body: bytes | None = None) -> tuple[int, dict[str, str], Any, bytes]:
    """A hand-built Smithy RPC v2 CBOR request (cbor2 + SigV4), independent of any SDK's protocol code.
    Returns (status, headers, decoded body, raw body)."""
    import cbor2

    data = cbor2.dumps(body) if raw_body is None else raw_body
    url = endpoint + CW_PATH + op
    req = AWSRequest(method="POST", url=url, data=data, headers={
        "smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor", "Accept": "application/cbor"})
    SigV4Auth(creds, "monitoring", region).add_auth(req)
    r = urllib.request.Request(url, data=data, method="POST", headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            status, headers, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, headers, raw = exc.code, dict(exc.headers), exc.read()
    return status, headers, (cbor2.loads(raw) if raw else None), raw


def cbor_sdk_client(endpoint: str, region: str, key: str, secret: str) -> Any:
    """boto3's CloudWatch client forced onto botocore's own rpc-v2-cbor serializer/parser (botocore
    prefers JSON): a second, independent CBOR codec."""
    import botocore.model

    original = botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS
    botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = ("smithy-rpc-v2-cbor",) + tuple(original)
    try:
        client = boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint, config=CFG,
                              aws_access_key_id=key, aws_secret_access_key=secret)
        assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    finally:
        botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = original
    return client


def test_lookup_rate(emu: Emulator) -> None:
    """Patch 14: two LookupEvents per second per account and Region, then ThrottlingException. The window is
    stretched to 30 s for the check (same algorithm), so a slow machine cannot let the third call through."""
    emu.http("POST", "/moto-api/reset", b"")
    _, default = emu.http("GET", "/_harness/lookup-rate")
    check("lookup-rate: CloudTrail's documented rate by default (2 per 1 s)",
          default.get("per_second") == 2 and default.get("window_seconds") == 1.0, default)
    emu.http("POST", "/_harness/lookup-rate", {"per_second": 2, "window_seconds": 30})
    once = Config(retries={"max_attempts": 1, "mode": "standard"})
    ct = boto3.client("cloudtrail", region_name="ap-southeast-1", endpoint_url=emu.endpoint, config=once,
                      aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x")
    other = boto3.client("cloudtrail", region_name="ap-southeast-2", endpoint_url=emu.endpoint, config=once,
                         aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x")
    codes = [error_code(lambda: ct.lookup_events()) for _ in range(3)] + [error_code(lambda: other.lookup_events())]
    check("lookup-rate: a third LookupEvents within a second is ThrottlingException; another Region has its own "
          "quota", codes == [None, None, "ThrottlingException", None], codes)
    _, state = emu.http("GET", "/_harness/lookup-rate")
    # (botocore retries a throttled call once even with max_attempts 1: each refusal is counted)
    check("lookup-rate: GET counts the throttled calls", state.get("throttled", 0) >= 1 and state.get("per_second") == 2,
          state)
    emu.http("POST", "/_harness/lookup-rate", {"per_second": 2, "window_seconds": 0.5})
    time.sleep(0.6)
    check("lookup-rate: admitted again once the window has passed", error_code(lambda: ct.lookup_events()) is None)


def test_evidence_patches(emu: Emulator) -> None:
    import cbor2

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    creds = Credentials("AKIAIOSFODNN7EXAMPLE", "x")
    dims = [{"Name": "SourceBucket", "Value": "ev-src"}, {"Name": "DestinationBucket", "Value": "ev-dst"},
            {"Name": "RuleId", "Value": "r1"}]

    # --- patch 8: CloudWatch over RPC v2 CBOR, raw requests
    status, headers, body, _ = cbor_call(emu.endpoint, "PutMetricData", {"Namespace": "AWS/S3", "MetricData": [
        {"MetricName": "ReplicationLatency", "Dimensions": dims, "Unit": "Seconds", "Value": 12,
         "Timestamp": cbor2.CBORTag(1, int(now.timestamp()) - 1800)},
        {"MetricName": "ReplicationLatency", "Dimensions": dims, "Unit": "Seconds", "Value": 37.5,
         "Timestamp": cbor2.CBORTag(1, now.timestamp() - 600.25)}]}, creds)
    check("cbor: raw PutMetricData -> 200, Content-Type application/cbor, smithy-protocol rpc-v2-cbor",
          status == 200 and headers.get("Content-Type") == "application/cbor"
          and headers.get("smithy-protocol") == "rpc-v2-cbor" and body == {}, (status, headers, body))
    status, headers, body, raw = cbor_call(emu.endpoint, "GetMetricStatistics", {
        "Namespace": "AWS/S3", "MetricName": "ReplicationLatency", "Dimensions": dims, "Period": 86400,
        "StartTime": cbor2.CBORTag(1, int(now.timestamp()) - 86400), "EndTime": cbor2.CBORTag(1, int(now.timestamp())),
        "Statistics": ["Maximum", "SampleCount"]}, creds)
    points = (body or {}).get("Datapoints", [])
    check("cbor: raw GetMetricStatistics over a 24 h period -> one datapoint, Maximum and SampleCount as floats, "
          "Timestamp as CBOR tag 1 (epoch seconds)",
          status == 200 and len(points) == 1 and points[0]["Maximum"] == 37.5 and points[0]["SampleCount"] == 2.0
          and isinstance(points[0]["Maximum"], float) and isinstance(points[0]["Timestamp"], datetime.datetime)
          and b"iTimestamp\xc1" in raw  # the key "Timestamp", then tag 1 (epoch seconds), not tag 0 (a date string)
          and abs(points[0]["Timestamp"].timestamp() - (now.timestamp() - 1800)) < 2, body)
    status, headers, body, _ = cbor_call(emu.endpoint, "GetMetricStatistics", {
        "Namespace": "AWS/S3", "MetricName": "ReplicationLatency", "Period": 60, "Statistics": ["Maximum"],
        "StartTime": cbor2.CBORTag(1, int(now.timestamp())), "EndTime": cbor2.CBORTag(1, int(now.timestamp()) - 60)}, creds)
    check("cbor: a modeled error -> 400, __type shape id, x-amzn-query-error (awsQueryCompatible)",
          status == 400 and str((body or {}).get("__type", "")).endswith("#InvalidParameterValueException")
          and headers.get("x-amzn-query-error") == "InvalidParameterValue;Sender", (status, headers, body))
    status, _, body, _ = cbor_call(emu.endpoint, "NoSuchOperation", {}, creds)
    check("cbor: unknown operation -> 404 UnknownOperationException",
          status == 404 and str((body or {}).get("__type", "")).endswith("#UnknownOperationException"), body)
    status, _, body, _ = cbor_call(emu.endpoint, "GetMetricStatistics", None, creds, raw_body=b"\xff\x00garbage")
    check("cbor: undecodable body -> 400 SerializationException",
          status == 400 and str((body or {}).get("__type", "")).endswith("#SerializationException"), body)

    # the same through botocore's own CBOR codec (GetMetricData too)
    cw = cbor_sdk_client(emu.endpoint, "ap-southeast-1", "AKIAIOSFODNN7EXAMPLE", "x")
    cw.put_metric_data(Namespace="AWS/S3", MetricData=[
        {"MetricName": "OperationsFailedReplication", "Dimensions": dims, "Value": 2.0, "Unit": "Count",
         "Timestamp": now - datetime.timedelta(minutes=20)}])
    got = cw.get_metric_statistics(Namespace="AWS/S3", MetricName="OperationsFailedReplication", Dimensions=dims,
                                   StartTime=now - datetime.timedelta(hours=24), EndTime=now, Period=86400,
                                   Statistics=["Sum"])["Datapoints"]
    data = cw.get_metric_data(StartTime=now - datetime.timedelta(hours=2), EndTime=now, MetricDataQueries=[
        {"Id": "lat", "MetricStat": {"Metric": {"Namespace": "AWS/S3", "MetricName": "ReplicationLatency",
                                                "Dimensions": dims}, "Period": 7200, "Stat": "Maximum"}}])
    results = data["MetricDataResults"]
    check("cbor: botocore's rpc-v2-cbor client round-trips PutMetricData, GetMetricStatistics, GetMetricData",
          [d["Sum"] for d in got] == [2.0] and results and results[0]["Values"] == [37.5]
          and isinstance(results[0]["Timestamps"][0], datetime.datetime), (got, results))
    other = cbor_sdk_client(emu.endpoint, "ap-southeast-2", "AKIAIOSFODNN7EXAMPLE", "x")
    check("cbor: metrics are per region (the caller's SigV4 scope)",
          other.get_metric_statistics(Namespace="AWS/S3", MetricName="OperationsFailedReplication", Dimensions=dims,
                                      StartTime=now - datetime.timedelta(hours=24), EndTime=now, Period=86400,
                                      Statistics=["Sum"])["Datapoints"] == [])

    # --- patch 9: CloudTrail event history
    iam = emu.client("iam")
    iam.create_user(UserName="ev-ops")
    iam.attach_user_policy(UserName="ev-ops", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName="ev-ops")["AccessKey"]

    def ops(service: str, region: str = "ap-southeast-1") -> Any:
        return boto3.client(service, region_name=region, endpoint_url=emu.endpoint, config=CFG,
                            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])

    t0 = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    s3 = ops("s3")
    s3.create_bucket(Bucket="ev-a", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
    s3.put_bucket_versioning(Bucket="ev-a", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket="ev-a", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::ev-a", "arn:aws:s3:::ev-a/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    s3.put_public_access_block(Bucket="ev-a", PublicAccessBlockConfiguration={
        k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")})
    error_code(lambda: s3.put_bucket_policy(Bucket="ev-missing", Policy="{}"))  # fails: must not be recorded
    s3.get_bucket_policy(Bucket="ev-a")  # a read: not recorded
    ops("s3control").put_public_access_block(AccountId="123456789012", PublicAccessBlockConfiguration={
        k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")})
    ops("iam", "us-east-1").create_role(RoleName="ev-role", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))
    ops("iam", "us-east-1").put_role_policy(RoleName="ev-role", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    kms_key = ops("kms").create_key()["KeyMetadata"]
    ops("kms").disable_key(KeyId=kms_key["KeyId"])
    sts = emu.client("sts")
    role_creds = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/ev-role", RoleSessionName="ev-session")["Credentials"]
    as_role = boto3.client("s3", region_name="ap-southeast-1", endpoint_url=emu.endpoint, config=CFG,
                           aws_access_key_id=role_creds["AccessKeyId"], aws_secret_access_key=role_creds["SecretAccessKey"],
                           aws_session_token=role_creds["SessionToken"])
    as_role.put_bucket_encryption(Bucket="ev-a", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})

    ct = ops("cloudtrail")
    events = ct.lookup_events()["Events"]
    names = [e["EventName"] for e in events]
    check("cloudtrail: successful S3/s3control/KMS changes recorded newest first, failed calls and reads not",
          names == ["PutBucketEncryption", "DisableKey", "PutAccountPublicAccessBlock", "PutBucketPublicAccessBlock",
                    "PutBucketPolicy", "PutBucketVersioning"], names)
    by_name = {e["EventName"]: e for e in events}
    pol = by_name.get("PutBucketPolicy", {})
    detail = json.loads(pol.get("CloudTrailEvent", "{}"))
    check("cloudtrail: event fields as AWS (source, Username, Resources, CloudTrailEvent userIdentity/region/params, "
          "whole-second EventTime)",
          pol.get("EventSource") == "s3.amazonaws.com" and pol.get("Username") == "ev-ops"
          and pol.get("Resources") == [{"ResourceType": "AWS::S3::Bucket", "ResourceName": "ev-a"}]
          and pol.get("AccessKeyId") == key["AccessKeyId"] and pol.get("ReadOnly") == "false"
          and detail.get("userIdentity", {}).get("type") == "IAMUser"
          and detail["userIdentity"].get("arn") == "arn:aws:iam::123456789012:user/ev-ops"
          and detail["userIdentity"].get("accountId") == "123456789012" and detail.get("awsRegion") == "ap-southeast-1"
          and detail.get("eventID") == pol.get("EventId") and detail.get("requestParameters", {}).get("bucketName") == "ev-a"
          and "Statement" in json.dumps(detail["requestParameters"].get("bucketPolicy"))
          and t0 <= pol.get("EventTime") <= datetime.datetime.now(datetime.timezone.utc)
          and pol["EventTime"].microsecond == 0 and detail.get("eventTime", "").endswith(":%02dZ" % pol["EventTime"].second),
          pol)
    enc = json.loads(by_name.get("PutBucketEncryption", {}).get("CloudTrailEvent", "{}"))
    check("cloudtrail: an assumed-role caller is recorded with its assumed-role ARN and session name",
          by_name.get("PutBucketEncryption", {}).get("Username") == "ev-session"
          and enc.get("userIdentity", {}).get("type") == "AssumedRole"
          and enc["userIdentity"].get("arn") == "arn:aws:sts::123456789012:assumed-role/ev-role/ev-session"
          and enc["userIdentity"].get("sessionContext", {}).get("sessionIssuer", {}).get("arn")
          == "arn:aws:iam::123456789012:role/ev-role", enc)
    check("cloudtrail: KMS event names the key ARN",
          by_name.get("DisableKey", {}).get("Resources") == [{"ResourceType": "AWS::KMS::Key",
                                                                "ResourceName": kms_key["Arn"]}]
          and by_name["DisableKey"]["EventSource"] == "kms.amazonaws.com", by_name.get("DisableKey"))
    iam_events = ops("cloudtrail", "us-east-1").lookup_events()["Events"]
    check("cloudtrail: IAM role and user policy changes recorded in us-east-1 (global service), not CreateRole "
          "or CreateUser; user and policy resources named",
          [(e["EventName"], e["EventSource"], e["Resources"]) for e in iam_events]
          == [("PutRolePolicy", "iam.amazonaws.com", [{"ResourceType": "AWS::IAM::Role", "ResourceName": "ev-role"}]),
              ("AttachUserPolicy", "iam.amazonaws.com",
               [{"ResourceType": "AWS::IAM::User", "ResourceName": "ev-ops"},
                {"ResourceType": "AWS::IAM::Policy", "ResourceName": "arn:aws:iam::aws:policy/AdministratorAccess"}])],
          iam_events)
    check("cloudtrail: other regions have their own (empty) history",
          ops("cloudtrail", "ap-southeast-2").lookup_events()["Events"] == [])

    def lookup(key_: str, value: str) -> list[str]:
        return [e["EventName"] for e in ct.lookup_events(
            LookupAttributes=[{"AttributeKey": key_, "AttributeValue": value}])["Events"]]

    check("cloudtrail: LookupAttributes EventName / ResourceName / Username / EventSource filter",
          lookup("EventName", "PutBucketPolicy") == ["PutBucketPolicy"]
          and lookup("ResourceName", "ev-a") == ["PutBucketEncryption", "PutBucketPublicAccessBlock", "PutBucketPolicy",
                                                 "PutBucketVersioning"]
          and lookup("Username", "ev-session") == ["PutBucketEncryption"]
          and lookup("EventSource", "kms.amazonaws.com") == ["DisableKey"])
    past = ct.lookup_events(StartTime=t0 - datetime.timedelta(days=2), EndTime=t0 - datetime.timedelta(days=1))["Events"]
    pages = [[e["EventName"] for e in pg["Events"]]
             for pg in ct.get_paginator("lookup_events").paginate(PaginationConfig={"PageSize": 4})]
    check("cloudtrail: StartTime/EndTime window and MaxResults/NextToken paging",
          past == [] and [len(p) for p in pages] == [4, 2] and sum(pages, []) == names, pages)
    errors = [error_code(lambda: ct.lookup_events(LookupAttributes=[
                  {"AttributeKey": "EventName", "AttributeValue": "a"}, {"AttributeKey": "Username", "AttributeValue": "b"}])),
              error_code(lambda: ct.lookup_events(MaxResults=51)),
              error_code(lambda: ct.lookup_events(NextToken="bogus")),
              error_code(lambda: ct.lookup_events(StartTime=t0, EndTime=t0 - datetime.timedelta(hours=1)))]
    check("cloudtrail: LookupEvents errors as AWS", errors == ["InvalidLookupAttributesException",
          "InvalidMaxResultsException", "InvalidNextTokenException", "InvalidTimeRangeException"], errors)

    # --- patch 10: AWS Config managed-rule compliance
    s3.create_bucket(Bucket="ev-b", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
    ops("s3", "ap-southeast-2").create_bucket(Bucket="ev-elsewhere",
                                              CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
    s3.put_bucket_versioning(Bucket="ev-b", VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_replication(Bucket="ev-a", ReplicationConfiguration={"Role": "arn:aws:iam::123456789012:role/ev-role",
        "Rules": [{"ID": "x", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": "arn:aws:s3:::ev-elsewhere"}}]})
    cfg = ops("config")
    rules = ["S3_BUCKET_REPLICATION_ENABLED", "S3_BUCKET_VERSIONING_ENABLED", "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED",
             "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", "S3_BUCKET_SSL_REQUESTS_ONLY"]
    for r in rules:
        cfg.put_config_rule(ConfigRule={"ConfigRuleName": r.lower().replace("_", "-"), "Source": {
            "Owner": "AWS", "SourceIdentifier": r}, "Scope": {"ComplianceResourceTypes": ["AWS::S3::Bucket"]}})
    cfg.put_config_rule(ConfigRule={"ConfigRuleName": "xregion", "Source": {
        "Owner": "AWS", "SourceIdentifier": "S3_BUCKET_REPLICATION_ENABLED"},
        "InputParameters": json.dumps({"ReplicationType": "SAME-REGION"})})

    def results(rule: str, **kw: Any) -> dict[str, str]:
        out = cfg.get_compliance_details_by_config_rule(ConfigRuleName=rule, **kw)["EvaluationResults"]
        return {r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"]: r["ComplianceType"]
                for r in out}

    check("config: no recorder -> no evaluations", results("s3-bucket-versioning-enabled") == {})
    cfg.put_configuration_recorder(ConfigurationRecorder={"name": "default", "roleARN": "arn:aws:iam::123456789012:role/c",
                                                          "recordingGroup": {"allSupported": True}})
    cfg.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "ev-b"})
    cfg.start_configuration_recorder(ConfigurationRecorderName="default")
    got = {r.lower().replace("_", "-"): results(r.lower().replace("_", "-")) for r in rules}
    want = {
        "s3-bucket-replication-enabled": {"ev-a": "COMPLIANT", "ev-b": "NON_COMPLIANT"},
        "s3-bucket-versioning-enabled": {"ev-a": "COMPLIANT", "ev-b": "NON_COMPLIANT"},
        "s3-bucket-level-public-access-prohibited": {"ev-a": "COMPLIANT", "ev-b": "NON_COMPLIANT"},
        "s3-bucket-server-side-encryption-enabled": {"ev-a": "COMPLIANT", "ev-b": "NON_COMPLIANT"},
        "s3-bucket-ssl-requests-only": {"ev-a": "COMPLIANT", "ev-b": "NON_COMPLIANT"},
    }
    check("config: the five managed rules evaluated per bucket of the rule's region, as documented", got == want, got)
    check("config: rule parameters honoured (ReplicationType SAME-REGION vs a cross-region rule)",
          results("xregion") == {"ev-a": "NON_COMPLIANT", "ev-b": "NON_COMPLIANT"}, results("xregion"))
    detail = cfg.get_compliance_details_by_config_rule(ConfigRuleName="s3-bucket-versioning-enabled")["EvaluationResults"][0]
    check("config: evaluation result shape (qualifier, resource type, timestamps)",
          detail["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceType"] == "AWS::S3::Bucket"
          and isinstance(detail["ResultRecordedTime"], datetime.datetime), detail)
    summary = {r["ConfigRuleName"]: r["Compliance"] for r in cfg.describe_compliance_by_config_rule(
        ConfigRuleNames=["s3-bucket-versioning-enabled"])["ComplianceByConfigRules"]}
    check("config: DescribeComplianceByConfigRule summarises (NON_COMPLIANT, contributor count)",
          summary == {"s3-bucket-versioning-enabled": {"ComplianceType": "NON_COMPLIANT", "ComplianceContributorCount": {
              "CappedCount": 1, "CapExceeded": False}}}, summary)
    check("config: ComplianceTypes filter and Limit/NextToken paging",
          results("s3-bucket-versioning-enabled", ComplianceTypes=["COMPLIANT"]) == {"ev-a": "COMPLIANT"}
          and [len(p["EvaluationResults"]) for p in cfg.get_paginator("get_compliance_details_by_config_rule").paginate(
              ConfigRuleName="s3-bucket-versioning-enabled", PaginationConfig={"PageSize": 1})] == [1, 1])
    check("config: unknown rule -> NoSuchConfigRuleException",
          error_code(lambda: cfg.get_compliance_details_by_config_rule(ConfigRuleName="nope")) == "NoSuchConfigRuleException")
    status, pinned = emu.http("POST", "/_harness/config-override", {"account": "123456789012",
                              "rule": "s3-bucket-versioning-enabled", "resource": "ev-a", "compliance": "NON_COMPLIANT"})
    check("config-override: pins a result", status == 200 and results("s3-bucket-versioning-enabled")["ev-a"] == "NON_COMPLIANT",
          pinned)
    bad = emu.http("POST", "/_harness/config-override", {"account": "1", "rule": "r", "resource": "b", "compliance": "X"})[0]
    emu.http("POST", "/_harness/config-override", {"account": "123456789012", "rule": "s3-bucket-versioning-enabled",
                                                    "resource": "ev-a", "compliance": None})
    check("config-override: 400 on bad input; compliance null unpins",
          bad == 400 and results("s3-bucket-versioning-enabled")["ev-a"] == "COMPLIANT")
    emu.http("POST", "/_harness/config-override", {"account": "123456789012", "rule": "s3-bucket-versioning-enabled",
                                                    "resource": "ev-a", "compliance": "NON_COMPLIANT"})
    cfg.stop_configuration_recorder(ConfigurationRecorderName="default")
    check("config: stopped recorder -> no evaluations", results("s3-bucket-versioning-enabled") == {})

    emu.http("POST", "/moto-api/reset", b"")
    check("reset: CloudTrail history and Config overrides cleared",
          emu.client("cloudtrail", "ap-southeast-1").lookup_events()["Events"] == []
          and emu.http("GET", "/_harness/config-override")[1] == {"overrides": []})


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
    role_arn = spec["principals"][primary["role"]]["arn"]
    role_grant = [st for st in kp["Statement"] if role_arn in json.dumps(st.get("Principal"))]
    check("seed: with S3 Bucket Keys the replica key policy gives the role kms:Encrypt and kms:Decrypt",
          any(sorted(st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
              == ["kms:Decrypt", "kms:Encrypt"] for st in role_grant), role_grant)

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
    uses = [c for c in emu.http("GET", "/_harness/kms-usage")[1]["calls"] if key in c["for"]]
    check("seed: S3 Bucket Keys on both buckets -> the object, and the role's KMS requests for its replica, use the "
          "bucket ARNs as encryption context",
          h and h.get("BucketKeyEnabled") is True and uses
          and {(c["operation"], c["encryption_context"]["aws:s3:arn"]) for c in uses}
          == {("GenerateDataKey", f"arn:aws:s3:::{src['name']}"), ("Decrypt", f"arn:aws:s3:::{src['name']}"),
              ("Encrypt", f"arn:aws:s3:::{dst['name']}"), ("Decrypt", f"arn:aws:s3:::{dst['name']}")}, uses)
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

    # --- AWS's own evidence (patches 8-10 against the provisioned seed)
    ev = spec.get("evidence", {})
    tb = p["trail"]["bucket"]
    s3_trail = prof.client(src_prof, "s3", trail["region"])
    check("seed: trail delivery bucket has a non-public policy and Block Public Access on",
          s3_trail.get_bucket_policy_status(Bucket=tb)["PolicyStatus"]["IsPublic"] is False
          and all(s3_trail.get_public_access_block(Bucket=tb)["PublicAccessBlockConfiguration"].values()))
    expected_rules = ["s3-bucket-replication-enabled", "s3-bucket-versioning-enabled",
                      "s3-bucket-level-public-access-prohibited", "s3-bucket-server-side-encryption-enabled",
                      "s3-bucket-ssl-requests-only"]
    ok, seen = True, {}
    for alias in ev.get("config_recording_in") or list(accounts):
        acct = accounts[alias]
        cfg = prof.client(acct["credentials"]["profile"], "config", acct["region"])
        deployed = {r["ConfigRuleName"]: r["Source"]["SourceIdentifier"] for r in cfg.describe_config_rules()["ConfigRules"]}
        ok = ok and sorted(deployed) == sorted(expected_rules)
        for rule_name in expected_rules:
            for r in cfg.get_compliance_details_by_config_rule(ConfigRuleName=rule_name, Limit=100)["EvaluationResults"]:
                q = r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]
                seen[(rule_name, q["ResourceId"])] = r["ComplianceType"]
    src_name = src["name"]
    check("seed: the five managed Config rules deployed in each recording account", ok)
    check("seed: Config evaluates the source as replicating, versioned, private, encrypted, TLS-only",
          {r: seen.get((r, src_name)) for r in expected_rules} == {
              "s3-bucket-replication-enabled": "COMPLIANT", "s3-bucket-versioning-enabled": "COMPLIANT",
              "s3-bucket-level-public-access-prohibited": "COMPLIANT",
              "s3-bucket-server-side-encryption-enabled": "COMPLIANT", "s3-bucket-ssl-requests-only": "COMPLIANT"},
          {r: seen.get((r, src_name)) for r in expected_rules})
    check("seed: Config evaluates the destination (another account/region) with its own recorder: no replication",
          seen.get(("s3-bucket-replication-enabled", dst["name"])) == "NON_COMPLIANT"
          and seen.get(("s3-bucket-versioning-enabled", dst["name"])) == "COMPLIANT", seen)

    # metrics as the Rust collector asks for them: GetMetricStatistics over CBOR, period = the 24 h window
    section = prof.creds[src_prof]
    now = datetime.datetime.now(datetime.timezone.utc)
    ok, got = True, {}
    for rep in spec["replication"]:
        rb = buckets[rep["source"]]
        if rb["account"] != src["account"] or rb["region"] != src["region"]:
            continue
        for r in rep["rules"]:
            if not (r.get("rtc") or r.get("metrics")):
                continue
            dims = [{"Name": "SourceBucket", "Value": rb["name"]},
                    {"Name": "DestinationBucket", "Value": buckets[r["destination"]]["name"]},
                    {"Name": "RuleId", "Value": r["id"]}]
            stats = {}
            for metric, stat in (("ReplicationLatency", "Maximum"), ("OperationsPendingReplication", "Maximum"),
                                 ("OperationsFailedReplication", "Sum"), ("BytesPendingReplication", "Maximum")):
                # Where S3 publishes each: failures in the source's Region, the rest in the destination's.
                where = rb["region"] if metric == "OperationsFailedReplication" else \
                    buckets[r["destination"]]["region"]
                cw = cbor_sdk_client(emu.endpoint, where, section["aws_access_key_id"],
                                     section["aws_secret_access_key"])
                pts = cw.get_metric_statistics(Namespace="AWS/S3", MetricName=metric, Dimensions=dims, Period=86400,
                                               StartTime=now - datetime.timedelta(hours=24), EndTime=now,
                                               Statistics=[stat, "SampleCount"])["Datapoints"]
                stats[metric] = (len(pts), pts[0][stat] if pts else None, pts[0]["SampleCount"] if pts else None)
            got[r["id"]] = stats
            ok = ok and stats["ReplicationLatency"][0] == 1 and 2 <= stats["ReplicationLatency"][1] <= 40 \
                and stats["ReplicationLatency"][2] == 6 and 0 <= stats["OperationsPendingReplication"][1] <= 3 \
                and stats["OperationsFailedReplication"][1] == 0 and stats["BytesPendingReplication"][0] == 1
    check("seed: RTC metrics per rule (latency 2-40 s, pending 0-3 in the destination's Region, no failures in the "
          "source's), one datapoint for a 24 h period over CBOR", ok and got, got)

    # IAM enforcement is on: the CBOR shim authenticates and authorizes like moto does
    status, _, body, _ = cbor_call(emu.endpoint, "ListMetrics", {}, Credentials(section["aws_access_key_id"], "wrong"),
                                   src["region"])
    check("seed: CBOR request with a bad signature -> 403 SignatureDoesNotMatch (CBOR error)",
          status == 403 and str((body or {}).get("__type", "")).endswith("SignatureDoesNotMatch"), (status, body))
    reader = next(a["principal"] for a in spec["access"] if a.get("allow"))
    rsec = prof.creds[spec["principals"][reader]["credentials"]["profile"]]
    status, _, body, _ = cbor_call(emu.endpoint, "ListMetrics", {},
                                   Credentials(rsec["aws_access_key_id"], rsec["aws_secret_access_key"]), src["region"])
    check("seed: CBOR request by a principal without cloudwatch permissions -> 403 AccessDenied (CBOR error)",
          status == 403 and "AccessDenied" in str((body or {}).get("__type", "")), (status, body))

    # the provisioning itself left a change history
    ct = prof.client(src_prof, "cloudtrail", src["region"])
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": src_name}])["Events"]
    admin_arn = p["accounts"][src["account"]]["admin_user_arn"]
    check("seed: CloudTrail history has the provisioning's changes to the source, by the account's admin",
          {"PutBucketReplication", "PutBucketPolicy", "PutBucketPublicAccessBlock", "PutBucketVersioning"}
          <= {e["EventName"] for e in events}
          and all(json.loads(e["CloudTrailEvent"])["userIdentity"]["arn"] == admin_arn for e in events),
          [e["EventName"] for e in events])
    role_alias = primary["role"]
    role_name = spec["principals"][role_alias]["arn"].rsplit("/", 1)[1]
    iam_events = prof.client(src_prof, "cloudtrail", "us-east-1").lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": role_name}])["Events"]
    check("seed: the replication role's PutRolePolicy recorded in us-east-1",
          [e["EventName"] for e in iam_events] == ["PutRolePolicy"], iam_events)


# ----------------------------------------------------------------------------- 4. defects


def test_canary_patches(emu: Emulator, prof: Profiles, spec: dict) -> None:
    """Patches 2 (several destinations, replica metadata), 11 and 12: what the canary relies on."""
    accounts, buckets = spec["accounts"], spec["buckets"]
    p = prof.provisioned
    primary = next(r for r in spec["replication"] if r["id"] == p["primary_replication"]["id"])
    src, dst = buckets[primary["source"]], buckets[primary["rules"][0]["destination"]]
    src_prof = accounts[src["account"]]["credentials"]["profile"]
    dst_prof = accounts[dst["account"]]["credentials"]["profile"]
    s3_src, s3_dst = prof.client(src_prof), prof.client(dst_prof)
    uploader = prof.client(spec["principals"][spec["scenario_c"]["uploaders"][0]]["credentials"]["profile"])
    prefix = primary["rules"][0]["prefix"]

    # patch 2: the replica keeps the source's Last-Modified (creation time), version id, metadata and tags
    emu.http("POST", "/_harness/replication", {"mode": "normal", "delay_seconds": 1.2})
    key = f"{prefix}selftest-lm-{int(time.time() * 1000)}"
    uploader.put_object(Bucket=src["name"], Key=key, Body=b"x", Tagging="t=1", Metadata={"m": "1"})
    h = wait_for(lambda: s3_dst.head_object(Bucket=dst["name"], Key=key), timeout=5)
    sh = s3_src.head_object(Bucket=src["name"], Key=key)
    check("patch 2: replica keeps the source's LastModified, version id, metadata and tags (written 1.2 s later)",
          h and h["LastModified"] == sh["LastModified"] and h["VersionId"] == sh["VersionId"]
          and h.get("Metadata") == {"m": "1"}
          and s3_dst.get_object_tagging(Bucket=dst["name"], Key=key)["TagSet"] == [{"Key": "t", "Value": "1"}],
          (h, sh))
    emu.http("POST", "/_harness/replication", {"mode": "normal", "delay_seconds": 0.3})

    # patch 15: a missing key is 404 only for a caller allowed s3:ListBucket, else 403
    iam = prof.client(dst_prof, "iam", "us-east-1")
    user = f"selftest-getonly-{int(time.time() * 1000)}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="get", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                "Resource": f"arn:aws:s3:::{dst['name']}/*"}]}))
    k = iam.create_access_key(UserName=user)["AccessKey"]
    getonly = boto3.client("s3", region_name=dst["region"], endpoint_url=emu.endpoint, config=CFG,
                           aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"])
    missing = f"{prefix}selftest-missing"
    check("patch 15: HEAD of a missing key without s3:ListBucket -> 403",
          error_code(lambda: getonly.head_object(Bucket=dst["name"], Key=missing)) == "403")
    check("patch 15: GET of a missing key without s3:ListBucket -> AccessDenied",
          error_code(lambda: getonly.get_object(Bucket=dst["name"], Key=missing)) == "AccessDenied")
    check("patch 15: the existing key is still readable with s3:GetObject alone",
          getonly.head_object(Bucket=dst["name"], Key=key)["VersionId"] == sh["VersionId"])
    check("patch 15: HEAD of a missing key with s3:ListBucket (admin) -> 404",
          error_code(lambda: s3_dst.head_object(Bucket=dst["name"], Key=missing)) == "404")
    iam.put_user_policy(UserName=user, PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket",
                                                "Resource": f"arn:aws:s3:::{dst['name']}"}]}))
    check("patch 15: ... and 404 once the user is allowed s3:ListBucket on the bucket",
          error_code(lambda: getonly.head_object(Bucket=dst["name"], Key=missing)) == "404"
          and error_code(lambda: getonly.get_object(Bucket=dst["name"], Key=missing)) == "NoSuchKey")

    # patch 16: one active export task per account, tasks take duration_seconds
    d = spec["scenario_d"]
    logs = buckets[d["log_bucket"]]
    lg = prof.client(accounts[logs["account"]]["credentials"]["profile"], "logs", d["logs_region"])
    s3_logs = prof.client(accounts[logs["account"]]["credentials"]["profile"])
    group = d["log_groups"][0]
    now = int(time.time() * 1000)
    status, _ = emu.http("POST", "/_harness/logs-export", {"duration_seconds": 1.5})
    args = dict(logGroupName=group, fromTime=now - 60000, to=now + 60000, destination=logs["name"])
    t1 = lg.create_export_task(destinationPrefix="selftest-export-1", **args)["taskId"]
    st1 = lg.describe_export_tasks(taskId=t1)["exportTasks"][0]["status"]["code"]
    check("patch 16: an export task is RUNNING for duration_seconds, nothing written yet",
          status == 200 and st1 == "RUNNING"
          and not s3_logs.list_objects_v2(Bucket=logs["name"], Prefix="selftest-export-1").get("Contents"), st1)
    check("patch 16: a second CreateExportTask of the account meanwhile -> LimitExceededException",
          error_code(lambda: lg.create_export_task(destinationPrefix="selftest-export-2", **args)) == "LimitExceededException")
    done = wait_for(lambda: lg.describe_export_tasks(taskId=t1)["exportTasks"][0]["status"]["code"] == "COMPLETED",
                    timeout=5)
    check("patch 16: the task COMPLETED and its objects written", done
          and s3_logs.list_objects_v2(Bucket=logs["name"], Prefix="selftest-export-1").get("Contents"))
    t2 = lg.create_export_task(destinationPrefix="selftest-export-2", **args)["taskId"]
    check("patch 16: after it, the next task is accepted", bool(t2))
    wait_for(lambda: lg.describe_export_tasks(taskId=t2)["exportTasks"][0]["status"]["code"] == "COMPLETED", timeout=5)
    # 3 s: outlasts botocore's one retry of the refused call (CFG's max_attempts counts retries in legacy mode).
    emu.http("POST", "/_harness/logs-export", {"duration_seconds": 3, "hold_until_refused": True})
    t3 = lg.create_export_task(destinationPrefix="selftest-export-3", **args)["taskId"]
    emu.http("POST", "/_harness/logs-export", {"duration_seconds": 0.5})
    time.sleep(1.0)
    held = lg.describe_export_tasks(taskId=t3)["exportTasks"][0]["status"]["code"]
    refused = error_code(lambda: lg.create_export_task(destinationPrefix="selftest-export-4", **args))
    done = wait_for(lambda: lg.describe_export_tasks(taskId=t3)["exportTasks"][0]["status"]["code"] == "COMPLETED",
                    timeout=8)
    check("patch 16: a held task stays RUNNING until it refuses another, then completes",
          held == "RUNNING" and refused == "LimitExceededException" and done, f"{held} {refused} {done}")
    emu.http("POST", "/_harness/logs-export", {"duration_seconds": 0})


def test_assume_role_and_organization(emu: Emulator, prof: Profiles, spec: dict) -> None:
    """Patch 25 (AssumeRole needs the role and its trust, IAM enforcement on) and patch 26 (an organisation of
    chosen accounts). Runs on the provisioned seed, enforcement on; leaves a role and an organisation behind."""
    accounts = list(spec["accounts"].values())
    first, second = accounts[0], accounts[1]
    p1, p2 = first["credentials"]["profile"], second["credentials"]["profile"]
    caller = prof.client(p1, "sts", "us-east-1").get_caller_identity()["Arn"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{first['account_id']}:root"}}]}
    iam2 = prof.client(p2, "iam", "us-east-1")
    iam2.create_role(RoleName="selftest-trusting", AssumeRolePolicyDocument=json.dumps(trust))
    other = {**trust, "Statement": [{**trust["Statement"][0], "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}]}
    iam2.create_role(RoleName="selftest-not-trusting", AssumeRolePolicyDocument=json.dumps(other))
    sts = prof.client(p1, "sts", "us-east-1")

    def assume(role: str) -> Any:
        return sts.assume_role(RoleArn=f"arn:aws:iam::{second['account_id']}:role/{role}", RoleSessionName="selftest")

    check("patch 25: a role whose trust policy names the caller's account is assumed",
          error_code(lambda: assume("selftest-trusting")) is None)
    missing = error_code(lambda: assume("selftest-missing"))
    check("patch 25: a role that does not exist is AccessDenied", missing == "AccessDenied", missing)
    refused = error_code(lambda: assume("selftest-not-trusting"))
    check("patch 25: a role whose trust policy names another account is AccessDenied", refused == "AccessDenied",
          refused)
    try:
        assume("selftest-missing")
    except Exception as exc:  # the message names the caller and the role, as AWS's does
        check("patch 25: the message names caller and role",
              f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: " in str(exc), str(exc))

    members = [{"id": second["account_id"], "name": "second"}, {"id": "900000000001", "name": "gone", "state": "SUSPENDED"}]
    for i in range(20):
        members.append({"id": f"9100000000{i:02}", "name": f"filler {i}"})
    status, body = emu.http("POST", "/_harness/organization", {"management": first["account_id"], "accounts": members})
    check("patch 26: organisation created", status == 200 and len(body.get("accounts", [])) == 23, (status, body))
    org = prof.client(p1, "organizations", "us-east-1")
    listed, token, pages = [], None, 0
    while True:
        page = org.list_accounts(MaxResults=20, **({"NextToken": token} if token else {}))
        listed += page["Accounts"]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    states = {a["Id"]: a["State"] for a in listed}
    check("patch 26: ListAccounts lists the management account and every member, 20 a page",
          len(listed) == 23 and pages == 2 and states.get(first["account_id"]) == "ACTIVE", (len(listed), pages))
    check("patch 26: State (and Status) as given", states.get("900000000001") == "SUSPENDED"
          and next(a for a in listed if a["Id"] == "900000000001")["Status"] == "SUSPENDED", states)
    bad, _ = emu.http("POST", "/_harness/organization", {"management": "x", "accounts": []})
    check("patch 26: 400 on a bad management id", bad == 400, bad)


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
        # Read the bucket in its own Region (patch 12 answers other Regions with 301/400).
        where = snap[f"bucket:{alias}:location"]
        if isinstance(where, dict):
            s3 = prof.client(accounts[b["account"]]["credentials"]["profile"], "s3",
                             where.get("LocationConstraint") or "us-east-1")
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
        snap[f"account:{alias}:config-rules"] = sorted((r["ConfigRuleName"], r["Source"]["SourceIdentifier"])
                                                       for r in cfg.describe_config_rules()["ConfigRules"])
        # AWS Config in the other Regions of the account's buckets (it is regional).
        others = sorted({b["region"] for b in spec["buckets"].values() if b["account"] == alias} - {a["region"]})
        snap[f"account:{alias}:config-regions"] = [
            (r, [(x["name"], x["recording"]) for x in prof.client(a["credentials"]["profile"], "config", r)
                 .describe_configuration_recorder_status()["ConfigurationRecordersStatus"]]) for r in others]
    # replication metrics (what S3 published), queried where the spec says S3 publishes them: in the source
    # account, latency/pending in the destination's Region, failures in the source's
    now = datetime.datetime.now(datetime.timezone.utc)
    for rep in spec.get("replication", []):
        rb = spec["buckets"][rep["source"]]
        for r in rep.get("rules", []):
            profile = accounts[rb["account"]]["credentials"]["profile"]
            at_dest = prof.client(profile, "cloudwatch", spec["buckets"][r["destination"]]["region"])
            at_src = prof.client(profile, "cloudwatch", rb["region"])
            dims = [{"Name": "SourceBucket", "Value": rb["name"]},
                    {"Name": "DestinationBucket", "Value": spec["buckets"][r["destination"]]["name"]},
                    {"Name": "RuleId", "Value": r["id"]}]
            stats = {}
            for metric in ("ReplicationLatency", "OperationsPendingReplication", "OperationsFailedReplication",
                           "BytesPendingReplication"):
                cw = at_src if metric == "OperationsFailedReplication" else at_dest
                pts = cw.get_metric_statistics(Namespace="AWS/S3", MetricName=metric, Dimensions=dims, Period=86400,
                                               StartTime=now - datetime.timedelta(hours=24), EndTime=now,
                                               Statistics=["Maximum", "Sum", "SampleCount"])["Datapoints"]
                stats[metric] = [(d["Maximum"], d["Sum"], d["SampleCount"]) for d in pts]
            snap[f"metrics:{rep['id']}/{r['id']}"] = stats
    for arn in prof.provisioned["kms_keys"]:
        _, _, _, region, account_id, _ = arn.split(":", 5)
        acct = next(a for a in accounts.values() if str(a["account_id"]) == account_id)
        kms = prof.client(acct["credentials"]["profile"], "kms", region)
        snap[f"kms:{arn}:policy"] = json.loads(kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
        snap[f"kms:{arn}:state"] = kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"]
    with urllib.request.urlopen(prof.provisioned["endpoint"] + "/_harness/config-override", timeout=10) as resp:
        snap["harness:config-overrides"] = json.loads(resp.read())["overrides"]
    # The spec's own principals have keys of their own (`role:`/`user:` below); leaving them out here keeps a
    # defect of one of them a change in exactly one place.
    named = {pr["arn"] for pr in spec["principals"].values()}
    for alias, a in accounts.items():
        # Every other user and role of the account with its inline policies and trust (what who-can enumerates).
        iam = prof.client(a["credentials"]["profile"], "iam")
        users = {u["Arn"]: [iam.get_user_policy(UserName=u["UserName"], PolicyName=n)["PolicyDocument"]
                            for n in iam.list_user_policies(UserName=u["UserName"])["PolicyNames"]]
                 for u in iam.list_users()["Users"] if u["Arn"] not in named}
        roles = {r["Arn"]: {"trust": r["AssumeRolePolicyDocument"],
                            "policies": [iam.get_role_policy(RoleName=r["RoleName"], PolicyName=n)["PolicyDocument"]
                                         for n in iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]]}
                 for r in iam.list_roles()["Roles"] if r["Arn"] not in named}
        snap[f"account:{alias}:iam"] = {"users": users, "roles": roles}
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


Expectation = tuple  # (changed key, predicate on its new value) or (key, predicate, consequence keys)


def defect_expectations(spec: dict, primary: dict) -> dict[str, Expectation]:
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

    src_profile = spec["accounts"][src_acct]["credentials"]["profile"]
    src_region = spec["accounts"][src_acct]["region"]
    replica_key = next(r["replica_kms_key_arn"] for r in primary["rules"] if r.get("replica_kms_key_arn"))

    def replica_actions(docs: Any) -> list[str]:
        acts: list[str] = []
        for doc in docs:
            for st in statements(doc):
                if st.get("Resource") == replica_key:
                    acts += st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        return sorted(acts)

    def kms_contexts(docs: Any) -> list[str]:
        return [st["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] for doc in docs
                for st in statements(doc) if str(st.get("Action", "")).count("kms:")
                and "kms:EncryptionContext:aws:s3:arn" in json.dumps(st.get("Condition", {}))]
    metrics = f"metrics:{primary['id']}/{primary['rules'][0]['id']}"
    # S3 publishes replication metrics only for enabled rules with Metrics on, in the bucket's region.
    no_metrics = {metrics}

    def compliance(prof: Profiles, rule: str) -> dict[str, str]:
        cfg = prof.client(src_profile, "config", src_region)
        out = cfg.get_compliance_details_by_config_rule(ConfigRuleName=rule, Limit=100)["EvaluationResults"]
        return {r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"]: r["ComplianceType"] for r in out}

    def recorder_stopped(v: Any, prof: Profiles) -> bool:
        return v == [("default", False)] and compliance(prof, "s3-bucket-versioning-enabled") == {}

    def config_stale(v: Any, prof: Profiles) -> bool:
        name = spec["buckets"][src]["name"]
        versioning = prof.client(src_profile).get_bucket_versioning(Bucket=name).get("Status")
        return (len(v) == 1 and v[0]["resource"] == name and versioning == "Enabled"
                and compliance(prof, "s3-bucket-versioning-enabled").get(name) == "NON_COMPLIANT")

    def planted_admin(v: Any, prof: Profiles) -> bool:
        planted = prof.provisioned.get("planted", {})
        role, user = v["roles"].get(planted.get("role"), {}), v["users"].get(planted.get("user"))
        s3_admin = any(st.get("Action") == "s3:*" and st.get("Resource") == "*"
                       for doc in role.get("policies", []) for st in statements(doc))
        trusts_user = any(st.get("Principal") == {"AWS": planted["user"]} for st in statements(role.get("trust", {})))
        may_assume = any(st.get("Action") == "sts:AssumeRole" and st.get("Resource") == planted["role"]
                         for doc in (user or []) for st in statements(doc))
        return ":role/support/" in planted["role"] and s3_admin and trusts_user and may_assume

    def trail_no_data(v: Any, _: Any) -> bool:
        selectors = [sel for t in v for sel in (t[4] or [])]
        return bool(selectors) and all(not sel.get("DataResources") and sel.get("IncludeManagementEvents")
                                       for sel in selectors) and all(t[5] for t in v)

    return {
        "wrong-region": (f"bucket:{src}:location", lambda v, _: v["LocationConstraint"] != region, no_metrics),
        "bpa-off": (f"bucket:{src}:bpa", lambda v, _: not any(v["PublicAccessBlockConfiguration"].values())),
        "account-bpa-off": (f"account:{src_acct}:bpa", lambda v, _: v == "NoSuchPublicAccessBlockConfiguration"),
        "dest-versioning-off": (f"bucket:{dst}:versioning", lambda v, _: v.get("Status") == "Suspended"),
        "role-wrong-trust": (f"role:{role}:trust", lambda v, _: "ec2.amazonaws.com" in json.dumps(v) and "s3.amazonaws.com" not in json.dumps(v)),
        "role-extra-trust": (f"role:{role}:trust", lambda v, _: "s3.amazonaws.com" in json.dumps(v) and '"AWS"' in json.dumps(v)),
        "role-missing-replicate-object": (f"role:{role}:policy", lambda v, _: "s3:ReplicateObject" not in json.dumps(v) and "s3:ReplicateDelete" in json.dumps(v)),
        "role-s3-admin": (f"role:{role}:policy", lambda v, _: any(s.get("Action") == "s3:*" and s.get("Resource") == "*" for doc in v for s in statements(doc))),
        "rtc-off": (f"bucket:{src}:replication", lambda v, _: all("ReplicationTime" not in r["Destination"] and "Metrics" not in r["Destination"] for r in rules(v)), no_metrics),
        "delete-markers-off": (f"bucket:{src}:replication", lambda v, _: all(r["DeleteMarkerReplication"]["Status"] == "Disabled" for r in rules(v))),
        # Only the TLS-only Deny is left: nothing lets the replication role in.
        "dest-policy-missing": (f"bucket:{dst}:policy", lambda v, _: isinstance(v, dict)
                                and [s["Effect"] for s in statements(v)] == ["Deny"]),
        "clint-granted": (f"bucket:{src}:policy", lambda v, _: any(s["Effect"] == "Allow" and spec["principals"][deny["principal"]]["arn"] in json.dumps(s.get("Principal")) for s in statements(v))),
        "grant-star": (f"bucket:{src}:policy", lambda v, _: any(s["Effect"] == "Allow" and s.get("Principal") == "*" for s in statements(v))),
        "grant-account": (f"bucket:{src}:policy", lambda v, _: any(s.get("Principal") == {"AWS": f"arn:aws:iam::{spec['principals'][allow['principal']]['arn'].split(':')[4]}:root"} for s in statements(v))),
        "wrong-prefix": (f"bucket:{src}:replication", lambda v, _: all(r["Filter"]["Prefix"] != pr["prefix"] for r, pr in zip(rules(v), primary["rules"]))),
        "rule-disabled": (f"bucket:{src}:replication", lambda v, _: all(r["Status"] == "Disabled" for r in rules(v)), no_metrics),
        "no-owner-override": (f"bucket:{src}:replication", lambda v, _: all("AccessControlTranslation" not in r["Destination"] for r in rules(v))),
        "no-replica-key": (f"bucket:{src}:replication", lambda v, _: all("EncryptionConfiguration" not in r["Destination"] for r in rules(v))),
        "intern-can-upload": (f"bucket:{spec['scenario_c']['bucket']}:policy", intern_can_upload),
        "log-policy-no-service": (f"bucket:{d.get('log_bucket')}:policy", lambda v, _: '"Service"' not in json.dumps(v)),
        "backup-versioning-off": (f"bucket:{d.get('backup_bucket')}:versioning", lambda v, _: v.get("Status") == "Suspended"),
        "log-rule-wrong-prefix": (f"bucket:{d.get('log_bucket')}:replication", lambda v, _: all(r["Filter"]["Prefix"] != d["export_prefix"] for r in rules(v))),
        "no-replication": (f"bucket:{src}:replication", lambda v, _: v == "ReplicationConfigurationNotFoundError", no_metrics),
        "log-policy-no-condition": (f"bucket:{d.get('log_bucket')}:policy", lambda v, _: '"Service"' in json.dumps(v)
                                    and "aws:SourceAccount" not in json.dumps(v) and "aws:SourceArn" not in json.dumps(v)),
        "trail-no-data-events": (f"account:{src_acct}:trails", trail_no_data),
        "recorder-stopped": (f"account:{src_acct}:config", recorder_stopped),
        "recorder-home-region-only": (f"account:{src_acct}:config-regions",
                                      lambda v, _: bool(v) and all(recorders == [] for _, recorders in v)),
        "failed-replication-metrics": (metrics, lambda v, _: sum(p[1] for p in v["OperationsFailedReplication"]) > 0
                                       and max(p[0] for p in v["ReplicationLatency"]) <= 900),
        "late-replication-metrics": (metrics, lambda v, _: max(p[0] for p in v["ReplicationLatency"]) > 900
                                     and sum(p[1] for p in v["OperationsFailedReplication"]) == 0),
        "config-stale": ("harness:config-overrides", config_stale),
        "replica-key-encrypt-only": (f"role:{role}:policy", lambda v, _: replica_actions(v) == ["kms:Encrypt"],
                                     {f"kms:{replica_key}:policy"}),
        "kms-object-arn-context": (f"role:{role}:policy", lambda v, _: all(
            c.endswith("*") for c in kms_contexts(v)) and len(kms_contexts(v)) >= 2),
        "replica-key-alias": (f"bucket:{src}:replication", lambda v, _: all(
            ":alias/" in r["Destination"]["EncryptionConfiguration"]["ReplicaKmsKeyID"]
            for r in rules(v) if "EncryptionConfiguration" in r["Destination"])),
        "replica-key-disabled": (f"kms:{replica_key}:state", lambda v, _: v == "Disabled"),
        "no-destination-account": (f"bucket:{src}:replication", lambda v, _: all(
            "Account" not in r["Destination"] for r in rules(v))),
        "planted-admin-role": (f"account:{src_acct}:iam", planted_admin),
        "no-tls-deny": (f"bucket:{src}:policy", lambda v, prof: "aws:SecureTransport" not in json.dumps(v)
                        and compliance(prof, "s3-bucket-ssl-requests-only").get(spec["buckets"][src]["name"])
                        == "NON_COMPLIANT"),
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
        key, predicate, *rest = expectations[name]
        consequences = set(rest[0]) if rest else set()
        also = f" (and, as a consequence, {', '.join(sorted(consequences))})" if consequences else ""
        check(f"defect {name}: changes exactly {key}{also}", changed == sorted({key} | consequences), changed)
        check(f"defect {name}: {DEFECTS[name]}", predicate(snap.get(key), prof), snap.get(key))
        check(f"defect {name}: recorded in provisioned.json", prof.provisioned["defects"] == [name])


# ----------------------------------------------------------------------------- main


def test_lifecycle() -> None:
    # cbor2 is a hard requirement, like the moto version: without it the emulator exits 2 and says why
    code = ("import runpy, sys; p = sys.argv[1]; sys.argv = [p]; sys.modules['cbor2'] = None; "
            "runpy.run_path(p, run_name='__main__')")
    res = subprocess.run([PY, "-c", code, os.path.join(HERE, "emulator.py")], capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    check("emulator: refuses to start without cbor2 (exit 2, names it, prints no endpoint)",
          res.returncode == 2 and "cbor2" in res.stderr and not res.stdout, (res.returncode, res.stderr[-300:]))
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


def test_athena_patch(emu: Emulator) -> None:
    """Patch 29: GetQueryResults pages by MaxResults/NextToken; DDL never takes a canned result."""
    emu.reset()
    ath = emu.client("athena", "ap-southeast-1")
    rows = [{"Data": [{"VarCharValue": "n"}]}] + [{"Data": [{"VarCharValue": str(i)}]} for i in range(5)]
    status, _ = emu.http("POST", "/moto-api/static/athena/query-results",
                         {"account_id": "123456789012", "region": "ap-southeast-1",
                          "results": [{"rows": rows, "column_info": [{"Name": "n", "Label": "n", "Type": "bigint"}]}]})
    ddl = ath.start_query_execution(QueryString="CREATE DATABASE IF NOT EXISTS selftest",
                                    WorkGroup="primary")["QueryExecutionId"]
    sel = ath.start_query_execution(QueryString="SELECT n FROM t", WorkGroup="primary")["QueryExecutionId"]
    for q in (ddl, sel):
        wait_for(lambda q=q: ath.get_query_execution(QueryExecutionId=q)["QueryExecution"]["Status"]["State"]
                 == "SUCCEEDED", timeout=5)
    check("patch 29: a DDL statement takes no canned result",
          status == 201 and ath.get_query_results(QueryExecutionId=ddl)["ResultSet"]["Rows"] == [])
    got, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        r = ath.get_query_results(QueryExecutionId=sel, MaxResults=2, **kw)
        got += [row["Data"][0]["VarCharValue"] for row in r["ResultSet"]["Rows"]]
        pages += 1
        token = r.get("NextToken")
        if not token:
            break
    check("patch 29: GetQueryResults pages by MaxResults with NextToken (6 rows, 2 a page)",
          pages == 3 and got == ["n", "0", "1", "2", "3", "4"], (pages, got))
    check("patch 29: MaxResults outside 1..1000 -> InvalidRequestException",
          error_code(lambda: ath.get_query_results(QueryExecutionId=sel, MaxResults=1001)) == "InvalidRequestException")


def signed_json_call(endpoint: str, service: str, region: str, method: str, path: str, body: Any = None,
                     headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """A hand-built SigV4 request with a JSON body, independent of any SDK's protocol code: the request shape a
    service model prescribes, sent as such. Returns (status, decoded JSON body or None)."""
    data = b"" if body is None else json.dumps(body).encode()
    url = endpoint + path
    req = AWSRequest(method=method, url=url, data=data, headers=dict(headers or {}))
    SigV4Auth(Credentials("AKIAIOSFODNN7EXAMPLE", "x"), service, region).add_auth(req)
    r = urllib.request.Request(url, data=data if method != "GET" else None, method=method,
                               headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, (json.loads(raw) if raw.strip() else None)
    except ValueError:
        return status, raw[:200]


def test_protocols(emu: Emulator) -> None:
    """Each service answers the request shapes SDKs send today, not only the pinned botocore's (issue 18).

    Athena: AWS JSON 1.1 (the AWS SDK for Rust in Cargo.lock, botocore <= 1.44.13) and REST-JSON (botocore >= 1.44.18;
    patch 31), built by hand from the API reference's HTTP bindings. Then every service replaudit calls, through the
    installed boto3 with its model's own protocol: a read answered by the emulator, never a routing 404, so that a
    bumped lock whose models change protocol fails here first."""
    emu.reset()
    region = "ap-southeast-1"
    json11 = lambda op, body: signed_json_call(emu.endpoint, "athena", region, "POST", "/", body, {  # noqa: E731
        "X-Amz-Target": f"AmazonAthena.{op}", "Content-Type": "application/x-amz-json-1.1"})
    status, started = signed_json_call(emu.endpoint, "athena", region, "POST", "/query-executions",
                                       {"QueryString": "SELECT 1", "WorkGroup": "primary"},
                                       {"Content-Type": "application/json"})
    qid = (started or {}).get("QueryExecutionId") if isinstance(started, dict) else None
    check("patch 31: Athena REST-JSON StartQueryExecution (POST /query-executions)", status == 200 and qid, (status, started))
    status, got = signed_json_call(emu.endpoint, "athena", region, "GET", f"/query-executions/{qid}")
    check("patch 31: Athena REST-JSON GetQueryExecution (id in the path)",
          status == 200 and isinstance(got, dict) and got.get("QueryExecution", {}).get("Query") == "SELECT 1", (status, got))
    status, listed = signed_json_call(emu.endpoint, "athena", region, "GET", "/query-executions?MaxResults=5")
    check("patch 31: Athena REST-JSON ListQueryExecutions (MaxResults in the query string)",
          status == 200 and isinstance(listed, dict) and qid in listed.get("QueryExecutionIds", []), (status, listed))
    status, results = signed_json_call(emu.endpoint, "athena", region, "GET", f"/query-executions/{qid}/results?MaxResults=1001")
    check("patch 31: Athena REST-JSON query-string integers are typed (MaxResults 1001 refused as out of range)",
          status == 400 and "InvalidRequestException" in json.dumps(results), (status, results))
    status, listed11 = json11("ListQueryExecutions", {})
    check("patch 31: Athena JSON 1.1 (X-Amz-Target) still answered",
          status == 200 and isinstance(listed11, dict) and qid in listed11.get("QueryExecutionIds", []), (status, listed11))
    status, unknown = signed_json_call(emu.endpoint, "athena", region, "GET", "/no-such-route")
    check("patch 31: an Athena path that is no operation is not served as one", status >= 400, (status, unknown))
    reads = {
        "s3": lambda c: c.list_buckets(), "s3control": lambda c: c.list_access_points(AccountId="123456789012"),
        "iam": lambda c: c.list_roles(), "sts": lambda c: c.get_caller_identity(), "kms": lambda c: c.list_keys(),
        "cloudwatch": lambda c: c.list_metrics(), "logs": lambda c: c.describe_log_groups(),
        "cloudtrail": lambda c: c.describe_trails(), "config": lambda c: c.describe_config_rules(),
        "athena": lambda c: c.list_query_executions(),
    }
    for service, read in reads.items():
        client = emu.client(service, region)
        protocol = client.meta.service_model.resolved_protocol if hasattr(client.meta.service_model, "resolved_protocol") \
            else client.meta.service_model.protocol
        try:
            read(client)
            outcome = "ok"
        except ClientError as exc:
            outcome = exc.response.get("Error", {}).get("Code") or str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        check(f"protocols: {service} answers the installed boto3 ({protocol})",
              outcome not in ("404", "UnknownOperationException", "InvalidAction", "NotImplemented"), outcome)


def test_inventory_patch(emu: Emulator) -> None:
    """Patch 30: inventory configurations read back as put, documented root element, 100 a page, IAM names."""
    emu.reset()
    s3 = emu.client("s3", "ap-southeast-1")
    s3.create_bucket(Bucket="selftest-inventory", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
    raw: list[bytes] = []
    s3.meta.events.register("before-parse.s3.ListBucketInventoryConfigurations",
                            lambda response_dict, **_: raw.append(response_dict["body"]))
    conf = {"Id": "c000", "IsEnabled": True, "IncludedObjectVersions": "Current", "Filter": {"Prefix": "reports/"},
            "OptionalFields": ["Size", "ReplicationStatus"], "Schedule": {"Frequency": "Weekly"},
            "Destination": {"S3BucketDestination": {"Bucket": "arn:aws:s3:::inv", "Format": "Parquet",
                                                    "Prefix": "inventories"}}}
    for i in range(101):
        s3.put_bucket_inventory_configuration(Bucket="selftest-inventory", Id=f"c{i:03d}",
                                              InventoryConfiguration=dict(conf, Id=f"c{i:03d}"))
    first = s3.list_bucket_inventory_configurations(Bucket="selftest-inventory")
    got = first["InventoryConfigurationList"][0]
    check("patch 30: ListBucketInventoryConfigurations root is ListInventoryConfigurationsResult",
          bool(raw) and b"<ListInventoryConfigurationsResult" in raw[0], raw[:1])
    check("patch 30: a configuration reads back as put (versions, fields, filter, destination prefix)",
          got["IncludedObjectVersions"] == "Current" and got["OptionalFields"] == ["Size", "ReplicationStatus"]
          and got["Filter"] == {"Prefix": "reports/"}
          and got["Destination"]["S3BucketDestination"]["Prefix"] == "inventories", got)
    token = first.get("NextContinuationToken")
    second = s3.list_bucket_inventory_configurations(Bucket="selftest-inventory", ContinuationToken=token or "")
    check("patch 30: 100 configurations a page, then the rest by NextContinuationToken",
          len(first["InventoryConfigurationList"]) == 100 and first["IsTruncated"] and token
          and [c["Id"] for c in second["InventoryConfigurationList"]] == ["c100"] and not second["IsTruncated"])
    one = s3.get_bucket_inventory_configuration(Bucket="selftest-inventory", Id="c007")["InventoryConfiguration"]
    check("patch 30: GetBucketInventoryConfiguration reads back as put",
          one["Id"] == "c007" and one["IncludedObjectVersions"] == "Current", one)
    # The IAM names (s3:GetInventoryConfiguration) are checked where IAM is enforced:
    # tests/reconcile_least_privilege.rs removes the permission and expects the error naming it.


def test_sse_c_patch(emu: Emulator) -> None:
    """Patch 32: HEAD/GET of an SSE-C version without the customer key is 400; with it, or of a plain version, 2xx."""
    emu.reset()
    s3 = emu.client("s3")
    mk_bucket(s3, "selftest-sse-c")
    key = base64.b64encode(b"k" * 32).decode()
    ssec = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    enc = s3.put_object(Bucket="selftest-sse-c", Key="c.txt", Body=b"secret", **ssec)["VersionId"]
    plain = s3.put_object(Bucket="selftest-sse-c", Key="p.txt", Body=b"plain")["VersionId"]
    check("patch 32: HeadObject of an SSE-C version without the customer key is 400",
          error_code(lambda: s3.head_object(Bucket="selftest-sse-c", Key="c.txt", VersionId=enc)) == "400")
    check("patch 32: GetObject of it without the key is 400 InvalidRequest",
          error_code(lambda: s3.get_object(Bucket="selftest-sse-c", Key="c.txt", VersionId=enc)) == "InvalidRequest")
    check("patch 32: HeadObject of the current (SSE-C) version without versionId is 400",
          error_code(lambda: s3.head_object(Bucket="selftest-sse-c", Key="c.txt")) == "400")
    check("patch 32: with the customer key it is answered",
          s3.head_object(Bucket="selftest-sse-c", Key="c.txt", VersionId=enc, **ssec)["ResponseMetadata"]
          ["HTTPStatusCode"] == 200)
    check("patch 32: a plain version is answered without a key",
          s3.head_object(Bucket="selftest-sse-c", Key="p.txt", VersionId=plain)["ResponseMetadata"]
          ["HTTPStatusCode"] == 200)
    newer = s3.put_object(Bucket="selftest-sse-c", Key="c.txt", Body=b"now plain")["VersionId"]
    check("patch 32: a plain version written over an SSE-C one is answered; the SSE-C one still is not",
          s3.head_object(Bucket="selftest-sse-c", Key="c.txt")["VersionId"] == newer
          and error_code(lambda: s3.head_object(Bucket="selftest-sse-c", Key="c.txt", VersionId=enc)) == "400")


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
            test_lookup_rate(emu)
            emu.unthrottle()
            test_evidence_patches(emu)
            phases["evidence patches"] = time.monotonic() - t
            t = time.monotonic()
            test_sse_kms_patch(emu)
            phases["sse-kms patch"] = time.monotonic() - t
            test_athena_patch(emu)
            test_protocols(emu)
            test_inventory_patch(emu)
            test_sse_c_patch(emu)
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
                test_canary_patches(emu, prof, spec)
                test_assume_role_and_organization(emu, prof, spec)
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
