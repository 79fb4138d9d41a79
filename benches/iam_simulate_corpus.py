#!/usr/bin/env python3
"""Runs iam-simulate's own engine test corpus through `replaudit simulate --cases`.

The corpus is cloud-copilot/iam-simulate's `src/core_engine/coreEngineTests/**/*.json`
(https://github.com/cloud-copilot/iam-simulate, AGPL-3.0-or-later). It is not copied into this
repository: give the path of a checkout (or of any directory holding some of its files). Each
test becomes one case in POLICY-CASES.md format, with `source` naming the file and licence and
`expected` the corpus's expected response; the script prints the agreement and every case that
disagrees.

Mapping: request.principal / action / resource.resource / resource.accountId / context (the
corpus's runner reads `context` only); identityPolicies, resourcePolicy, serviceControlPolicies
and resourceControlPolicies (levels: orgIdentifier -> target; RCP levels get AWS's implicit
RCPFullAWSAccess in both tools); one permissionBoundaries entry -> permission_boundary.
Skipped, and counted as such: tests marked `skip`, tests run in iam-simulate's Discovery mode
(a feature of that tool, not of AWS), and tests with several permission boundaries.

Usage: benches/iam_simulate_corpus.py CORPUS_DIR [--replaudit target/debug/replaudit]
       [--write cases.json]
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESPONSE = {"Allowed": "Allowed", "ExplicitlyDenied": "ExplicitDeny", "ImplicitlyDenied": "ImplicitDeny"}


def account_of(arn):
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[4] if len(parts) > 5 and parts[4] else None


def convert(rel, n, t):
    """One corpus test -> (case, None) or (None, reason skipped)."""
    if t.get("skip"):
        return None, "marked skip"
    if (t.get("simulation") or {}).get("mode", "Strict") != "Strict":
        return None, "discovery mode"
    boundaries = t.get("permissionBoundaries") or []
    if len(boundaries) > 1:
        return None, "several permission boundaries"
    r = t["request"]
    principal = r["principal"]
    if isinstance(principal, dict):
        principal = "anonymous"
    expected = RESPONSE.get((t.get("expected") or {}).get("response"))
    if expected is None:
        return None, "no expected response"
    levels = lambda key: [{"target": l.get("orgIdentifier", ""), "policies": l.get("policies") or []} for l in t.get(key) or []]
    case = {
        "id": f"{rel}#{n}",
        "description": t.get("name", ""),
        "source": f"cloud-copilot/iam-simulate src/core_engine/coreEngineTests/{rel} (AGPL-3.0-or-later)",
        "request": {
            "principal": principal,
            "principal_account": account_of(principal),
            "action": r["action"],
            "resource": r["resource"]["resource"],
            "resource_account": r["resource"].get("accountId"),
            "context": r.get("context") or {},
        },
        "identity_policies": t.get("identityPolicies") or [],
        "resource_policy": t.get("resourcePolicy"),
        "permission_boundary": boundaries[0] if boundaries else None,
        "scps": levels("serviceControlPolicies"),
        "rcps": levels("resourceControlPolicies"),
        "expected": expected,
    }
    return case, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("--replaudit", default=os.path.join(ROOT, "target", "debug", "replaudit"))
    ap.add_argument("--write", help="also keep the converted cases in this file")
    a = ap.parse_args()

    cases, skipped = [], {}
    for dirpath, _, files in sorted(os.walk(a.corpus)):
        for f in sorted(files):
            if not f.endswith(".json"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, a.corpus)
            with open(path) as fh:
                tests = json.load(fh)
            for n, t in enumerate(tests):
                case, why = convert(rel, n, t)
                if case is None:
                    skipped[why] = skipped.get(why, 0) + 1
                else:
                    cases.append(case)
    out = a.write or os.path.join(os.environ.get("TMPDIR", "/tmp"), "iam-simulate-corpus-cases.json")
    with open(out, "w") as fh:
        json.dump(cases, fh, indent=1)
    res = subprocess.run([a.replaudit, "simulate", "--cases", out], capture_output=True, text=True)
    lines = [json.loads(l) for l in res.stdout.splitlines() if l.strip()]
    agree = [l for l in lines if l.get("agrees") is True]
    for l in lines:
        if l.get("agrees") is not True:
            case = next(c for c in cases if c["id"] == l["id"])
            got = l.get("decision") or ("error: " + l.get("error", "?"))
            print(f"DISAGREE {l['id']}: corpus {case['expected']}, replaudit {got} -- {case['description']}")
    print(f"{len(agree)}/{len(lines)} cases agree ({100 * len(agree) / max(1, len(lines)):.1f} %); skipped: {skipped or 'none'}")


if __name__ == "__main__":
    main()
