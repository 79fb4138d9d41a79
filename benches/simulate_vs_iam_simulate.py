#!/usr/bin/env python3
"""`replaudit simulate --cases` against cloud-copilot's iam-simulate, side by side, in one run.

What it does (issue 11, section 3):
1. generates N cases (default 50,000) with `simulate_cases_gen.py` (fixed seed);
2. installs `@cloud-copilot/iam-simulate` with npm into a temporary directory (Node 20+);
3. runs iam-simulate on the same cases in one Node process: JSON.parse of the file, conversion to
   its `Simulation` shape, then `runSimulation` for every case; it reports the time of the
   `runSimulation` loop alone (in-process) and of the whole process;
4. runs `replaudit simulate --cases FILE` as a whole process (read, parse, evaluate, JSON lines
   to a file);
5. prints both times, the ratios, and how often the two engines' decisions agree.

Each side runs `--repeat` times (default 3) and the best time counts, because the machine is
shared and the first run also warms the page cache.

Usage: benches/simulate_vs_iam_simulate.py [--n 50000] [--replaudit target/release/replaudit]
       [--repeat 3] [--keep DIR] [--iam-simulate-version VERSION]
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

RUNNER = r"""
import { readFileSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { runSimulation, anonymousPrincipal } from '@cloud-copilot/iam-simulate'

const t0 = performance.now()
const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const named = (list, field) => (list || []).map((policy, i) => ({ name: `${field}[${i}]`, policy }))
const levels = (list, field) =>
  (list || []).map((l, i) => ({ orgIdentifier: l.target, policies: named(l.policies, `${field}[${i}].policies`) }))
const sims = cases.map((c) => {
  const r = c.request
  return {
    request: {
      principal: r.principal === 'anonymous' ? anonymousPrincipal : r.principal,
      action: r.action,
      resource: { resource: r.resource, accountId: r.resource_account || r.principal_account || '' },
      contextVariables: r.context || {}
    },
    identityPolicies: named(c.identity_policies, 'identity_policies'),
    serviceControlPolicies: levels(c.scps, 'scps'),
    resourceControlPolicies: levels(c.rcps, 'rcps'),
    resourcePolicy: c.resource_policy || undefined,
    permissionBoundaryPolicies: c.permission_boundary ? named([c.permission_boundary], 'permission_boundary') : undefined,
    sessionPolicy: c.session_policy || undefined,
    vpcEndpointPolicies: c.vpc_endpoint_policies && c.vpc_endpoint_policies.length
      ? named(c.vpc_endpoint_policies, 'vpc_endpoint_policies') : undefined
  }
})
const t1 = performance.now()
const out = new Array(sims.length)
for (let i = 0; i < sims.length; i++) {
  const res = await runSimulation(sims[i], {})
  out[i] = res.resultType === 'error' ? 'error' : res.overallResult
}
const t2 = performance.now()
writeFileSync(process.argv[3], out.join('\n') + '\n')
console.log(JSON.stringify({ cases: sims.length, load_seconds: (t1 - t0) / 1000, simulate_seconds: (t2 - t1) / 1000 }))
"""

IAM_TO_OURS = {"Allowed": "Allowed", "ExplicitlyDenied": "ExplicitDeny", "ImplicitlyDenied": "ImplicitDeny"}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--replaudit", default=os.path.join(ROOT, "target", "release", "replaudit"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", help="keep the work directory here instead of a temporary one")
    ap.add_argument("--iam-simulate-version", default="latest")
    a = ap.parse_args()

    if not os.path.exists(a.replaudit):
        sys.exit(f"{a.replaudit} not found: build it first (cargo build --release --bin replaudit)")
    if shutil.which("node") is None or shutil.which("npm") is None:
        sys.exit("node and npm are needed (Node 20 or later)")

    work = a.keep or tempfile.mkdtemp(prefix="simulate-bench-")
    os.makedirs(work, exist_ok=True)
    cases = os.path.join(work, "cases.json")
    print(f"work directory: {work}", file=sys.stderr)
    run([sys.executable, os.path.join(HERE, "simulate_cases_gen.py"), str(a.n), cases])
    print(f"generated {a.n} cases ({os.path.getsize(cases) / 1e6:.1f} MB)", file=sys.stderr)

    node_dir = os.path.join(work, "node")
    os.makedirs(node_dir, exist_ok=True)
    with open(os.path.join(node_dir, "package.json"), "w") as f:
        json.dump({"name": "simulate-bench", "private": True, "type": "module"}, f)
    if not os.path.isdir(os.path.join(node_dir, "node_modules", "@cloud-copilot", "iam-simulate")):
        run(["npm", "install", "--silent", "--no-audit", "--no-fund", f"@cloud-copilot/iam-simulate@{a.iam_simulate_version}"],
            cwd=node_dir, stdout=subprocess.DEVNULL)
    with open(os.path.join(node_dir, "node_modules", "@cloud-copilot", "iam-simulate", "package.json")) as f:
        iam_version = json.load(f)["version"]
    runner = os.path.join(node_dir, "runner.mjs")
    with open(runner, "w") as f:
        f.write(RUNNER)

    iam_out = os.path.join(work, "iam-simulate.txt")
    iam_best = None
    for _ in range(a.repeat):
        t = time.perf_counter()
        res = run(["node", runner, cases, iam_out], cwd=node_dir, capture_output=True, text=True)
        whole = time.perf_counter() - t
        stats = json.loads(res.stdout.strip().splitlines()[-1])
        stats["whole_seconds"] = whole
        if iam_best is None or stats["simulate_seconds"] < iam_best["simulate_seconds"]:
            iam_best = stats

    ours_out = os.path.join(work, "replaudit.jsonl")
    ours_best = None
    for _ in range(a.repeat):
        with open(ours_out, "w") as out:
            t = time.perf_counter()
            rc = subprocess.run([a.replaudit, "simulate", "--cases", cases], stdout=out, stderr=subprocess.PIPE).returncode
            whole = time.perf_counter() - t
        if rc not in (0, 1):
            sys.exit(f"replaudit exited {rc}")
        ours_best = whole if ours_best is None else min(ours_best, whole)

    with open(ours_out) as f:
        ours = [json.loads(line).get("decision", "error") for line in f]
    with open(iam_out) as f:
        theirs = [IAM_TO_OURS.get(line.strip(), line.strip()) for line in f]
    both = [(o, t) for o, t in zip(ours, theirs) if t != "error"]
    agree = sum(1 for o, t in both if o == t)

    n = len(ours)
    print(f"cases: {n}  (replaudit decisions: {dict(collections.Counter(ours))})")
    print(f"iam-simulate {iam_version}: runSimulation loop {iam_best['simulate_seconds']:.2f} s "
          f"({n / iam_best['simulate_seconds']:,.0f}/s), whole node process {iam_best['whole_seconds']:.2f} s, "
          f"{theirs.count('error')} validation errors")
    print(f"replaudit simulate --cases: whole process {ours_best:.3f} s ({n / ours_best:,.0f}/s)")
    print(f"ratio vs iam-simulate in-process: {iam_best['simulate_seconds'] / ours_best:.1f}x")
    print(f"ratio vs iam-simulate whole process: {iam_best['whole_seconds'] / ours_best:.1f}x")
    print(f"decisions agree on {agree}/{len(both)} cases iam-simulate evaluated ({100 * agree / max(1, len(both)):.1f} %)")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
