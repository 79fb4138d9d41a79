#!/usr/bin/env python3
"""Provision a replaudit posture spec into the emulator (tests/harness/emulator.py). TEST FIXTURE.

    .moto/bin/python tests/harness/provision.py --endpoint http://localhost:PORT \
        --spec checks/seed.toml --out-dir DIR [--defect NAME ...] [--no-iam-enforcement]

Every name, id, region, prefix and principal comes from the spec; this script only knows the *shape*
of a correct set-up (see tests/harness/README.md, "The provisioner"). Each --defect changes exactly one
thing from that correct set-up. Writes DIR/aws-config, DIR/aws-credentials (mode 0600) and
DIR/provisioned.json. Secret keys are written to DIR/aws-credentials only, never printed.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import socket
import sys
import time
import tomllib
import urllib.request
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# --------------------------------------------------------------------------- name resolution
# The SDKs send s3control calls to <account-id>.<endpoint host>; `<id>.localhost` does not resolve on
# every machine (it does not here), so within this process any *.localhost name resolves to loopback.
_getaddrinfo = socket.getaddrinfo


def _loopback_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_getaddrinfo

DEFECTS = {
    "wrong-region": "source bucket created in another region than the spec says",
    "bpa-off": "source bucket Block Public Access all false",
    "account-bpa-off": "source account has no account-level Block Public Access",
    "dest-versioning-off": "destination versioning Suspended (after replication was configured)",
    "role-wrong-trust": "replication role trusted by ec2.amazonaws.com instead of s3.amazonaws.com",
    "role-extra-trust": "replication role trusted by s3.amazonaws.com and an AWS account",
    "role-missing-replicate-object": "replication role policy lacks s3:ReplicateObject",
    "role-s3-admin": "replication role gets s3:* on * instead of least privilege",
    "rtc-off": "replication rules have no ReplicationTime / Metrics",
    "delete-markers-off": "replication rules have DeleteMarkerReplication Disabled",
    "dest-policy-missing": "destination bucket has no policy letting the role replicate",
    "clint-granted": "source bucket policy also grants the first denied [[access]] principal",
    "grant-star": 'source bucket policy grants "*" s3:GetObject',
    "grant-account": "source bucket policy grants the whole account of the authorized reader",
    "wrong-prefix": "replication rule filter prefix changed to another prefix",
    "rule-disabled": "replication rules Status Disabled",
    "no-owner-override": "replication rules without AccessControlTranslation",
    "no-replica-key": "replication rules without EncryptionConfiguration (ReplicaKmsKeyID)",
    "intern-can-upload": "scenario C write restriction also exempts the non-uploaders",
    "log-policy-no-service": "log bucket policy names the account root, not the CloudWatch Logs service",
    "backup-versioning-off": "scenario D backup bucket versioning Suspended",
    "log-rule-wrong-prefix": "scenario D replication rule filters another prefix than the export prefix",
    "log-policy-no-condition": "log bucket policy grants CloudWatch Logs without aws:SourceAccount/aws:SourceArn",
    "no-replication": "no replication configuration on the source bucket",
    "trail-no-data-events": "the trail's S3 data-event selector removed (management events kept)",
    "recorder-stopped": "AWS Config recorder stopped in the source bucket's account",
    "failed-replication-metrics": "CloudWatch shows OperationsFailedReplication > 0 for the primary rule",
    "late-replication-metrics": "CloudWatch shows a ReplicationLatency datapoint above 15 minutes for the primary rule",
    "recorder-home-region-only": "AWS Config records only in the source account's home Region, not in the other "
                                 "Regions of its buckets",
    "config-stale": "AWS Config result pinned NON_COMPLIANT for s3-bucket-versioning-enabled on the source bucket",
    "replica-key-encrypt-only": "replication role gets only kms:Encrypt on the replica key (no kms:Decrypt, which S3 "
                                "Bucket Keys need), in its policy and in the key policy",
    "kms-object-arn-context": "replication role's KMS statements are conditioned on object-ARN encryption contexts "
                              "although S3 Bucket Keys make S3 use the bucket ARN",
    "replica-key-alias": "replication rules name the replica key by an alias ARN (valid: S3 resolves it)",
    "replica-key-disabled": "the primary rules' replica KMS key is disabled (DisableKey) after provisioning",
    "no-destination-account": "primary rules' Destination without Account (AccessControlTranslation kept when the spec "
                              "has owner_override)",
    "planted-admin-role": "an extra role with s3:* on * in the primary source's account, and an extra user there who may "
                          "sts:AssumeRole it",
    "no-tls-deny": "source bucket policy without the Deny on aws:SecureTransport false (plain HTTP allowed)",
}

# The planted-admin-role defect's principals (in the primary source's account; the role has a path).
PLANTED_ROLE_PATH, PLANTED_ROLE = "/support/", "l2-support-admin"
PLANTED_USER = "l2-contractor"

# Variants (`--variant NAME`, repeatable): other *correct* set-ups that real accounts have and a test needs;
# unlike a defect, a variant must not make any rule fail.
VARIANTS = {
    "trail-per-region": "single-region trails, one in each Region holding a [evidence].data_events_for bucket, "
                        "instead of one multi-region trail",
    "central-trail-bucket": "the trail delivers to a bucket of a log-archive account that is not in the spec",
    "many-config-rules": "25 more AWS Config rules that sort before the S3 ones (DescribeConfigRules pages)",
}
LOG_ARCHIVE_ACCOUNT = "999988887777"  # central-trail-bucket: an account the spec does not name
EXTRA_CONFIG_RULES = 25               # many-config-rules: one full page of moto's DescribeConfigRules (25)

# AWS Config managed rules deployed where [evidence].config_recording_in says (their default names).
#   https://docs.aws.amazon.com/config/latest/developerguide/managed-rules-by-aws-config.html
CONFIG_RULES = ["S3_BUCKET_REPLICATION_ENABLED", "S3_BUCKET_VERSIONING_ENABLED",
                "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED", "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
                "S3_BUCKET_SSL_REQUESTS_ONLY"]


def config_rule_name(identifier: str) -> str:
    return identifier.lower().replace("_", "-")


# S3 replication metrics as S3 publishes them for rules with Metrics enabled (namespace AWS/S3, dimensions
# SourceBucket, DestinationBucket, RuleId; one datapoint a minute while there is activity).
#   https://docs.aws.amazon.com/AmazonS3/latest/userguide/repl-metrics.html
#   https://docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html#s3-cloudwatch-replication-metrics
METRIC_POINTS = 6            # datapoints per metric, spread over the last hour
LATE_LATENCY_SECONDS = 1260  # late-replication-metrics: 21 minutes, above the 15-minute RTC threshold

WRONG_REGIONS = ["ap-southeast-3", "ap-south-1", "eu-west-1"]
ADMIN_USER = "replaudit-admin"
BPA_ON = {k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}
BPA_OFF = {k: False for k in BPA_ON}

# S3 actions whose resource is the bucket ARN; every other s3: action names objects (bucket/*).
BUCKET_ACTIONS_PREFIXES = ("s3:ListBucket", "s3:GetBucket", "s3:PutBucket", "s3:DeleteBucket",
                           "s3:GetReplicationConfiguration", "s3:PutReplicationConfiguration",
                           "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration",
                           "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration",
                           "s3:GetAccelerateConfiguration", "s3:GetInventoryConfiguration",
                           "s3:GetMetricsConfiguration")


def is_bucket_action(action: str) -> bool:
    return action.startswith(BUCKET_ACTIONS_PREFIXES)


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def parse_arn(arn: str) -> dict[str, str]:
    parts = arn.split(":", 5)
    return {"service": parts[2], "region": parts[3], "account": parts[4], "resource": parts[5]}


def iam_path_and_name(arn: str) -> tuple[str, str, str]:
    """('user'|'role', path, name) of an IAM user/role ARN."""
    resource = parse_arn(arn)["resource"]
    kind, _, rest = resource.partition("/")
    *path, name = rest.split("/")
    return kind, "/" + "".join(p + "/" for p in path), name


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class Provisioner:
    def __init__(self, endpoint: str, spec: dict, defects: list[str], verbose: bool,
                 variants: list[str] | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.spec = spec
        self.defects = set(defects)
        self.variants = set(variants or [])
        self.verbose = verbose
        self.cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2, "mode": "standard"})
        self.accounts: dict[str, dict] = spec.get("accounts", {})
        self.buckets: dict[str, dict] = spec.get("buckets", {})
        self.principals: dict[str, dict] = spec.get("principals", {})
        self.replications: list[dict] = spec.get("replication", [])
        self.access: list[dict] = spec.get("access", [])
        self.admin: dict[str, dict[str, str]] = {}  # account alias -> keys (never printed)
        self.user_keys: dict[str, dict[str, str]] = {}  # principal alias -> keys
        self.clients: dict[tuple, Any] = {}
        self.bucket_region: dict[str, str] = {}  # bucket alias -> region actually used
        self.kms_keys: list[str] = []
        self.extra: dict[str, Any] = {}
        self._validate()

    # ------------------------------------------------------------------ spec helpers
    def _validate(self) -> None:
        unknown = self.defects - set(DEFECTS)
        if unknown:
            raise SystemExit(f"unknown defect(s): {', '.join(sorted(unknown))}; known: {', '.join(DEFECTS)}")
        unknown = self.variants - set(VARIANTS)
        if unknown:
            raise SystemExit(f"unknown variant(s): {', '.join(sorted(unknown))}; known: {', '.join(VARIANTS)}")
        for alias, b in self.buckets.items():
            if b.get("account") not in self.accounts:
                raise SystemExit(f"bucket {alias}: unknown account {b.get('account')!r}")
        if not self.replications and self.defects & {"rtc-off", "delete-markers-off", "wrong-prefix", "rule-disabled",
                                                      "no-owner-override", "no-replica-key", "no-replication",
                                                      "dest-versioning-off", "dest-policy-missing", "wrong-region",
                                                      "bpa-off", "account-bpa-off", "trail-no-data-events",
                                                      "recorder-stopped", "config-stale", "failed-replication-metrics",
                                                      "late-replication-metrics", "no-tls-deny"}:
            raise SystemExit("these defects need a [[replication]] in the spec")
        if self.defects & {"failed-replication-metrics", "late-replication-metrics"} and not any(
                r.get("rtc") or r.get("metrics") for r in (self.primary() or {}).get("rules", [])):
            raise SystemExit("replication-metrics defects need a primary replication rule with rtc or metrics")
        evidence = self.spec.get("evidence", {})
        src_account = self.buckets[self.primary_source()]["account"] if self.primary_source() else None
        if self.defects & {"recorder-stopped", "config-stale", "recorder-home-region-only"} and \
                src_account not in (evidence.get("config_recording_in") or list(self.accounts)):
            raise SystemExit("recorder-stopped / config-stale need the primary source's account in "
                             "[evidence].config_recording_in")
        if "recorder-home-region-only" in self.defects and not any(
                b["account"] == src_account and b["region"] != self.accounts[src_account]["region"]
                for b in self.buckets.values()):
            raise SystemExit("recorder-home-region-only needs a bucket of the primary source's account outside its "
                             "home Region")
        if "trail-no-data-events" in self.defects and self.primary_source() not in (
                evidence.get("data_events_for") or [self.primary_source()]):
            raise SystemExit("trail-no-data-events needs the primary source in [evidence].data_events_for")
        if "config-stale" in self.defects and not self.buckets[self.primary_source()].get("versioning"):
            raise SystemExit("config-stale pins NON_COMPLIANT on a versioned source bucket; the source is not versioned")
        if self.defects & {"backup-versioning-off", "log-rule-wrong-prefix", "log-policy-no-service",
                           "log-policy-no-condition"} and "scenario_d" not in self.spec:
            raise SystemExit("scenario D defects need [scenario_d] in the spec")
        if "intern-can-upload" in self.defects and not self.spec.get("scenario_c", {}).get("non_uploaders"):
            raise SystemExit("intern-can-upload needs scenario_c.non_uploaders")
        if "clint-granted" in self.defects and not any(a.get("deny") for a in self.access):
            raise SystemExit("clint-granted needs an [[access]] entry with deny")
        if self.defects & {"replica-key-encrypt-only", "kms-object-arn-context", "replica-key-alias",
                           "replica-key-disabled"} and not self.primary_replica_keys():
            raise SystemExit("KMS defects need a primary replication rule with replica_kms_key_arn")
        if "planted-admin-role" in self.defects and not self.primary_source():
            raise SystemExit("planted-admin-role needs a [[replication]] in the spec (its source's account)")
        if "no-destination-account" in self.defects and not self.primary():
            raise SystemExit("no-destination-account needs a [[replication]] in the spec")
        if self.defects & {"grant-account"} and not any(a.get("allow") for a in self.access):
            raise SystemExit("grant-account needs an [[access]] entry with allow")

    def account_of_id(self, account_id: str) -> str:
        for alias, a in self.accounts.items():
            if str(a["account_id"]) == account_id:
                return alias
        raise SystemExit(f"account id {account_id} is not in [accounts]")

    def acct_id(self, alias: str) -> str:
        return str(self.accounts[alias]["account_id"])

    def bname(self, alias: str) -> str:
        return self.buckets[alias]["name"]

    def primary(self) -> dict | None:
        """The replication that the source/destination defects act on: scenario_b's, else the first."""
        wanted = self.spec.get("scenario_b", {}).get("replication")
        for r in self.replications:
            if r.get("id") == wanted:
                return r
        return self.replications[0] if self.replications else None

    def primary_source(self) -> str | None:
        p = self.primary()
        return p["source"] if p else None

    def primary_destinations(self) -> set[str]:
        p = self.primary()
        return {r["destination"] for r in p.get("rules", [])} if p else set()

    def primary_replica_keys(self) -> list[str]:
        p = self.primary()
        return sorted({r["replica_kms_key_arn"] for r in (p or {}).get("rules", []) if r.get("replica_kms_key_arn")})

    # ------------------------------------------------------------------ S3 Bucket Keys and encryption context
    # S3 uses the *bucket* ARN as the KMS encryption context when an S3 Bucket Key is used, the object ARN
    # otherwise; the provisioner turns Bucket Keys on for every SSE-KMS default encryption (as the seed does).
    #   https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context
    #   https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html
    # Replication: "When an S3 Bucket Key is enabled for the source or destination bucket, the encryption context
    # will be the bucket's Amazon Resource Name (ARN), not the object's ARN", and "the AWS KMS key policy for the
    # KMS key that's used to encrypt the object replica must include the kms:Decrypt permission for the calling
    # principal" (the replication role).
    #   https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html#bk-replication
    def bucket_key(self, alias: str) -> bool:
        b = self.buckets[alias]
        return bool(b.get("default_encryption", "").startswith("aws:kms"))

    def replica_bucket_key(self, rep: dict, rule: dict) -> bool:
        return self.bucket_key(rep["source"]) or self.bucket_key(rule["destination"])

    def kms_context(self, alias: str, prefix: str, bucket_key: bool) -> str:
        """The `kms:EncryptionContext:aws:s3:arn` value S3 sends for objects under `prefix` of a bucket."""
        arn = bucket_arn(self.bname(alias))
        if bucket_key and "kms-object-arn-context" not in self.defects:
            return arn
        return f"{arn}/{prefix}*"

    def log_replication(self) -> dict | None:
        wanted = self.spec.get("scenario_d", {}).get("replication")
        return next((r for r in self.replications if r.get("id") == wanted), None)

    def principal_arn(self, alias: str) -> str:
        return self.principals[alias]["arn"]

    def log(self, msg: str) -> None:
        if self.verbose:
            sys.stderr.write(f"provision: {msg}\n")

    # ------------------------------------------------------------------ clients
    def client(self, service: str, account: str | None, region: str) -> Any:
        cache_key = (service, account, region)
        if cache_key not in self.clients:
            if account is None:  # bootstrap: any key works while IAM enforcement is off
                keys = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "bootstrap"}
            else:
                k = self.admin[account]
                keys = {"aws_access_key_id": k["id"], "aws_secret_access_key": k["secret"]}
            self.clients[cache_key] = boto3.client(service, region_name=region, endpoint_url=self.endpoint,
                                                   config=self.cfg, **keys)
        return self.clients[cache_key]

    def moto_api(self, path: str, body: bytes, content_type: str = "text/plain") -> Any:
        req = urllib.request.Request(self.endpoint + path, data=body, method="POST",
                                     headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    # ------------------------------------------------------------------ steps
    def bootstrap_admins(self) -> None:
        """Assume a role into each account, create an admin user with AdministratorAccess and a key."""
        self.moto_api("/moto-api/reset-auth", b"inf")  # enforcement off while bootstrapping
        sts = self.client("sts", None, "us-east-1")
        for alias, acct in self.accounts.items():
            creds = sts.assume_role(RoleArn=f"arn:aws:iam::{acct['account_id']}:role/any",
                                    RoleSessionName="replaudit-provision")["Credentials"]
            iam = boto3.client("iam", region_name="us-east-1", endpoint_url=self.endpoint, config=self.cfg,
                               aws_access_key_id=creds["AccessKeyId"],
                               aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"])
            iam.create_user(UserName=ADMIN_USER)
            iam.attach_user_policy(UserName=ADMIN_USER, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
            key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
            self.admin[alias] = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"],
                                 "arn": f"arn:aws:iam::{acct['account_id']}:user/{ADMIN_USER}"}
            self.log(f"admin user in {alias} ({acct['account_id']})")

    def account_bpa(self) -> None:
        src_account = self.buckets[self.primary_source()]["account"] if self.primary_source() else None
        for alias, acct in self.accounts.items():
            if "account-bpa-off" in self.defects and alias == src_account:
                continue
            self.client("s3control", alias, acct["region"]).put_public_access_block(
                AccountId=str(acct["account_id"]), PublicAccessBlockConfiguration=BPA_ON)

    def iam_principals(self) -> None:
        """Users (with keys and identity policies) and the replication roles."""
        role_aliases = {r["role"] for r in self.replications}
        for alias, p in self.principals.items():
            kind, path, name = iam_path_and_name(p["arn"])
            account = self.account_of_id(parse_arn(p["arn"])["account"])
            iam = self.client("iam", account, "us-east-1")
            if kind == "user":
                iam.create_user(UserName=name, Path=path)
                key = iam.create_access_key(UserName=name)["AccessKey"]
                self.user_keys[alias] = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
                statements = self.identity_statements(alias)
                if statements:
                    iam.put_user_policy(UserName=name, PolicyName="replaudit-spec", PolicyDocument=policy(*statements))
            elif kind == "role":
                if alias in role_aliases:
                    trust = self.replication_trust(account)
                    iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=policy(trust))
                    iam.put_role_policy(RoleName=name, PolicyName="replication",
                                        PolicyDocument=policy(*self.replication_role_statements(alias)))
                else:
                    iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=policy(
                        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{self.acct_id(account)}:root"},
                         "Action": "sts:AssumeRole"}))

    def planted_admin_role(self) -> None:
        """Defect planted-admin-role: in the primary source's account, the role PLANTED_ROLE (path PLANTED_ROLE_PATH)
        with s3:* on *, whose trust policy names the user PLANTED_USER, who may sts:AssumeRole it. Within one account
        the trust policy naming the user is enough; the user's permission makes the chain hold either way
        (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html). Nothing in the spec names them:
        only an audit over every principal of the account finds that both can read, write and control its buckets."""
        if "planted-admin-role" not in self.defects:
            return
        account = self.buckets[self.primary_source()]["account"]
        acct_id = self.acct_id(account)
        iam = self.client("iam", account, "us-east-1")
        user_arn = f"arn:aws:iam::{acct_id}:user/{PLANTED_USER}"
        role_arn = f"arn:aws:iam::{acct_id}:role{PLANTED_ROLE_PATH}{PLANTED_ROLE}"
        iam.create_user(UserName=PLANTED_USER)
        iam.create_role(RoleName=PLANTED_ROLE, Path=PLANTED_ROLE_PATH, AssumeRolePolicyDocument=policy(
            {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}))
        iam.put_role_policy(RoleName=PLANTED_ROLE, PolicyName="s3-admin", PolicyDocument=policy(
            {"Sid": "S3Admin", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
        iam.put_user_policy(UserName=PLANTED_USER, PolicyName="assume-support-admin", PolicyDocument=policy(
            {"Sid": "AssumeSupportAdmin", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}))
        self.extra["planted"] = {"role": role_arn, "user": user_arn}

    def replication_trust(self, account: str) -> dict:
        service = "ec2.amazonaws.com" if "role-wrong-trust" in self.defects else "s3.amazonaws.com"
        principal: dict[str, Any] = {"Service": service}
        if "role-extra-trust" in self.defects:
            others = [self.acct_id(self.buckets[d]["account"]) for d in sorted(self.primary_destinations())]
            others = [o for o in others if o != self.acct_id(account)] or [self.acct_id(account)]
            principal["AWS"] = f"arn:aws:iam::{others[0]}:root"
        return {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": self.acct_id(account)}}}

    def replication_role_statements(self, role_alias: str) -> list[dict]:
        sources, dest_objects, owner_dest_objects = [], [], []
        kms_statements: list[dict] = []
        for rep in self.replications:
            if rep["role"] != role_alias:
                continue
            src = self.bname(rep["source"])
            sources.append(src)
            for rule in rep.get("rules", []):
                dest = self.bname(rule["destination"])
                dest_objects.append(f"{bucket_arn(dest)}/*")
                if rule.get("owner_override"):
                    owner_dest_objects.append(f"{bucket_arn(dest)}/*")
                if rule.get("sse_kms_encrypted_objects"):
                    kms_statements += self.replication_kms_statements(rep, rule)
        uniq = lambda xs: sorted(set(xs))  # noqa: E731
        statements: list[dict] = []
        if "role-s3-admin" in self.defects:
            statements.append({"Sid": "S3Admin", "Effect": "Allow", "Action": "s3:*", "Resource": "*"})
        else:
            statements.append({"Sid": "SourceBucket", "Effect": "Allow",
                               "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                               "Resource": uniq(bucket_arn(s) for s in sources)})
            statements.append({"Sid": "SourceObjects", "Effect": "Allow",
                               "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                                          "s3:GetObjectVersionTagging"],
                               "Resource": uniq(f"{bucket_arn(s)}/*" for s in sources)})
            actions = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
            if "role-missing-replicate-object" in self.defects:
                actions.remove("s3:ReplicateObject")
            statements.append({"Sid": "DestinationObjects", "Effect": "Allow", "Action": actions,
                               "Resource": uniq(dest_objects)})
            if owner_dest_objects:
                statements.append({"Sid": "OwnerOverride", "Effect": "Allow",
                                    "Action": "s3:ObjectOwnerOverrideToBucketOwner",
                                    "Resource": uniq(owner_dest_objects)})
        for i, st in enumerate(kms_statements):
            st["Sid"] += str(i)
        return statements + kms_statements

    def replication_kms_statements(self, rep: dict, rule: dict) -> list[dict]:
        """The role's KMS statements for one rule replicating SSE-KMS objects, as the S3 user guide's example
        "Replicating objects with S3 Bucket Keys" writes them: kms:Decrypt on the source key and kms:Encrypt on
        the replica key, each limited by kms:ViaService (S3 in the bucket's region) and the encryption context S3
        uses; with a Bucket Key on the replica, also kms:Decrypt on the replica key.
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html"""
        out: list[dict] = []
        src, dest = rep["source"], rule["destination"]
        prefix = rule.get("prefix", "")

        def cond(alias: str, bucket_key: bool) -> dict:
            return {"StringLike": {
                "kms:ViaService": f"s3.{self.buckets[alias]['region']}.amazonaws.com",
                "kms:EncryptionContext:aws:s3:arn": self.kms_context(alias, prefix, bucket_key)}}

        source_key = self.buckets[src].get("kms_key_arn")
        if source_key:
            out.append({"Sid": "DecryptSource", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": source_key,
                        "Condition": cond(src, self.bucket_key(src))})
        replica_key = rule.get("replica_kms_key_arn")
        if replica_key:
            actions = ["kms:Encrypt"]
            if self.replica_bucket_key(rep, rule) and "replica-key-encrypt-only" not in self.defects:
                actions.append("kms:Decrypt")
            out.append({"Sid": "UseReplicaKey", "Effect": "Allow", "Action": actions, "Resource": replica_key,
                        "Condition": cond(dest, self.replica_bucket_key(rep, rule))})
        return out

    def identity_statements(self, alias: str) -> list[dict]:
        statements: list[dict] = []
        for entry in self.access:
            if entry["principal"] != alias or not entry.get("allow"):
                continue  # denied principals get no S3 permissions
            b = self.buckets[entry["bucket"]]
            statements += self.split_s3_actions(entry["allow"], b["name"], f"Access{len(statements)}")
            if b.get("default_encryption") == "aws:kms" and b.get("kms_key_arn") and \
                    any(a in ("s3:GetObject", "s3:GetObjectVersion", "s3:*") for a in entry["allow"]):
                statements.append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": b["kms_key_arn"]})
        c = self.spec.get("scenario_c")
        if c:
            b = self.buckets[c["bucket"]]
            if alias in c.get("uploaders", []):
                statements.append({"Sid": "UploadReplicatedPrefixes", "Effect": "Allow",
                                   "Action": ["s3:PutObject", "s3:PutObjectTagging"],
                                   "Resource": [f"{bucket_arn(b['name'])}/{p}*" for p in c.get("prefixes", [])]})
                if b.get("default_encryption") == "aws:kms" and b.get("kms_key_arn"):
                    statements.append({"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                                       "Resource": b["kms_key_arn"]})
            if alias in c.get("non_uploaders", []):
                # The identity policy allows the write; the bucket policy is what must deny it.
                statements.append({"Sid": "UploadAnywhere", "Effect": "Allow", "Action": "s3:PutObject",
                                   "Resource": f"{bucket_arn(b['name'])}/*"})
                if b.get("default_encryption") == "aws:kms" and b.get("kms_key_arn"):
                    statements.append({"Effect": "Allow", "Action": "kms:GenerateDataKey",
                                       "Resource": b["kms_key_arn"]})
        a = self.spec.get("scenario_a")
        if a and alias in a.get("readers", []):
            statements.append({"Sid": "ReadReplicas", "Effect": "Allow", "Action": "s3:GetObject",
                               "Resource": f"{bucket_arn(self.bname(a['bucket']))}/*"})
            if a.get("kms_key_arn"):
                statements.append({"Sid": "DecryptReplicas", "Effect": "Allow", "Action": "kms:Decrypt",
                                   "Resource": a["kms_key_arn"]})
        return statements

    @staticmethod
    def split_s3_actions(actions: list[str], bucket: str, sid: str) -> list[dict]:
        on_bucket = [a for a in actions if is_bucket_action(a)]
        on_objects = [a for a in actions if not is_bucket_action(a)]
        out = []
        if on_bucket:
            out.append({"Sid": f"{sid}Bucket", "Effect": "Allow", "Action": on_bucket, "Resource": bucket_arn(bucket)})
        if on_objects:
            out.append({"Sid": f"{sid}Objects", "Effect": "Allow", "Action": on_objects,
                        "Resource": f"{bucket_arn(bucket)}/*"})
        return out

    def kms(self) -> None:
        arns: list[str] = []
        for b in self.buckets.values():
            if b.get("kms_key_arn"):
                arns.append(b["kms_key_arn"])
        for rep in self.replications:
            for rule in rep.get("rules", []):
                if rule.get("replica_kms_key_arn"):
                    arns.append(rule["replica_kms_key_arn"])
        if self.spec.get("scenario_a", {}).get("kms_key_arn"):
            arns.append(self.spec["scenario_a"]["kms_key_arn"])
        for arn in dict.fromkeys(arns):
            parts = parse_arn(arn)
            key_id = parts["resource"].split("/", 1)[1]
            account = self.account_of_id(parts["account"])
            kms = self.client("kms", account, parts["region"])
            kms.create_key(Policy=self.key_policy(arn), Description=f"replaudit harness key {key_id}",
                           Tags=[{"TagKey": "_custom_key_id_", "TagValue": key_id}])
            got = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
            if got != arn:
                raise SystemExit(f"KMS key came back as {got}, wanted {arn} (is the emulator patched?)")
            self.kms_keys.append(arn)
            if "replica-key-alias" in self.defects and arn in self.primary_replica_keys():
                # "ReplicaKmsKeyID: ... Key ARN or Alias ARN"; an alias lives in its key's account and Region.
                #   https://docs.aws.amazon.com/AmazonS3/latest/API/API_EncryptionConfiguration.html
                name = f"alias/replaudit-replica-{key_id[:8]}"
                kms.create_alias(AliasName=name, TargetKeyId=key_id)
                alias_arn = f"arn:{arn.split(':')[1]}:kms:{parts['region']}:{parts['account']}:{name}"
                self.extra.setdefault("replica_key_aliases", {})[arn] = alias_arn

    def key_policy(self, arn: str) -> str:
        """Key policy: the account root may use the key and delegate to IAM (the default key policy), and every
        principal of another account that must use it is named, since across accounts both the key policy and
        the caller's IAM policy must allow; the replication role is named on its own keys too.
        https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html ,
        https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html ,
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html"""
        account_id = parse_arn(arn)["account"]
        statements = [{"Sid": "AccountRootFullAccess", "Effect": "Allow",
                       "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "kms:*", "Resource": "*"}]
        decrypt, replica = set(), set()
        replica_decrypt = set()
        for rep in self.replications:
            role = self.principal_arn(rep["role"])
            src = self.buckets[rep["source"]]
            for rule in rep.get("rules", []):
                if not rule.get("sse_kms_encrypted_objects"):
                    continue
                if src.get("kms_key_arn") == arn:
                    decrypt.add(role)
                if rule.get("replica_kms_key_arn") == arn:
                    replica.add(role)
                    # S3 Bucket Key on the replica: the key policy must give the role kms:Decrypt too.
                    if self.replica_bucket_key(rep, rule) and "replica-key-encrypt-only" not in self.defects:
                        replica_decrypt.add(role)
        a = self.spec.get("scenario_a", {})
        if a.get("kms_key_arn") == arn:
            decrypt.update(self.principal_arn(r) for r in a.get("readers", []))
        for entry in self.access:  # cross-account readers of SSE-KMS buckets need the key policy too
            b = self.buckets[entry["bucket"]]
            reader = self.principal_arn(entry["principal"])
            if entry.get("allow") and b.get("kms_key_arn") == arn and parse_arn(reader)["account"] != account_id \
                    and any(x in ("s3:GetObject", "s3:GetObjectVersion", "s3:*") for x in entry["allow"]):
                decrypt.add(reader)
        decrypt -= replica_decrypt
        if decrypt:
            statements.append({"Sid": "AllowDecrypt", "Effect": "Allow", "Principal": {"AWS": sorted(decrypt)},
                               "Action": "kms:Decrypt", "Resource": "*"})
        if replica:
            actions = ["kms:Encrypt", "kms:Decrypt"] if replica_decrypt else "kms:Encrypt"
            statements.append({"Sid": "AllowReplicaEncrypt", "Effect": "Allow", "Principal": {"AWS": sorted(replica)},
                               "Action": actions, "Resource": "*"})
        return policy(*statements)

    def create_buckets(self) -> None:
        src = self.primary_source()
        for alias, b in self.buckets.items():
            region = b["region"]
            if "wrong-region" in self.defects and alias == src:
                region = next(r for r in WRONG_REGIONS if r != b["region"])
            self.bucket_region[alias] = region
            s3 = self.client("s3", b["account"], region)
            kwargs: dict[str, Any] = {"Bucket": b["name"]}
            if region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            # AWS creates buckets with Object Ownership BucketOwnerEnforced (ACLs disabled) unless told otherwise
            # ("By default, Object Ownership is set to the Bucket owner enforced setting, and all ACLs are
            # disabled"); moto 5.2.5 stores no setting at all, so the provisioner asks for AWS's default explicitly.
            #   https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html
            kwargs["ObjectOwnership"] = b.get("object_ownership") or "BucketOwnerEnforced"
            s3.create_bucket(**kwargs)
            if b.get("versioning"):
                s3.put_bucket_versioning(Bucket=b["name"], VersioningConfiguration={"Status": "Enabled"})
            if b.get("block_public_access", True):
                bpa = BPA_OFF if ("bpa-off" in self.defects and alias == src) else BPA_ON
                s3.put_public_access_block(Bucket=b["name"], PublicAccessBlockConfiguration=bpa)
            enc = b.get("default_encryption")
            if enc:
                default: dict[str, Any] = {"SSEAlgorithm": enc}
                if enc.startswith("aws:kms") and b.get("kms_key_arn"):
                    default["KMSMasterKeyID"] = b["kms_key_arn"]
                s3.put_bucket_encryption(Bucket=b["name"], ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": default,
                               "BucketKeyEnabled": enc.startswith("aws:kms")}]})
            if b.get("object_ownership"):
                s3.put_bucket_ownership_controls(Bucket=b["name"], OwnershipControls={
                    "Rules": [{"ObjectOwnership": b["object_ownership"]}]})
            tags = b.get("tags") or {}
            if tags:
                s3.put_bucket_tagging(Bucket=b["name"], Tagging={
                    "TagSet": [{"Key": k, "Value": str(v)} for k, v in tags.items()]})
            self.log(f"bucket {b['name']} in {region}")

    def replication_configs(self) -> None:
        primary = self.primary()
        log_rep = self.log_replication()
        for rep in self.replications:
            is_primary = rep is primary
            if is_primary and "no-replication" in self.defects:
                continue
            rules = []
            for rule in rep.get("rules", []):
                dest_bucket = self.buckets[rule["destination"]]
                prefix = rule.get("prefix", "")
                if is_primary and "wrong-prefix" in self.defects:
                    prefix = self.spec.get("scenario_b", {}).get("unreplicated_prefix") or f"not-{prefix}"
                    if prefix == rule.get("prefix"):
                        prefix = f"not-{prefix}"
                if rep is log_rep and "log-rule-wrong-prefix" in self.defects:
                    prefix = f"not-{prefix}" if prefix else "not-exports/"
                dmr = rule.get("delete_marker_replication", False)
                if is_primary and "delete-markers-off" in self.defects:
                    dmr = False
                destination: dict[str, Any] = {"Bucket": bucket_arn(dest_bucket["name"])}
                # Destination.Account is required only with AccessControlTranslation (owner override); the
                # provisioner always sets it unless the no-destination-account defect says otherwise.
                #   https://docs.aws.amazon.com/AmazonS3/latest/API/API_Destination.html
                if not (is_primary and "no-destination-account" in self.defects):
                    destination["Account"] = self.acct_id(dest_bucket["account"])
                if rule.get("owner_override") and not (is_primary and "no-owner-override" in self.defects):
                    destination["AccessControlTranslation"] = {"Owner": "Destination"}
                if rule.get("replica_kms_key_arn") and not (is_primary and "no-replica-key" in self.defects):
                    replica_key = rule["replica_kms_key_arn"]
                    if is_primary and "replica-key-alias" in self.defects:
                        replica_key = self.extra["replica_key_aliases"][replica_key]
                    destination["EncryptionConfiguration"] = {"ReplicaKmsKeyID": replica_key}
                if not (is_primary and "rtc-off" in self.defects):
                    if rule.get("rtc"):
                        destination["ReplicationTime"] = {"Status": "Enabled", "Time": {"Minutes": 15}}
                    if rule.get("metrics") or rule.get("rtc"):
                        destination["Metrics"] = {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}
                out: dict[str, Any] = {
                    "Priority": int(rule.get("priority", 1)),
                    "Status": "Disabled" if (is_primary and "rule-disabled" in self.defects) else "Enabled",
                    "Filter": {"Prefix": prefix},
                    "DeleteMarkerReplication": {"Status": "Enabled" if dmr else "Disabled"},
                    "Destination": destination,
                }
                if rule.get("id"):  # without one, S3 generates an ID (moto does too: 30 random characters)
                    out["ID"] = rule["id"]
                if rule.get("sse_kms_encrypted_objects"):
                    out["SourceSelectionCriteria"] = {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
                rules.append(out)
            src = self.buckets[rep["source"]]
            self.client("s3", src["account"], self.bucket_region[rep["source"]]).put_bucket_replication(
                Bucket=src["name"],
                ReplicationConfiguration={"Role": self.principal_arn(rep["role"]), "Rules": rules})

    def destination_policies(self) -> None:
        """Cross-account destinations must let the replication role write into them."""
        grants: dict[str, dict[str, Any]] = {}  # dest alias -> {role arn -> owner_override}
        for rep in self.replications:
            role = self.principal_arn(rep["role"])
            for rule in rep.get("rules", []):
                dest = rule["destination"]
                if self.acct_id(self.buckets[dest]["account"]) == parse_arn(role)["account"]:
                    continue  # same account: the role's identity policy is enough
                grants.setdefault(dest, {})
                grants[dest][role] = grants[dest].get(role, False) or bool(rule.get("owner_override"))
        for dest, roles in grants.items():
            if "dest-policy-missing" in self.defects and dest in self.primary_destinations():
                continue
            name = self.bname(dest)
            statements = []
            for role, owner_override in sorted(roles.items()):
                actions = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
                if owner_override:
                    actions.append("s3:ObjectOwnerOverrideToBucketOwner")
                statements.append({"Sid": "ReplicationRoleWritesReplicas", "Effect": "Allow",
                                   "Principal": {"AWS": role}, "Action": actions, "Resource": f"{bucket_arn(name)}/*"})
                statements.append({"Sid": "ReplicationRoleChecksVersioning", "Effect": "Allow",
                                   "Principal": {"AWS": role},
                                   "Action": ["s3:GetBucketVersioning", "s3:PutBucketVersioning"],
                                   "Resource": bucket_arn(name)})
            for i, st in enumerate(statements):
                st["Sid"] += str(i)
            b = self.buckets[dest]
            self.client("s3", b["account"], self.bucket_region[dest]).put_bucket_policy(
                Bucket=name, Policy=policy(*statements))

    def sample_objects(self) -> list[tuple[str, str]]:
        """Sample objects named by the spec, written by the bucket owner's admin before any policy that
        could deny the admin exists (scenario C's Deny exempts only the uploaders, as in AWS)."""
        written = []
        for entry in self.access:
            if entry.get("sample_key"):
                written.append((entry["bucket"], entry["sample_key"]))
        written = list(dict.fromkeys(written))
        for alias, key in written:
            b = self.buckets[alias]
            self.client("s3", b["account"], self.bucket_region[alias]).put_object(
                Bucket=b["name"], Key=key, Body=f"replaudit sample object {key}\n".encode(),
                ContentType="text/plain")
        self.wait_replication_idle()
        a = self.spec.get("scenario_a")
        if a and a.get("sample_key"):
            is_destination = any(r["destination"] == a["bucket"] for rep in self.replications for r in rep.get("rules", []))
            if not is_destination:  # otherwise the replica of the source sample is the sample
                b = self.buckets[a["bucket"]]
                extra: dict[str, Any] = {}
                if a.get("kms_key_arn"):
                    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": a["kms_key_arn"]}
                self.client("s3", b["account"], self.bucket_region[a["bucket"]]).put_object(
                    Bucket=b["name"], Key=a["sample_key"], Body=b"replaudit sample object\n", **extra)
                written.append((a["bucket"], a["sample_key"]))
        return written

    def wait_replication_idle(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint + "/_harness/replication", timeout=5) as resp:
                    if json.loads(resp.read()).get("pending", 0) == 0:
                        return
            except Exception:
                return  # not our emulator: nothing to wait for
            time.sleep(0.1)

    def source_policies(self) -> None:
        """Bucket policies for [[access]] buckets: grants to the allowed principals, scenario C's Deny."""
        per_bucket: dict[str, list[dict]] = {}
        for i, entry in enumerate(self.access):
            if entry.get("allow"):
                for st in self.split_s3_actions(entry["allow"], self.bname(entry["bucket"]), f"Grant{i}"):
                    st["Principal"] = {"AWS": self.principal_arn(entry["principal"])}
                    per_bucket.setdefault(entry["bucket"], []).append(st)
        denied = next((e for e in self.access if e.get("deny")), None)
        if "clint-granted" in self.defects and denied:
            for st in self.split_s3_actions(denied["deny"], self.bname(denied["bucket"]), "DefectGrantDenied"):
                st["Principal"] = {"AWS": self.principal_arn(denied["principal"])}
                per_bucket.setdefault(denied["bucket"], []).append(st)
        allowed = next((e for e in self.access if e.get("allow")), None)
        if "grant-account" in self.defects and allowed:
            account_id = parse_arn(self.principal_arn(allowed["principal"]))["account"]
            for st in self.split_s3_actions(allowed["allow"], self.bname(allowed["bucket"]), "DefectGrantAccount"):
                st["Principal"] = {"AWS": f"arn:aws:iam::{account_id}:root"}
                per_bucket.setdefault(allowed["bucket"], []).append(st)
        if "grant-star" in self.defects:
            target = (allowed or denied or {}).get("bucket") or self.primary_source()
            per_bucket.setdefault(target, []).append(
                {"Sid": "DefectGrantStar", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": f"{bucket_arn(self.bname(target))}/*"})
        c = self.spec.get("scenario_c")
        if c and c.get("prefixes"):
            exempt = [self.principal_arn(u) for u in c.get("uploaders", [])]
            if "intern-can-upload" in self.defects:
                exempt += [self.principal_arn(u) for u in c.get("non_uploaders", [])]
            per_bucket.setdefault(c["bucket"], []).append({
                "Sid": "OnlyUploadersWriteReplicatedPrefixes", "Effect": "Deny", "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": [f"{bucket_arn(self.bname(c['bucket']))}/{p}*" for p in c["prefixes"]],
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": exempt}}})
        for alias, statements in per_bucket.items():
            b = self.buckets[alias]
            self.client("s3", b["account"], self.bucket_region[alias]).put_bucket_policy(
                Bucket=b["name"], Policy=policy(*statements))

    def scenario_d(self) -> None:
        d = self.spec.get("scenario_d")
        if not d:
            return
        b = self.buckets[d["log_bucket"]]
        region = d.get("logs_region") or b["region"]
        account_id = self.acct_id(b["account"])
        logs = self.client("logs", b["account"], region)
        for group in d.get("log_groups", []):
            logs.create_log_group(logGroupName=group)
        principal: dict[str, Any] = {"Service": f"logs.{region}.amazonaws.com"}
        if "log-policy-no-service" in self.defects:
            principal = {"AWS": f"arn:aws:iam::{account_id}:root"}
        # Confused-deputy guard: only exports from this account's log groups.
        #   https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/S3ExportTasksConsole.html
        condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": [account_id]},
                                     "ArnLike": {"aws:SourceArn": [f"arn:aws:logs:{region}:{account_id}:log-group:*"]}}
        if "log-policy-no-condition" in self.defects:
            condition = {}
        acl_statement: dict[str, Any] = {"Sid": "CloudWatchLogsGetBucketAcl", "Effect": "Allow", "Principal": principal,
                                         "Action": "s3:GetBucketAcl", "Resource": bucket_arn(b["name"])}
        if condition:
            acl_statement["Condition"] = condition
        statements = [
            acl_statement,
            {"Sid": "CloudWatchLogsPutExports", "Effect": "Allow", "Principal": principal, "Action": "s3:PutObject",
             "Resource": f"{bucket_arn(b['name'])}/{d.get('export_prefix', '')}*",
             "Condition": {**condition, "StringEquals": {**condition.get("StringEquals", {}),
                                                         "s3:x-amz-acl": "bucket-owner-full-control"}}},
        ]
        self.client("s3", b["account"], self.bucket_region[d["log_bucket"]]).put_bucket_policy(
            Bucket=b["name"], Policy=policy(*statements))

    def tls_only_policies(self) -> None:
        """Every bucket the spec wants TLS-only (`tls_only`, default true) gets a Deny of every S3 action
        to everyone when aws:SecureTransport is false, added to whatever policy it already has, as AWS
        recommends and as the s3-bucket-ssl-requests-only Config rule checks:
          https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html
          https://docs.aws.amazon.com/config/latest/developerguide/s3-bucket-ssl-requests-only.html
        (The emulator serves plain HTTP but treats every request as sent over TLS: patch 3.)"""
        for alias, b in self.buckets.items():
            if not b.get("tls_only", True):
                continue
            if "no-tls-deny" in self.defects and alias == self.primary_source():
                continue
            s3 = self.client("s3", b["account"], self.bucket_region[alias])
            try:
                statements = json.loads(s3.get_bucket_policy(Bucket=b["name"])["Policy"])["Statement"]
            except s3.exceptions.ClientError as e:
                if e.response["Error"]["Code"] != "NoSuchBucketPolicy":
                    raise
                statements = []
            statements = statements if isinstance(statements, list) else [statements]
            statements.append({"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                               "Resource": [bucket_arn(b["name"]), f"{bucket_arn(b['name'])}/*"],
                               "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
            s3.put_bucket_policy(Bucket=b["name"], Policy=policy(*statements))

    def versioning_defects(self) -> None:
        """Suspend versioning *after* replication was configured (AWS refuses the configuration otherwise)."""
        targets = []
        if "dest-versioning-off" in self.defects:
            targets += sorted(self.primary_destinations())
        if "backup-versioning-off" in self.defects:
            targets.append(self.spec["scenario_d"]["backup_bucket"])
        for alias in targets:
            b = self.buckets[alias]
            self.client("s3", b["account"], self.bucket_region[alias]).put_bucket_versioning(
                Bucket=b["name"], VersioningConfiguration={"Status": "Suspended"})

    def key_state_defects(self) -> None:
        """Disable the primary replica keys once everything else is in place (AWS's S3 does not check the key
        when the configuration is put; replication of new objects then fails).
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html ,
        https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html"""
        if "replica-key-disabled" not in self.defects:
            return
        for arn in self.primary_replica_keys():
            parts = parse_arn(arn)
            # By key id: moto 5.2.5's DisableKey does not accept the key ARN that AWS accepts.
            self.client("kms", self.account_of_id(parts["account"]), parts["region"]).disable_key(
                KeyId=parts["resource"].split("/", 1)[1])

    def other_account_client(self, service: str, account_id: str, region: str) -> Any:
        """A client acting as an account the spec does not name (central-trail-bucket's log archive)."""
        cache_key = (service, f"id:{account_id}", region)
        if cache_key not in self.clients:
            creds = self.client("sts", None, "us-east-1").assume_role(
                RoleArn=f"arn:aws:iam::{account_id}:role/any", RoleSessionName="replaudit-provision")["Credentials"]
            self.clients[cache_key] = boto3.client(
                service, region_name=region, endpoint_url=self.endpoint, config=self.cfg,
                aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"])
        return self.clients[cache_key]

    def trail_bucket(self, account: str, region: str, trail_arns: list[str]) -> str:
        """The trail's delivery bucket (BPA on, policy granting only cloudtrail.amazonaws.com for these trails),
        in the account itself or, with the central-trail-bucket variant, in a log-archive account."""
        account_id = self.acct_id(account)
        central = "central-trail-bucket" in self.variants
        name = f"replaudit-trail-archive-{account_id}" if central else f"replaudit-trail-{account_id}"
        s3 = self.other_account_client("s3", LOG_ARCHIVE_ACCOUNT, region) if central else \
            self.client("s3", account, region)
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=BPA_ON)
        cond = {"StringEquals": {"aws:SourceArn": trail_arns}}
        s3.put_bucket_policy(Bucket=name, Policy=policy(
            {"Sid": "CloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:GetBucketAcl", "Resource": bucket_arn(name), "Condition": cond},
            {"Sid": "CloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:PutObject", "Resource": f"{bucket_arn(name)}/AWSLogs/{account_id}/*",
             "Condition": {"StringEquals": {"aws:SourceArn": trail_arns,
                                            "s3:x-amz-acl": "bucket-owner-full-control"}}}))
        return name

    def audit_trail_and_config(self) -> None:
        """CloudTrail data events for `[evidence].data_events_for` (default: the primary source), one
        multi-region trail per account holding such buckets (variant trail-per-region: one single-region trail
        per Region of those buckets); AWS Config recording in `[evidence].config_recording_in` (default: every
        account), in the account's home Region and every Region where the spec puts one of its buckets (AWS
        Config is regional: https://docs.aws.amazon.com/config/latest/developerguide/select-resources.html)."""
        evidence = self.spec.get("evidence", {})
        data_buckets = evidence.get("data_events_for") or ([self.primary_source()] if self.primary_source() else [])
        per_account: dict[str, list[str]] = {}
        for alias in data_buckets:
            per_account.setdefault(self.buckets[alias]["account"], []).append(alias)
        self.extra["trails"] = []
        for account, aliases in per_account.items():
            # The spec's regions (not the one a wrong-region defect used): a defect changes one thing.
            account_id, region = self.acct_id(account), self.buckets[aliases[0]]["region"]
            if "trail-per-region" in self.variants:
                groups: dict[str, list[str]] = {}
                for a in aliases:
                    groups.setdefault(self.buckets[a]["region"], []).append(a)
                trails = [(f"replaudit-trail-{r}", r, False, members) for r, members in sorted(groups.items())]
            else:
                trails = [("replaudit-trail", region, True, aliases)]
            arns = [f"arn:aws:cloudtrail:{r}:{account_id}:trail/{name}" for name, r, _, _ in trails]
            trail_bucket = self.trail_bucket(account, region, arns)
            for (name, trail_region, multi, members), trail_arn in zip(trails, arns):
                ct = self.client("cloudtrail", account, trail_region)
                ct.create_trail(Name=name, S3BucketName=trail_bucket, IsMultiRegionTrail=multi,
                                IncludeGlobalServiceEvents=multi, EnableLogFileValidation=True)
                selector: dict[str, Any] = {"ReadWriteType": "All", "IncludeManagementEvents": True,
                                            "DataResources": [{"Type": "AWS::S3::Object",
                                                               "Values": [f"{bucket_arn(self.bname(a))}/"
                                                                          for a in members]}]}
                if "trail-no-data-events" in self.defects and self.primary_source() in members:
                    del selector["DataResources"]  # management events only
                ct.put_event_selectors(TrailName=name, EventSelectors=[selector])
                ct.start_logging(Name=name)
                self.extra["trails"].append({"name": name, "arn": trail_arn, "bucket": trail_bucket,
                                             "bucket_account_id": LOG_ARCHIVE_ACCOUNT
                                             if "central-trail-bucket" in self.variants else account_id,
                                             "account_id": account_id, "region": trail_region,
                                             "multi_region": multi,
                                             "data_event_buckets": [self.bname(a) for a in members]})
        if self.extra["trails"]:
            self.extra["trail"] = self.extra["trails"][0]
        src = self.primary_source()
        src_account = self.buckets[src]["account"] if src else None
        for alias in evidence.get("config_recording_in") or list(self.accounts):
            acct = self.accounts[alias]
            account_id, home = self.acct_id(alias), acct["region"]
            regions = sorted({home} | {b["region"] for b in self.buckets.values() if b["account"] == alias})
            if "recorder-home-region-only" in self.defects and alias == src_account:
                regions = [home]
            config_bucket = f"replaudit-config-{account_id}"
            s3 = self.client("s3", alias, home)
            kwargs = {"Bucket": config_bucket}
            if home != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": home}
            s3.create_bucket(**kwargs)
            s3.put_public_access_block(Bucket=config_bucket, PublicAccessBlockConfiguration=BPA_ON)
            for region in regions:
                cfg = self.client("config", alias, region)
                cfg.put_configuration_recorder(ConfigurationRecorder={
                    "name": "default",
                    "roleARN": f"arn:aws:iam::{account_id}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig",
                    # Global resource types (IAM) only in the home Region, as AWS recommends.
                    "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": region == home}})
                cfg.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": config_bucket})
                cfg.start_configuration_recorder(ConfigurationRecorderName="default")
                if "many-config-rules" in self.variants:
                    for i in range(EXTRA_CONFIG_RULES):
                        cfg.put_config_rule(ConfigRule={
                            "ConfigRuleName": f"cloudtrail-enabled-{i:02d}",
                            "Source": {"Owner": "AWS", "SourceIdentifier": "CLOUD_TRAIL_ENABLED"}})
                for identifier in CONFIG_RULES:
                    cfg.put_config_rule(ConfigRule={
                        "ConfigRuleName": config_rule_name(identifier),
                        "Source": {"Owner": "AWS", "SourceIdentifier": identifier},
                        "Scope": {"ComplianceResourceTypes": ["AWS::S3::Bucket"]}})
                self.extra.setdefault("config", []).append({
                    "account_id": account_id, "region": region, "recorder": "default",
                    "delivery_bucket": config_bucket, "rules": [config_rule_name(i) for i in CONFIG_RULES]})
        if src and "recorder-stopped" in self.defects:
            acct = self.buckets[src]["account"]
            self.client("config", acct, self.accounts[acct]["region"]).stop_configuration_recorder(
                ConfigurationRecorderName="default")
        if src and "config-stale" in self.defects:
            # A stale evaluation: versioning is Enabled on the source, AWS Config still says NON_COMPLIANT.
            pin = {"account": self.acct_id(self.buckets[src]["account"]),
                   "rule": config_rule_name("S3_BUCKET_VERSIONING_ENABLED"), "resource": self.bname(src),
                   "compliance": "NON_COMPLIANT"}
            try:
                self.moto_api("/_harness/config-override", json.dumps(pin).encode(), "application/json")
            except Exception as exc:
                raise SystemExit(f"config-stale needs the harness emulator (/_harness/config-override): {exc}")
            self.extra["config_overrides"] = [pin]

    def replication_metrics(self) -> None:
        """Publish the replication metrics S3 would have published over the last hour, for every deployed
        rule that is Enabled with Metrics Enabled, under the deployed rule's ID, where S3 publishes them: in the
        source bucket owner's account, ReplicationLatency, OperationsPendingReplication and
        BytesPendingReplication in the destination bucket's Region and OperationsFailedReplication in the source
        bucket's Region (https://docs.aws.amazon.com/AmazonS3/latest/userguide/repl-metrics.html, "Which Region
        is this metric published in?")."""
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        primary = self.primary()
        published = []
        by_name = {b["name"]: alias for alias, b in self.buckets.items()}
        for rep in self.replications:
            src = self.buckets[rep["source"]]
            region = self.bucket_region[rep["source"]]
            s3 = self.client("s3", src["account"], region)
            try:
                deployed = s3.get_bucket_replication(Bucket=src["name"])["ReplicationConfiguration"]["Rules"]
            except ClientError:
                continue  # no replication configuration: nothing to publish
            for rule in deployed:
                if rule.get("Status") != "Enabled" or rule["Destination"].get("Metrics", {}).get("Status") != "Enabled":
                    continue
                dest = rule["Destination"]["Bucket"].split(":::", 1)[1]
                dest_region = self.bucket_region.get(by_name.get(dest, ""), region)
                dims = [{"Name": "SourceBucket", "Value": src["name"]}, {"Name": "DestinationBucket", "Value": dest},
                        {"Name": "RuleId", "Value": rule["ID"]}]
                is_primary = rep is primary
                data: dict[str, list[dict]] = {dest_region: [], region: []}
                for i in range(METRIC_POINTS):
                    at = now - datetime.timedelta(minutes=55 - i * 10)
                    h = int(hashlib.sha256(f"{rule['ID']}/{i}".encode()).hexdigest(), 16)
                    latency = float(2 + h % 39)                      # 2-40 s
                    pending = float((h >> 8) % 4)                     # 0-3 operations
                    failed = 0.0
                    if is_primary and "late-replication-metrics" in self.defects and i == METRIC_POINTS // 2:
                        latency = float(LATE_LATENCY_SECONDS)
                    if is_primary and "failed-replication-metrics" in self.defects and i in (2, 3):
                        failed = float(4 - i)                         # 2 + 1 failed operations
                    for name, value, unit, where in (("ReplicationLatency", latency, "Seconds", dest_region),
                                                     ("OperationsPendingReplication", pending, "Count", dest_region),
                                                     ("OperationsFailedReplication", failed, "Count", region),
                                                     ("BytesPendingReplication", pending * 1536.0, "Bytes",
                                                      dest_region)):
                        data[where].append({"MetricName": name, "Dimensions": dims, "Timestamp": at,
                                            "Value": value, "Unit": unit})
                for where, points in data.items():
                    cw = self.client("cloudwatch", src["account"], where)
                    for chunk in range(0, len(points), 20):
                        cw.put_metric_data(Namespace="AWS/S3", MetricData=points[chunk:chunk + 20])
                published.append({"source": src["name"], "destination": dest, "rule_id": rule["ID"],
                                  "account_id": self.acct_id(src["account"]), "region": region,
                                  "latency_region": dest_region, "failures_region": region,
                                  "datapoints_per_metric": METRIC_POINTS})
        self.extra["replication_metrics"] = published

    # ------------------------------------------------------------------ outputs
    def write_outputs(self, out_dir: str, samples: list[tuple[str, str]], enforcement: bool) -> None:
        os.makedirs(out_dir, exist_ok=True)
        config_lines, cred_lines = [], []

        def profile(name: str, region: str, key: dict[str, str]) -> None:
            config_lines.extend([f"[profile {name}]", f"region = {region}", "output = json",
                                 f"endpoint_url = {self.endpoint}", ""])
            cred_lines.extend([f"[{name}]", f"aws_access_key_id = {key['id']}",
                               f"aws_secret_access_key = {key['secret']}", ""])

        report: dict[str, Any] = {"endpoint": self.endpoint, "spec_name": self.spec.get("name"),
                                  "defects": sorted(self.defects), "variants": sorted(self.variants),
                                  "iam_enforcement": enforcement,
                                  "accounts": {}, "users": {}, "roles": {}, "buckets": {},
                                  "kms_keys": self.kms_keys, "sample_objects": [], **self.extra}
        primary = self.primary()
        if primary:
            report["primary_replication"] = {"id": primary.get("id"), "source": primary["source"],
                                             "destinations": sorted(self.primary_destinations())}
        for alias, acct in self.accounts.items():
            prof = acct.get("credentials", {}).get("profile")
            if prof:
                profile(prof, acct["region"], self.admin[alias])
            report["accounts"][alias] = {"account_id": self.acct_id(alias), "region": acct["region"], "profile": prof,
                                         "admin_user_arn": self.admin[alias]["arn"],
                                         "admin_access_key_id": self.admin[alias]["id"]}
        for alias, p in self.principals.items():
            kind = iam_path_and_name(p["arn"])[0]
            if kind == "user":
                account = self.account_of_id(parse_arn(p["arn"])["account"])
                prof = p.get("credentials", {}).get("profile")
                if prof:
                    profile(prof, self.accounts[account]["region"], self.user_keys[alias])
                report["users"][alias] = {"arn": p["arn"], "profile": prof,
                                          "access_key_id": self.user_keys[alias]["id"]}
            elif kind == "role":
                report["roles"][alias] = {"arn": p["arn"]}
        for alias, b in self.buckets.items():
            report["buckets"][alias] = {"name": b["name"], "account_id": self.acct_id(b["account"]),
                                        "region": self.bucket_region.get(alias, b["region"])}
        report["sample_objects"] = [{"bucket": self.bname(a), "key": k} for a, k in samples]

        def write(name: str, text: str, mode: int) -> None:
            path = os.path.join(out_dir, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.chmod(path, mode)

        write("aws-config", "\n".join(config_lines), 0o600)
        write("aws-credentials", "\n".join(cred_lines), 0o600)
        write("provisioned.json", json.dumps(report, indent=2) + "\n", 0o644)

    def harness_settings(self, settings: dict | None = None) -> dict | None:
        """GET (or POST) the emulator's replication settings; None if this is not our emulator."""
        try:
            if settings is None:
                with urllib.request.urlopen(self.endpoint + "/_harness/replication", timeout=5) as resp:
                    return json.loads(resp.read())
            return self.moto_api("/_harness/replication", json.dumps(settings).encode(), "application/json")
        except Exception:
            return None

    def run(self, out_dir: str, enforcement: bool) -> None:
        # Replicate the sample objects quickly, keeping the caller's mode; the delay is restored after.
        before = self.harness_settings()
        if before:
            self.harness_settings({"mode": before["mode"], "delay_seconds": min(before["delay_seconds"], 0.05)})
        try:
            self._run(out_dir, enforcement)
        finally:
            if before:
                self.harness_settings({"mode": before["mode"], "delay_seconds": before["delay_seconds"]})

    def _run(self, out_dir: str, enforcement: bool) -> None:
        self.bootstrap_admins()
        self.account_bpa()
        self.iam_principals()  # before KMS: key policies name these principals
        self.planted_admin_role()
        self.kms()
        self.create_buckets()
        self.replication_configs()
        self.destination_policies()
        samples = self.sample_objects()
        self.source_policies()
        self.scenario_d()
        self.tls_only_policies()
        self.versioning_defects()
        self.audit_trail_and_config()
        self.replication_metrics()
        self.wait_replication_idle()
        self.key_state_defects()
        if enforcement:
            self.moto_api("/moto-api/reset-auth", b"0")  # from now on, every request is authorized
        self.write_outputs(out_dir, samples, enforcement)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="emulator endpoint, e.g. http://localhost:PORT")
    parser.add_argument("--spec", required=True, help="posture spec (TOML)")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS), metavar="NAME",
                        help="apply one defect (repeatable): " + ", ".join(DEFECTS))
    parser.add_argument("--variant", action="append", default=[], choices=sorted(VARIANTS), metavar="NAME",
                        help="provision another correct set-up (repeatable): " + ", ".join(VARIANTS))
    parser.add_argument("--no-iam-enforcement", action="store_true",
                        help="leave moto's IAM enforcement off (default: turned on when provisioning is done)")
    parser.add_argument("--reset", action="store_true", help="POST /moto-api/reset first")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    with open(args.spec, "rb") as fh:
        spec = tomllib.load(fh)
    p = Provisioner(args.endpoint, spec, args.defect, args.verbose, args.variant)
    if args.reset:
        p.moto_api("/moto-api/reset", b"")
    p.run(args.out_dir, enforcement=not args.no_iam_enforcement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
