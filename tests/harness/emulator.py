#!/usr/bin/env python3
"""replaudit's AWS emulator: moto 5.2.5 in-process, plus a few small patches.

TEST FIXTURE ONLY. This is not AWS and not a model of AWS: it is stock moto with a handful of
monkeypatches, each closing one documented gap between moto and AWS behaviour that replaudit's
tests depend on (see tests/harness/README.md, section "Patches", for the full list with the AWS
documentation each one follows).

Usage (the Rust tests do exactly this):

    .moto/bin/python tests/harness/emulator.py [--verbose]

It binds 127.0.0.1 on a port chosen by the OS, waits until moto answers, prints exactly one JSON
line on stdout, e.g. {"endpoint": "http://localhost:40123", "port": 40123, "pid": 4242}, and then
serves until its stdin reaches EOF (the parent died or closed the pipe) or it gets SIGTERM/SIGINT.
Nothing else is ever written to stdout; request logs go to stderr only with --verbose.

Patches (each below, with the AWS documentation it follows): 1 GetBucketReplication read-back,
2 replication (objects, statuses, encryption, delete markers), 3 bucket-policy Deny per caller +
AccessDenied body, 4 KMS CreateKey with a chosen key id, 5 SigV4 payload hash of bodiless requests,
6 S3 tags shared across accounts.

Extra HTTP endpoints (besides moto's own /moto-api/...):
    GET  /_harness/replication   -> {"mode", "delay_seconds", "counters": {...}, "pending": n}
    POST /_harness/replication   <- {"mode": "normal"|"fail"|"never"|"wrong-key", "delay_seconds": 0.5}
    POST /moto-api/reset         -> moto's reset, and also resets the harness state above.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import types
import urllib.request
from typing import Any

# Must be set before moto is imported: moto reads its settings from the environment.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
# MOTO_ACCOUNT_ID pins every request to one account, which would break the cross-account set-up.
if "MOTO_ACCOUNT_ID" in os.environ:
    sys.stderr.write("emulator: ignoring inherited MOTO_ACCOUNT_ID (it pins every request to one account)\n")
    del os.environ["MOTO_ACCOUNT_ID"]

import botocore.session  # noqa: E402
import moto  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import moto.kms.models as kms_models  # noqa: E402
from moto.kms.exceptions import AlreadyExistsException  # noqa: E402
import moto.s3.responses as s3_responses  # noqa: E402
from moto.core.responses import ActionResult  # noqa: E402
from moto.iam.access_control import IAMPolicy, IAMRequestBase, PermissionResult  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.s3.models import FakeBucket, FakeDeleteMarker, FakeKey, S3Backend, s3_backends  # noqa: E402
from moto.s3.responses import S3Response  # noqa: E402
from moto.utilities.tagging_service import TaggingService  # noqa: E402

log = logging.getLogger("replaudit.emulator")

# The patches below reach into moto internals (method names, stored shapes) of this exact release.
MOTO_VERSION = "5.2.5"
if moto.__version__ != MOTO_VERSION:
    sys.stderr.write(f"emulator: needs moto {MOTO_VERSION}, found {moto.__version__}; re-check every patch before bumping\n")
    sys.exit(2)

# ============================================================================ harness state

MODES = ("normal", "fail", "never", "wrong-key")
DEFAULT_MODE = "normal"
DEFAULT_DELAY = 0.5
# The key id used by mode "wrong-key": a syntactically valid key id that no rule ever names.
WRONG_KEY_ID = "00000000-0000-4000-8000-00000000dead"


class HarnessState:
    """Replication mode, delay and counters; reset together with moto (POST /moto-api/reset)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation = 0
        self._set_defaults()

    def _set_defaults(self) -> None:
        self.mode = DEFAULT_MODE
        self.delay = DEFAULT_DELAY
        self.counters = {"replicated": 0, "failed": 0, "delete_markers_replicated": 0}
        self.pending = 0

    def reset(self) -> None:
        with self.lock:
            self.generation += 1  # jobs scheduled before the reset see a stale generation and do nothing
            self._set_defaults()

    def bump(self, counter: str, n: int = 1) -> None:
        with self.lock:
            self.counters[counter] += n

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "mode": self.mode,
                "delay_seconds": self.delay,
                "counters": dict(self.counters),
                "pending": self.pending,
            }


