#!/usr/bin/env python3
"""Least-privilege test helper: auditor IAM users that hold exactly a given policy.

Test fixture for tests/least_privilege.rs, run with the repo's virtualenv (.moto/bin/python, boto3).

    auditor.py --provisioned-dir DIR --out-dir OUT --policy docs/auditor-readonly-policy.json

reads DIR/provisioned.json, DIR/aws-config and DIR/aws-credentials written by
tests/harness/provision.py and, with each account's *admin* keys (profile of `accounts.<alias>`),
creates in that account:

- the customer managed policy `replaudit-auditor-readonly` with the policy document as given,
- the IAM user `replaudit-auditor` with only that policy attached, and an access key.

It writes OUT/aws-config (a copy of DIR/aws-config) and OUT/aws-credentials: the account profiles
(`xyz-audit`, `abcd-audit`, ...) now hold the *auditor's* keys, every other profile (the spec's
principals) keeps its keys. Then it prints one JSON line and serves commands, one JSON object per
stdin line, one JSON answer per stdout line, until EOF:

    {"op": "set", "drop": ["s3:GetBucketPolicy"]}   -> new default policy version without those actions
    {"op": "set", "drop": []}                        -> the policy as given again
    {"op": "set", "document": {...}}                 -> exactly this document

`--exercise-user ALIAS` (a user of provisioned.json) first gives that user what makes the auditor
use every read it can need: a managed policy attached to the user, and membership of a group with
an inline and an attached managed policy. All of them allow only `sns:ListTopics` (nothing an
audit rule evaluates), so the audit's findings are unchanged.

in every account at once (old versions are deleted: IAM keeps at most five). Nothing else is ever
printed on stdout; secrets are written only into OUT/aws-credentials (mode 0600).
"""

from __future__ import annotations

import argparse
import configparser
import copy
import json
import os
import sys
from pathlib import Path

import boto3

POLICY_NAME = "replaudit-auditor-readonly"
USER_NAME = "replaudit-auditor"


def without(doc: dict, drop: set[str]) -> dict:
    """The policy document with the given actions removed from every statement (a statement left
    with no action is removed)."""
    out = copy.deepcopy(doc)
    statements = []
    for st in out["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        kept = [a for a in actions if a not in drop]
        if kept:
            st["Action"] = kept
            statements.append(st)
    out["Statement"] = statements
    return out


HARMLESS = {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sns:ListTopics", "Resource": "*"}]}


def exercise(prov: dict, creds: configparser.RawConfigParser, endpoint: str, alias: str) -> None:
    user_arn = prov["users"][alias]["arn"]
    account_id = user_arn.split(":")[4]
    user_name = user_arn.rsplit("/", 1)[1]
    profile = next(a["profile"] for a in prov["accounts"].values() if a["account_id"] == account_id)
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=endpoint,
                       aws_access_key_id=creds[profile]["aws_access_key_id"],
                       aws_secret_access_key=creds[profile]["aws_secret_access_key"])
    doc = json.dumps(HARMLESS)
    user_policy = iam.create_policy(PolicyName="replaudit-lp-user-attached", PolicyDocument=doc)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user_name, PolicyArn=user_policy)
    iam.create_group(GroupName="replaudit-lp-group")
    iam.put_group_policy(GroupName="replaudit-lp-group", PolicyName="replaudit-lp-group-inline", PolicyDocument=doc)
    group_policy = iam.create_policy(PolicyName="replaudit-lp-group-attached", PolicyDocument=doc)["Policy"]["Arn"]
    iam.attach_group_policy(GroupName="replaudit-lp-group", PolicyArn=group_policy)
    iam.add_user_to_group(GroupName="replaudit-lp-group", UserName=user_name)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--provisioned-dir", required=True, type=Path)
    ap.add_argument("--out-dir", required=True, type=Path)
    ap.add_argument("--policy", required=True, type=Path)
    ap.add_argument("--exercise-user", help="alias of a provisioned user to put in a group with policies")
    args = ap.parse_args()

    prov = json.loads((args.provisioned_dir / "provisioned.json").read_text())
    endpoint = prov["endpoint"]
    creds = configparser.RawConfigParser()
    creds.read(args.provisioned_dir / "aws-credentials")
    doc = json.loads(args.policy.read_text())

    if args.exercise_user:
        exercise(prov, creds, endpoint, args.exercise_user)

    iams = {}
    accounts = {}
    for alias, acct in prov["accounts"].items():
        profile = acct["profile"]
        iam = boto3.client(
            "iam",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id=creds[profile]["aws_access_key_id"],
            aws_secret_access_key=creds[profile]["aws_secret_access_key"],
        )
        policy_arn = iam.create_policy(PolicyName=POLICY_NAME, PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
        user = iam.create_user(UserName=USER_NAME)["User"]
        iam.attach_user_policy(UserName=USER_NAME, PolicyArn=policy_arn)
        key = iam.create_access_key(UserName=USER_NAME)["AccessKey"]
        creds[profile]["aws_access_key_id"] = key["AccessKeyId"]
        creds[profile]["aws_secret_access_key"] = key["SecretAccessKey"]
        iams[alias] = (iam, policy_arn)
        accounts[alias] = {"profile": profile, "user_arn": user["Arn"], "policy_arn": policy_arn,
                           "access_key_id": key["AccessKeyId"]}

    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "aws-config").write_text((args.provisioned_dir / "aws-config").read_text())
    path = args.out_dir / "aws-credentials"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        creds.write(f)
    print(json.dumps({"ok": True, "accounts": accounts}), flush=True)

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            cmd = json.loads(line)
            if cmd.get("op") != "set":
                raise ValueError(f"unknown op {cmd.get('op')!r}")
            new_doc = cmd["document"] if "document" in cmd else without(doc, set(cmd.get("drop") or []))
            versions = {}
            for alias, (iam, arn) in iams.items():
                v = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(new_doc),
                                              SetAsDefault=True)["PolicyVersion"]["VersionId"]
                for old in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
                    if not old["IsDefaultVersion"]:
                        iam.delete_policy_version(PolicyArn=arn, VersionId=old["VersionId"])
                versions[alias] = v
            print(json.dumps({"ok": True, "versions": versions,
                              "actions": sorted({a for st in new_doc["Statement"] for a in
                                                 (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])})}),
                  flush=True)
        except Exception as exc:  # answer, never die: the test reports it
            print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
