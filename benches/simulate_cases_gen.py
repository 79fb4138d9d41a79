#!/usr/bin/env python3
"""Generates N policy cases (POLICY-CASES.md format) for the `simulate --cases` speed bench.

Deterministic (fixed seed): the same N gives the same file, so outputs can be compared across
builds. The mix imitates an audit of a few accounts: 40 buckets with bucket policies built from
six shapes, 60 identity-policy sets, 300 principals (users, role sessions, roles) in two
accounts, S3 object and bucket actions plus KMS and STS requests, request contexts with source
IP, TLS, principal tags and tag keys, and some cases with SCP levels, permissions boundaries and
session policies. Policies repeat across cases the way they do in an audit (one bucket policy,
many principals and actions); requests do not.

Usage: simulate_cases_gen.py N OUT.json
"""

import json
import random
import sys

A, B = "111122223333", "444455556666"
ACCOUNTS = [A, B]


def pol(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def bucket_policy(rng, bucket, owner):
    other = B if owner == A else A
    shape = rng.randrange(6)
    obj = f"arn:aws:s3:::{bucket}/*"
    arn = f"arn:aws:s3:::{bucket}"
    if shape == 0:  # cross-account read for one user, the seed scenario's shape
        return pol(
            {"Sid": "ReadForPartner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:user/user{rng.randrange(40)}"},
             "Action": ["s3:GetObject"], "Resource": obj},
            {"Sid": "ListForPartner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:user/user{rng.randrange(40)}"},
             "Action": "s3:ListBucket", "Resource": arn},
        )
    if shape == 1:  # TLS only, plus account delegation
        return pol(
            {"Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [arn, obj],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "Delegate", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:root"},
             "Action": ["s3:GetObject", "s3:PutObject"], "Resource": obj},
        )
    if shape == 2:  # IP allow-list for writes
        return pol(
            {"Sid": "DenyOutsideOffice", "Effect": "Deny", "Principal": "*", "Action": ["s3:PutObject", "s3:DeleteObject"],
             "Resource": obj, "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "198.51.100.0/24"]}}},
            {"Sid": "RoleWrites", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{owner}:role/writer{rng.randrange(10)}"},
             "Action": ["s3:PutObject", "s3:GetObject"], "Resource": obj},
        )
    if shape == 3:  # uploader restriction on a prefix (scenario C)
        return pol(
            {"Sid": "OnlyUploaders", "Effect": "Deny", "NotPrincipal": {"AWS": [f"arn:aws:iam::{owner}:user/user{rng.randrange(40)}", f"arn:aws:iam::{owner}:root"]},
             "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/reports/*"},
            {"Sid": "TeamRead", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": obj,
             "Condition": {"StringEquals": {"aws:PrincipalTag/team": rng.choice(["l2", "audit", "ops"])},
                           "StringLike": {"aws:PrincipalArn": f"arn:aws:iam::{other}:*"}}},
        )
    if shape == 4:  # replication role into the destination
        return pol(
            {"Sid": "Replicate", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:role/s3_replication_role"},
             "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner"],
             "Resource": obj},
            {"Sid": "Versioning", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:role/s3_replication_role"},
             "Action": ["s3:GetBucketVersioning", "s3:PutBucketVersioning"], "Resource": arn},
        )
    return pol(  # logs delivery with confused-deputy guards (scenario D)
        {"Sid": "LogsAcl", "Effect": "Allow", "Principal": {"Service": "logs.ap-southeast-1.amazonaws.com"}, "Action": "s3:GetBucketAcl",
         "Resource": arn, "Condition": {"StringEquals": {"aws:SourceAccount": owner}}},
        {"Sid": "LogsPut", "Effect": "Allow", "Principal": {"Service": "logs.ap-southeast-1.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": obj, "Condition": {"StringEquals": {"aws:SourceAccount": owner, "s3:x-amz-acl": "bucket-owner-full-control"},
                                        "ArnLike": {"aws:SourceArn": f"arn:aws:logs:ap-southeast-1:{owner}:log-group:*"}}},
    )


def identity_set(rng, i):
    shape = i % 6
    if shape == 0:
        return [pol({"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"})]
    if shape == 1:
        return [pol({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"})]
    if shape == 2:
        return [pol({"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::bucket{rng.randrange(40)}/*"}),
                pol({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
                     "Condition": {"StringEquals": {"kms:ViaService": "s3.ap-southeast-1.amazonaws.com"}}})]
    if shape == 3:
        return [pol({"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::bucket*", "arn:aws:s3:::bucket*/home/${aws:username}/*"]},
                    {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}})]
    if shape == 4:
        return [pol({"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*",
                     "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}),
                pol({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::*:role/writer{rng.randrange(10)}"})]
    return [pol({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*",
                 "Condition": {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team", "env"]}}})]


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(20240611)
    buckets = []
    for i in range(40):
        owner = ACCOUNTS[i % 2]
        buckets.append((f"bucket{i}", owner, bucket_policy(rng, f"bucket{i}", owner)))
    identity_sets = [identity_set(rng, i) for i in range(60)]
    principals = []
    for i in range(300):
        acct = ACCOUNTS[i % 2]
        kind = i % 3
        if kind == 0:
            arn = f"arn:aws:iam::{acct}:user/user{i % 40}"
        elif kind == 1:
            arn = f"arn:aws:sts::{acct}:assumed-role/writer{i % 10}/session{i}"
        else:
            arn = f"arn:aws:iam::{acct}:role/s3_replication_role" if i % 30 == 2 else f"arn:aws:iam::{acct}:role/writer{i % 10}"
        principals.append((arn, acct, identity_sets[rng.randrange(len(identity_sets))]))
    scp_sets = [
        [{"target": "r-root", "policies": [pol({"Effect": "Allow", "Action": "*", "Resource": "*"})]}],
        [{"target": "r-root", "policies": [pol({"Effect": "Allow", "Action": "*", "Resource": "*"})]},
         {"target": "ou-prod", "policies": [pol({"Effect": "Allow", "Action": "*", "Resource": "*"},
                                                 {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"})]}],
        [{"target": "r-root", "policies": [pol({"Effect": "Allow", "Action": ["s3:*", "kms:*", "sts:*"], "Resource": "*"},
                                                {"Effect": "Deny", "Action": "*", "Resource": "*",
                                                 "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["ap-southeast-1", "ap-southeast-2"]}}})]}],
    ]
    boundary = pol({"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket", "kms:Decrypt"], "Resource": "*"})
    session = pol({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::bucket1*"})
    object_actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ReplicateObject"]
    bucket_actions = ["s3:ListBucket", "s3:GetBucketAcl", "s3:GetBucketVersioning"]
    ips = ["203.0.113.7", "198.51.100.20", "192.0.2.44", "10.1.2.3"]
    cases = []
    for i in range(n):
        bucket, owner, bpol = buckets[rng.randrange(len(buckets))]
        roll = rng.random()
        if roll < 0.06:
            principal, pacct, ident = "logs.ap-southeast-1.amazonaws.com", None, []
        else:
            principal, pacct, ident = principals[rng.randrange(len(principals))]
        context = {
            "aws:SourceIp": rng.choice(ips),
            "aws:SecureTransport": rng.choice(["true", "true", "true", "false"]),
            "aws:RequestedRegion": rng.choice(["ap-southeast-1", "ap-southeast-2", "us-east-1"]),
        }
        if pacct:
            context["aws:PrincipalArn"] = principal
            context["aws:PrincipalAccount"] = pacct
            if rng.random() < 0.5:
                context["aws:PrincipalTag/team"] = rng.choice(["l2", "audit", "ops"])
            if ":user/" in principal:
                context["aws:username"] = principal.rsplit("/", 1)[1]
                context["aws:MultiFactorAuthPresent"] = rng.choice(["true", "false"])
        else:
            context["aws:SourceAccount"] = owner
            context["aws:SourceArn"] = f"arn:aws:logs:ap-southeast-1:{owner}:log-group:app{rng.randrange(5)}"
        kind = rng.random()
        res_policy = bpol
        if kind < 0.60:
            action = rng.choice(object_actions)
            key = rng.choice(["reports/", "home/user3/", "logs/", ""]) + f"obj{rng.randrange(100000)}.txt"
            resource = f"arn:aws:s3:::{bucket}/{key}"
            if action == "s3:PutObject" and rng.random() < 0.5:
                context["aws:TagKeys"] = rng.sample(["team", "env", "owner"], rng.randrange(1, 3))
                context["s3:x-amz-acl"] = "bucket-owner-full-control"
            racct = owner
        elif kind < 0.85:
            action = rng.choice(bucket_actions)
            resource = f"arn:aws:s3:::{bucket}"
            racct = owner
        elif kind < 0.95:
            action = "kms:Decrypt"
            racct = owner
            resource = f"arn:aws:kms:ap-southeast-1:{owner}:key/{rng.randrange(8):08d}-1111-2222-3333-444455556666"
            res_policy = pol(
                {"Sid": "EnableIAM", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{owner}:root"}, "Action": "kms:*", "Resource": "*"},
                {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B if owner == A else A}:root"},
                 "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"},
            )
            context["kms:ViaService"] = "s3.ap-southeast-1.amazonaws.com"
        else:
            action = "sts:AssumeRole"
            racct = owner
            resource = f"arn:aws:iam::{owner}:role/writer{rng.randrange(10)}"
            res_policy = pol({"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{A}:root", f"arn:aws:iam::{B}:user/user{rng.randrange(40)}"]},
                              "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}})
        case = {
            "id": f"gen-{i}",
            "request": {"principal": principal, "principal_account": pacct, "action": action, "resource": resource,
                        "resource_account": racct, "context": context},
            "identity_policies": ident,
            "resource_policy": res_policy,
            "permission_boundary": boundary if pacct and rng.random() < 0.1 else None,
            "scps": scp_sets[rng.randrange(len(scp_sets))] if pacct and rng.random() < 0.4 else [],
            "rcps": [],
            "session_policy": session if ":assumed-role/" in principal and rng.random() < 0.2 else None,
            "vpc_endpoint_policies": [],
        }
        cases.append(case)
    with open(out, "w") as f:
        f.write("[\n")
        for i, c in enumerate(cases):
            f.write(json.dumps(c, separators=(", ", ": ")))
            f.write(",\n" if i + 1 < len(cases) else "\n")
        f.write("]\n")


if __name__ == "__main__":
    main()