STATE = HarnessState()

# Per-request context, set by the S3Response wrappers below: the events (objects created, delete
# markers created) that a request caused, and the calling principal (for bucket-policy Deny).
_ctx = threading.local()


def _ctx_events() -> list | None:
    return getattr(_ctx, "events", None)


# ============================================================================ helpers


def _d(value: Any) -> dict:
    """xmltodict gives None for an empty element; treat it as an empty dict."""
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _bucket_anywhere(name: str) -> FakeBucket | None:
    """A bucket by name through moto's global bucket index (bucket names are global)."""
    where = s3_backends.bucket_accounts.get(name)
    if where is None:
        return None
    partition, account_id = where
    return s3_backends[account_id][partition].buckets.get(name)


def _owner_backend(bucket_name: str) -> S3Backend:
    partition, account_id = s3_backends.bucket_accounts[bucket_name]
    return s3_backends[account_id][partition]


def _object_tags(key: FakeKey) -> list[dict[str, str]]:
    return s3_backends[key.account_id][key.partition].tagger.list_tags_for_resource(key.arn)["Tags"]


# ============================================================================ patch 1: GetBucketReplication read-back
# AWS: GetBucketReplication returns the configuration as it was put.
#   https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketReplication.html
#   https://docs.aws.amazon.com/AmazonS3/latest/API/API_ReplicationRule.html
# moto stores the parsed XML faithfully but answers with a fixed Filter {"Prefix": ""},
# DeleteMarkerReplication Disabled, and drops SourceSelectionCriteria / ExistingObjectReplication.
# Patch: convert the stored XML dict back into the botocore output shape, member by member, driven by
# botocore's own S3 model (so every field the API defines round-trips, with ints as ints).

_S3_MODEL = botocore.session.get_session().get_service_model("s3")
_NO_PRIORITY = "_harness_no_priority"


def _xml_to_shape(value: Any, shape: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        value = _d(value)
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            xml_name = member.serialization.get("name", name)
            if xml_name not in value:
                continue
            raw = value[xml_name]
            if member.type_name == "list":
                if member.serialization.get("flattened"):
                    items = _as_list(raw)
                else:  # wrapped list: <Name><member>..</member></Name>
                    items = _as_list(_d(raw).get(member.member.serialization.get("name", "member")))
                out[name] = [_xml_to_shape(item, member.member) for item in items]
            else:
                out[name] = _xml_to_shape(raw, member)
        return out
    if kind in ("integer", "long"):
        return int(value)
    if kind == "boolean":
        return str(value).lower() == "true"
    return "" if value is None else str(value)


def _replication_readback(stored: dict[str, Any]) -> dict[str, Any]:
    config = _xml_to_shape(stored, _S3_MODEL.shape_for("ReplicationConfiguration"))
    for stored_rule, rule in zip(_as_list(stored.get("Rule")), config.get("Rules", [])):
        if _d(stored_rule).get(_NO_PRIORITY):
            rule.pop("Priority", None)  # a V1 (legacy Prefix) rule put without Priority has none
    return config


def _get_bucket_replication(self: S3Response) -> Any:
    self.data["Action"] = "GetBucketReplication"
    replication = self.backend.get_bucket_replication(self.bucket_name)
    if not replication:
        raise s3_responses.ReplicationConfigurationNotFoundError(bucket_name=self.bucket_name)
    return self.serialized(ActionResult({"ReplicationConfiguration": _replication_readback(replication)}))


# ============================================================================ patch 1b: versioning read-back
# AWS: GetBucketVersioning answers <VersioningConfiguration><Status>..</Status></VersioningConfiguration>
# (no Status element when versioning was never enabled).
#   https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketVersioning.html#API_GetBucketVersioning_ResponseSyntax
# moto 5.2.5: names the root element <GetBucketVersioningResponse>; botocore ignores root names, the AWS
# SDK for Rust checks them and rejects the response. Patch: serialise with the documented root name.


def _get_bucket_versioning(self: S3Response) -> Any:
    self.data["Action"] = "GetBucketVersioning"
    status = self.backend.get_bucket_versioning(self.bucket_name)
    inner = f"<Status>{status}</Status>" if status else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{inner}</VersioningConfiguration>'
    )
    return 200, {"Content-Type": "application/xml"}, body


