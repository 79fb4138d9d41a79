#!/usr/bin/env python3
"""Secrets test helper: audit through sts:AssumeRole instead of static keys (a test fixture).

    assume_role.py --provisioned-dir DIR --spec checks/seed.toml --out-spec OUT.toml

With each account's admin keys (DIR/aws-credentials, profiles of provisioned.json `accounts`),
creates the role `replaudit-audit-role` (trusted by the account root and its admin user,
AdministratorAccess attached) and writes OUT.toml: the spec with every account's `credentials = { profile = "P" }`
replaced by `credentials = { role_arn = "<role>", source_profile = "P" }`. Prints one JSON line
`{"roles": {alias: arn}}`. The temporary credentials replaudit then obtains are listed by the
emulator's /moto-api/data.json (`sts.AssumedRole`).
"""

from __future__ import annotations

import argparse
import configparser
import json
import sys
from pathlib import Path

import boto3

ROLE = "replaudit-audit-role"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--provisioned-dir", required=True, type=Path)
    ap.add_argument("--spec", required=True, type=Path)
    ap.add_argument("--out-spec", required=True, type=Path)
    args = ap.parse_args()
    prov = json.loads((args.provisioned_dir / "provisioned.json").read_text())
    creds = configparser.RawConfigParser()
    creds.read(args.provisioned_dir / "aws-credentials")
    text = args.spec.read_text()
    roles = {}
    for alias, acct in prov["accounts"].items():
        profile = acct["profile"]
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=prov["endpoint"],
                           aws_access_key_id=creds[profile]["aws_access_key_id"],
                           aws_secret_access_key=creds[profile]["aws_secret_access_key"])
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            # moto matches the caller's ARN literally (an account root does not cover its users).
            "Principal": {"AWS": [f"arn:aws:iam::{acct['account_id']}:root", acct["admin_user_arn"]]}}]}
        arn = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.attach_role_policy(RoleName=ROLE, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
        old = f'credentials = {{ profile = "{profile}" }}'
        if old not in text:
            raise SystemExit(f"{args.spec}: no line {old!r}")
        text = text.replace(old, f'credentials = {{ role_arn = "{arn}", source_profile = "{profile}" }}')
        roles[alias] = arn
    args.out_spec.write_text(text)
    print(json.dumps({"roles": roles}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