_orig_put_bucket_replication = S3Backend.put_bucket_replication


def _put_bucket_replication(self: S3Backend, bucket_name: str, replication: dict[str, Any]) -> None:
    # moto adds Priority=1 to every rule; remember which V1 rules (no Filter) had none, so that the
    # read-back does not invent one.
    for rule in _as_list(replication.get("Rule")):
        if isinstance(rule, dict) and "Filter" not in rule and "Priority" not in rule:
            rule[_NO_PRIORITY] = True
    _orig_put_bucket_replication(self, bucket_name, replication)


# ============================================================================ patch 2: replication
# AWS: after a PutObject / CopyObject / CompleteMultipartUpload into a bucket whose replication
# configuration has an enabled rule matching the object, the source version shows
# x-amz-replication-status PENDING, then COMPLETED (or FAILED); the replica (same key, version id, body,
# metadata, tags) shows REPLICA. Replicas are not replicated again.
#   https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html
#   https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html
# Rule selection: filter = prefix and/or tags; among matching rules with the same destination bucket the
# highest Priority wins (rules with different destinations each replicate).
#   https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-add-config.html
# Encryption: SSE-KMS objects are replicated only if SourceSelectionCriteria.SseKmsEncryptedObjects is
# Enabled, and then encrypted with Destination.EncryptionConfiguration.ReplicaKmsKeyID; SSE-S3 (and
# SSE-KMS) replicas keep the source's encryption type, the destination's default encryption is not used;
# unencrypted source objects get the destination's default encryption.
#   https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html
# Delete markers: a DELETE without version id creates a delete marker, replicated only if the rule has
# DeleteMarkerReplication Enabled (not allowed on tag-based rules; V1 rules without Filter do replicate
# them); deleting a specific version is never replicated.
#   https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html
# Versioning must be enabled on both buckets.
#   https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-requirements.html
# moto: stores the configuration, never replicates. Patch: record objects / delete markers created by
# each S3 request, and replicate them after STATE.delay seconds on a timer thread, into the destination
# bucket found through moto's global bucket index (so cross-account works).

_STATUS_ATTR = "_harness_replication_status"
_orig_response_dict = FakeKey.response_dict.fget


def _response_dict(self: FakeKey) -> dict[str, Any]:
    res = _orig_response_dict(self)
    status = getattr(self, _STATUS_ATTR, None)
    if status:
        res["x-amz-replication-status"] = status
    return res


def _rule_filter(rule: dict) -> tuple[str, list[dict[str, str]], bool]:
    """(prefix, tags, is_v2) of a stored rule. V1 rules have a top-level Prefix and no Filter."""
    if "Filter" not in rule:
        return rule.get("Prefix") or "", [], False
    flt = _d(rule["Filter"])
    if "And" in flt:
        conj = _d(flt["And"])
        return conj.get("Prefix") or "", [_d(t) for t in _as_list(conj.get("Tag"))], True
    if "Tag" in flt:
        return "", [_d(flt["Tag"])], True
    return flt.get("Prefix") or "", [], True


def _dest_bucket_name(rule: dict) -> str:
    arn = _d(rule.get("Destination")).get("Bucket") or ""
    return arn.split(":::", 1)[1] if ":::" in arn else arn


def _select_rules(bucket: FakeBucket, key_name: str, tags: list[dict[str, str]] | None) -> list[dict]:
    """Enabled rules matching the object, the highest Priority per destination bucket.

    tags=None means a delete marker: it has no tags, and tag-based rules never apply to it.
    """
    config = getattr(bucket, "replication", None)
    if not config:
        return []
    have = {(t.get("Key"), t.get("Value")) for t in (tags or [])}
    best: dict[str, tuple[int, dict]] = {}
    for rule in _as_list(config.get("Rule")):
        rule = _d(rule)
        if rule.get("Status") != "Enabled":
            continue
        prefix, want, _ = _rule_filter(rule)
        if not key_name.startswith(prefix):
            continue
        if want and (tags is None or not all((t.get("Key"), t.get("Value")) in have for t in want)):
            continue
        priority = int(rule.get("Priority") or 0)
        dest = _dest_bucket_name(rule)
        if dest not in best or priority > best[dest][0]:
            best[dest] = (priority, rule)
    return [rule for _, rule in best.values()]


def _sse_kms_opt_in(rule: dict) -> bool:
    ssc = _d(_d(rule.get("SourceSelectionCriteria")).get("SseKmsEncryptedObjects"))
    return ssc.get("Status") == "Enabled"


def _schedule(job: Any) -> None:
    with STATE.lock:
        generation, delay = STATE.generation, STATE.delay
        STATE.pending += 1

    def run() -> None:
        try:
            with STATE.lock:
                if generation != STATE.generation:
                    return  # moto was reset meanwhile: the objects are gone
            job()
        except Exception:  # a fixture must not die on one bad object; the status says FAILED
            log.exception("replication job failed")
        finally:
            with STATE.lock:
                if generation == STATE.generation:
                    STATE.pending -= 1

    timer = threading.Timer(delay, run)
    timer.daemon = True
    timer.start()


def _on_object_created(key: FakeKey) -> None:
    if getattr(key, _STATUS_ATTR, None) == "REPLICA":
        return  # replicas are not replicated again
    bucket = _bucket_anywhere(key.bucket_name or "")
    if bucket is None or not bucket.is_versioned:
        return
    rules = _select_rules(bucket, key.name, _object_tags(key))
    if key.encryption in ("aws:kms", "aws:kms:dsse"):
        rules = [r for r in rules if _sse_kms_opt_in(r)]  # not opted in: S3 skips the object
    if not rules:
        return
    with STATE.lock:
        mode = STATE.mode
    setattr(key, _STATUS_ATTR, "PENDING")

    def job() -> None:
        if mode == "never":
            return  # stays PENDING
        if mode == "fail":
            setattr(key, _STATUS_ATTR, "FAILED")
            STATE.bump("failed")
            return
        ok = True
        for rule in rules:
            try:
                ok = _write_replica(key, rule, mode) and ok
            except Exception:
                log.exception("replica write failed")
                ok = False
        setattr(key, _STATUS_ATTR, "COMPLETED" if ok else "FAILED")
        if not ok:
            STATE.bump("failed")

    _schedule(job)


def _write_replica(key: FakeKey, rule: dict, mode: str) -> bool:
    dest_name = _dest_bucket_name(rule)
    dest = _bucket_anywhere(dest_name)
    if dest is None or not dest.is_versioned:
        return False  # AWS: destination must exist and have versioning enabled -> FAILED
    backend = _owner_backend(dest_name)  # the replica belongs to the destination bucket's account
    destination = _d(rule.get("Destination"))

    if mode == "wrong-key":
        encryption: str | None = "aws:kms"
        kms_key_id: str | None = f"arn:aws:kms:{dest.region_name}:{dest.account_id}:key/{WRONG_KEY_ID}"
    elif key.encryption in ("aws:kms", "aws:kms:dsse"):
        encryption = key.encryption
        kms_key_id = _d(destination.get("EncryptionConfiguration")).get("ReplicaKmsKeyID")
        if not kms_key_id:
            return False  # AWS rejects such a configuration; treat as a failed replication
    elif key.encryption:  # SSE-S3: replica keeps SSE-S3, the destination default is not applied
        encryption, kms_key_id = key.encryption, None
    else:  # unencrypted: moto's put_object applies the destination default encryption
        encryption, kms_key_id = None, None

    _ctx.internal = True
    try:
        replica = backend.put_object(
            dest_name,
            key.name,
            key.value,
            storage=destination.get("StorageClass") or key.storage_class,
            etag=key.etag.strip('"'),
            encryption=encryption,
            kms_key_id=kms_key_id,
            disable_notification=True,
        )
    finally:
        _ctx.internal = False
    if encryption is not None:  # put_object may have mixed in the destination's default key id
        replica.encryption = encryption
        replica.kms_key_id = kms_key_id
        replica.bucket_key_enabled = key.bucket_key_enabled if encryption == key.encryption else None
    replica._version_id = key.version_id  # replicas keep the source version id
    replica.set_metadata(dict(key.metadata))
    replica.website_redirect_location = key.website_redirect_location
    replica.checksum_algorithm, replica.checksum_value = key.checksum_algorithm, key.checksum_value
    tags = _object_tags(key)
    if tags:
        backend.tagger.tag_resource(replica.arn, tags)
    setattr(replica, _STATUS_ATTR, "REPLICA")
    STATE.bump("replicated")
    return True


def _on_delete_marker(bucket_name: str, key_name: str, marker: FakeDeleteMarker) -> None:
    bucket = _bucket_anywhere(bucket_name)
    if bucket is None or not bucket.is_versioned:
        return
    rules = []
    for rule in _select_rules(bucket, key_name, None):
        _, _, v2 = _rule_filter(rule)
        if not v2 or _d(rule.get("DeleteMarkerReplication")).get("Status") == "Enabled":
            rules.append(rule)
    if not rules:
        return
    with STATE.lock:
        mode = STATE.mode
    version_id = marker.version_id

    def job() -> None:
        if mode == "never":
            return
        if mode == "fail":
            STATE.bump("failed")
            return
        for rule in rules:
            dest_name = _dest_bucket_name(rule)
            dest = _bucket_anywhere(dest_name)
            if dest is None or not dest.is_versioned:
                STATE.bump("failed")
                continue
            current = dest.keys.get(key_name)
            replica = FakeDeleteMarker(key=current if current is not None else types.SimpleNamespace(name=key_name))
            replica._version_id = version_id  # same version id as the source delete marker
            dest.keys[key_name] = replica  # moto's versioned key store appends a version
            STATE.bump("delete_markers_replicated")

    _schedule(job)


_orig_put_object = S3Backend.put_object
_orig_set_delete_marker = S3Backend._set_delete_marker


def _put_object(self: S3Backend, *args: Any, **kwargs: Any) -> FakeKey:
    key = _orig_put_object(self, *args, **kwargs)
    events = _ctx_events()
    if events is not None:  # an S3 request: handled when the request has succeeded
        events.append(("object", key))
    elif not getattr(_ctx, "internal", False):
        # written by another service, e.g. CloudWatch Logs CreateExportTask (scenario D): a new object
        # like any other, so it replicates too. The emulator's own replica writes are marked internal.
        try:
            _on_object_created(key)
        except Exception:
            log.exception("replication hook failed")
    return key


def _set_delete_marker(self: S3Backend, bucket_name: str, key_name: str) -> FakeDeleteMarker:
    marker = _orig_set_delete_marker(self, bucket_name, key_name)
    events = _ctx_events()
    if events is not None:
        events.append(("marker", bucket_name, key_name, marker))
    return marker


# ============================================================================ patch 3: bucket-policy Deny is evaluated per caller
# AWS: a bucket-policy Deny applies only to the principals its Principal / NotPrincipal names and only
# when its Condition holds (e.g. StringNotEquals aws:PrincipalArn exempts the listed principals).
#   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
#   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
#   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
# moto: a Deny statement hits every caller whatever its Principal/Condition, so a "only these users may
# write here" policy (scenario C) blocks the allowed uploaders too. Patch: Deny statements are matched
# against the caller (Principal/NotPrincipal; conditions on aws:PrincipalArn, aws:PrincipalAccount,
# aws:SecureTransport with String*/Arn*/Bool operators); anything else keeps moto's behaviour. Allow
# statements are unchanged: moto still never grants from a bucket policy (see README, gap 3).
# Also, moto answers that denial with an empty 403; AWS sends an AccessDenied error document:
#   https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html

_ACCESS_DENIED_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Access Denied</Message><RequestId>emulator</RequestId></Error>"
)


def _resolve_caller(request: Any) -> dict[str, str] | None:
    """aws:PrincipalArn and aws:PrincipalAccount of the principal that signed this request (None if unsigned)."""
    auth = request.headers.get("Authorization", "")
    if "Credential=" not in auth:
        return None
    from moto.iam.access_control import create_access_key
    from moto.iam.models import get_account_id_from

    key_id = auth.split("Credential=", 1)[1].split("/", 1)[0]
    account_id = request.headers.get("x-moto-account-id") or get_account_id_from(key_id)
    arn = f"arn:aws:iam::{account_id}:root"
    try:
        arn = create_access_key(account_id, "aws", key_id, request.headers).arn
    except Exception:
        pass  # an access key moto did not issue: moto treats the caller as that account
    if ":assumed-role/" in arn:  # aws:PrincipalArn of a role session is the role's ARN
        rest = arn.split(":assumed-role/", 1)[1]
        arn = f"arn:aws:iam::{account_id}:role/{rest.split('/', 1)[0]}"
    return {"aws:PrincipalArn": arn, "aws:PrincipalAccount": account_id}


def _glob(pattern: str, value: str, case: bool = True) -> bool:
    import fnmatch

    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _principal_matches(spec: Any, caller: dict[str, str] | None) -> bool:
    if spec == "*":
        return True
    if caller is None:
        return False
    for want in _as_list(_d(spec).get("AWS")):
        if want == "*" or want == caller["aws:PrincipalArn"]:
            return True
        if want in (caller["aws:PrincipalAccount"], f"arn:aws:iam::{caller['aws:PrincipalAccount']}:root"):
            return True
    return False


_OPS = {
    "StringEquals": (False, lambda p, v: p == v),
    "StringNotEquals": (True, lambda p, v: p == v),
    "StringEqualsIgnoreCase": (False, lambda p, v: p.lower() == v.lower()),
    "StringNotEqualsIgnoreCase": (True, lambda p, v: p.lower() == v.lower()),
    "StringLike": (False, _glob),
    "StringNotLike": (True, _glob),
    "ArnEquals": (False, lambda p, v: p == v),
    "ArnNotEquals": (True, lambda p, v: p == v),
    "ArnLike": (False, _glob),
    "ArnNotLike": (True, _glob),
    "Bool": (False, lambda p, v: str(p).lower() == str(v).lower()),
}


def _conditions_hold(conditions: Any, caller: dict[str, str] | None) -> bool:
    context = dict(caller or {})
    context["aws:SecureTransport"] = "true"  # the HTTP endpoint stands in for AWS's HTTPS endpoint
    for op, pairs in _d(conditions).items():
        if_exists = op.endswith("IfExists")
        base = op[: -len("IfExists")] if if_exists else op
        if base not in _OPS:
            continue  # unsupported operator: ignored, as moto does (the statement applies)
        negated, match = _OPS[base]
        for cond_key, wanted in _d(pairs).items():
            actual = next((v for k, v in context.items() if k.lower() == cond_key.lower()), None)
            if actual is None:
                holds = if_exists or negated
            else:
                hit = any(match(str(w), actual) for w in _as_list(wanted))
                holds = not hit if negated else hit
            if not holds:
                return False
    return True


# moto names the bucket-policy action after the HTTP method; HeadObject is authorized as s3:GetObject and
# multipart POSTs (CreateMultipartUpload, CompleteMultipartUpload) as s3:PutObject.
#   https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
#   https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html
_ACTION_ALIASES = {"s3:HeadObject": "s3:GetObject", "s3:PostObject": "s3:PutObject"}


def _get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    action = _ACTION_ALIASES.get(action, action)
    policy = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
    statements = _as_list(policy.get("Statement"))
    request = getattr(_ctx, "request", None)
    caller = _resolve_caller(request) if request is not None else None
    for st in statements:
        if st.get("Effect") != "Deny":
            continue
        one = IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": [{**st, "Effect": "Allow",
                                                                             "Principal": "*", "Condition": {}}]}))
        if one.is_action_permitted(action, resource) != PermissionResult.PERMITTED:
            continue  # action or resource does not match
        if "NotPrincipal" in st:
            if _principal_matches(st["NotPrincipal"], caller):
                continue
        elif not _principal_matches(st.get("Principal", "*"), caller):
            continue
        if _conditions_hold(st.get("Condition"), caller):
            return PermissionResult.DENIED
    allows = [st for st in statements if st.get("Effect") == "Allow"]
    if not allows:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": allows})).is_action_permitted(action, resource)


# ============================================================================ request wrappers (hooks for patches 2 and 3)


def _wrap_s3_entry(original: Any) -> Any:
    def wrapper(self: S3Response, request: Any, full_url: str, headers: Any) -> Any:
        _ctx.events, _ctx.request = [], request
        try:
            status, resp_headers, body = original(self, request, full_url, headers)
            events = _ctx.events
        finally:
            _ctx.events = _ctx.request = None
        if status == 403 and not body:
            body = _ACCESS_DENIED_XML.encode()
            resp_headers = dict(resp_headers or {})
            resp_headers["content-type"] = "application/xml"
        if status < 300:
            for event in events:
                try:
                    if event[0] == "object":
                        _on_object_created(event[1])
                    else:
                        _on_delete_marker(*event[1:])
                except Exception:
                    log.exception("replication hook failed")
        return status, resp_headers, body

    wrapper.__name__ = original.__name__
    return wrapper


# ============================================================================ patch 4: KMS CreateKey with a chosen key id
# No AWS behaviour: AWS always picks the key id. The harness must recreate the spec's key ARNs, so
# CreateKey honours the tag `_custom_key_id_` (the convention LocalStack uses); the tag is not stored.
# moto 5.2.5 ignores that tag (checked: no such code in moto/kms).

_orig_create_key = kms_models.KmsBackend.create_key


def _create_key(self: Any, policy: Any, key_usage: Any, key_spec: Any, description: Any, tags: Any,
                *args: Any, **kwargs: Any) -> Any:
    custom = None
    if tags:
        custom = next((t["TagValue"] for t in tags if t.get("TagKey") == "_custom_key_id_"), None)
        tags = [t for t in tags if t.get("TagKey") != "_custom_key_id_"]
    key = _orig_create_key(self, policy, key_usage, key_spec, description, tags, *args, **kwargs)
    if custom and custom != key.id:
        if custom in self.keys:
            del self.keys[key.id]
            raise AlreadyExistsException(f"Key {custom} already exists")
        del self.keys[key.id]
        old_id = key.id
        key.id = custom
        key.arn = key.arn.rsplit("/", 1)[0] + "/" + custom
        self.keys[custom] = key
        if tags:
            self.tagger.delete_all_tags_for_resource(old_id)
            self.tagger.tag_resource(custom, tags)
    return key


# ============================================================================ patch 5: SigV4 payload hash of bodiless requests
# AWS: the SigV4 canonical request hashes the request body; a GET/HEAD/DELETE without a body hashes the
# empty string (unless x-amz-content-sha256 is signed, which then carries the hash).
#   https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
# moto (IAM enforcement on): re-signs with `data = body or parsed-parameters`, so a bodiless request
# whose parameters moto parsed into a dict (e.g. s3control GetPublicAccessBlock signed without the
# x-amz-content-sha256 header) fails with SignatureDoesNotMatch. Patch: hash the empty body.

_orig_create_aws_request = IAMRequestBase._create_aws_request


def _create_aws_request(self: Any) -> Any:
    request = _orig_create_aws_request(self)
    if not self._body and str(self._method).upper() in ("GET", "HEAD", "DELETE"):
        request.data = b""
    return request


# ============================================================================ patch 6: S3 tags belong to the resource, not to the caller
# AWS: bucket and object tags are part of the resource; any principal allowed to read them sees the same
# tag set, whichever account it is in.
#   https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html
# moto: keeps S3 tags in the TaggingService of the *calling* account's backend, so an object tagged by
# an XYZ user shows no tags to an ABCD reader (and the reverse for replicas). Patch: one TaggingService
# for all S3 backends (tags are keyed by ARN, and S3 ARNs are global); replaced on reset.

_S3_TAGGER = [TaggingService()]


def _s3_tagger_get(self: S3Backend) -> TaggingService:
    return _S3_TAGGER[0]


def _s3_tagger_set(self: S3Backend, value: Any) -> None:
    pass  # S3Backend.__init__ assigns a fresh per-backend tagger; the shared one is kept


def reset_s3_tags() -> None:
    _S3_TAGGER[0] = TaggingService()


# ============================================================================ install


def install_patches() -> None:
    S3Response.get_bucket_replication = _get_bucket_replication
    S3Response.get_bucket_versioning = _get_bucket_versioning
    S3Backend.put_bucket_replication = _put_bucket_replication
    FakeKey.response_dict = property(_response_dict)
    S3Backend.put_object = _put_object
    S3Backend._set_delete_marker = _set_delete_marker
    FakeBucket.get_permission = _get_permission
    S3Response.key_response = _wrap_s3_entry(S3Response.key_response)
    S3Response.bucket_response = _wrap_s3_entry(S3Response.bucket_response)
    kms_models.KmsBackend.create_key = _create_key
    IAMRequestBase._create_aws_request = _create_aws_request
    S3Backend.tagger = property(_s3_tagger_get, _s3_tagger_set)


# ============================================================================ WSGI middleware: control endpoint, reset


class HarnessMiddleware:
    """In front of moto's DomainDispatcherApplication."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.rstrip("/") == "/_harness/replication":
            return self._replication(environ, method, start_response)
        if path.rstrip("/") == "/moto-api/reset" and method == "POST":
            STATE.reset()  # before moto's reset, so no job runs against half-reset state
            result = self.app(environ, start_response)
            STATE.reset()
            reset_s3_tags()
            return result
        return self.app(environ, start_response)

    def _replication(self, environ: dict[str, Any], method: str, start_response: Any) -> Any:
        status = "200 OK"
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = json.loads(environ["wsgi.input"].read(length) or b"{}")
                mode = body.get("mode", DEFAULT_MODE)
                delay = float(body.get("delay_seconds", DEFAULT_DELAY))
                if mode not in MODES or delay < 0:
                    raise ValueError(f"mode must be one of {MODES} and delay_seconds >= 0")
                with STATE.lock:
                    STATE.mode, STATE.delay = mode, delay
                payload = STATE.snapshot()
            except (ValueError, TypeError, AttributeError) as exc:
                status, payload = "400 Bad Request", {"error": str(exc)}
        elif method == "GET":
            payload = STATE.snapshot()
        else:
            status, payload = "405 Method Not Allowed", {"error": "GET or POST"}
        data = json.dumps(payload).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


class HarnessServer(ThreadedMotoServer):
    """ThreadedMotoServer whose WSGI app is wrapped by HarnessMiddleware."""

    def _server_entry(self) -> None:
        app = HarnessMiddleware(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


# ============================================================================ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    parser.add_argument("--no-stdin-watch", action="store_true",
                        help="do not exit at stdin EOF (for running by hand with stdin closed or /dev/null)")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING)
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    install_patches()
    server = HarnessServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()

    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/data.json", timeout=2) as resp:
                resp.read()
            break
        except Exception:
            if time.monotonic() > deadline:
                sys.stderr.write("emulator: moto did not answer within 30 s\n")
                return 1
            time.sleep(0.05)

    stop = threading.Event()

    def watch_stdin() -> None:
        # os.read, not sys.stdin: a daemon thread blocked in a buffered read aborts interpreter exit.
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if not args.no_stdin_watch:
        threading.Thread(target=watch_stdin, daemon=True).start()

    sys.stdout.write(json.dumps({"endpoint": f"http://localhost:{port}", "port": port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    sys.stdout = sys.stderr  # nothing else may reach stdout (moto print()s in a few places)

    while not stop.wait(0.5):
        pass
    server.stop()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: timer/daemon threads may still hold moto state


if __name__ == "__main__":
    sys.exit(main())
