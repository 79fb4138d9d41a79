#!/usr/bin/env python3
"""`replaudit discover` on a generated estate: discover, audit the written spec, plant a change, audit again.

    python3 benches/discover_scale.py --buckets 400 [--bin target/release/replaudit]

Prints discover's wall time and RSS, the first audit's statuses (expected: no fail, no error), and the
findings of the audit after the planted change (one destination bucket's Public Access Block deleted),
which must name that bucket. Uses scale.py's emulator and environment helpers; CI does not run it.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale  # noqa: E402

PLANT = r"""
import os, sys, boto3
from botocore.config import Config
profile, region, bucket, endpoint = sys.argv[1:5]
s3 = boto3.Session(profile_name=profile).client("s3", region_name=region, endpoint_url=endpoint,
                                               config=Config(s3={"addressing_style": "path"}))
s3.delete_public_access_block(Bucket=bucket)
"""


def accounts_only(spec: dict) -> str:
    lines = []
    for alias, a in spec["accounts"].items():
        lines.append(f"[accounts.{alias}]")
        for k, v in a.items():
            if isinstance(v, dict):
                lines.append(f"{k} = {{ " + ", ".join(f"{kk} = {json.dumps(vv)}" for kk, vv in v.items()) + " }")
            else:
                lines.append(f"{k} = {json.dumps(v)}")
        lines.append("")
    return "\n".join(lines)


def audit(bin_: str, spec: Path, env: dict, out: Path) -> tuple[int, list[dict]]:
    r = subprocess.run([bin_, "audit", "--spec", str(spec), "--output-dir", str(out), "--since", scale.SINCE,
                        "--quiet"], env=env, capture_output=True, text=True)
    return r.returncode, json.loads((out / "audit-latest.json").read_text())["findings"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--buckets", type=int, default=400)
    ap.add_argument("--bin", default=str(scale.REPO / "target" / "release" / "replaudit"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="discover-scale-"))
    estate = work / "estate.toml"
    estate.write_text(subprocess.run([sys.executable, str(scale.REPO / "benches" / "estate.py"), "--buckets",
                                      str(args.buckets)], capture_output=True, text=True, check=True).stdout)
    spec = tomllib.loads(estate.read_text())
    emu = scale.Line([str(scale.PY), str(scale.REPO / "tests" / "harness" / "emulator.py")])
    try:
        subprocess.run([str(scale.PY), str(scale.REPO / "tests" / "harness" / "provision.py"), "--endpoint",
                        emu.endpoint, "--spec", str(estate), "--out-dir", str(work)], check=True, capture_output=True)
        env = scale.env_for(work, emu.endpoint)
        (work / "accounts.toml").write_text(accounts_only(spec))
        d = scale.timed([args.bin, "discover", "--accounts", str(work / "accounts.toml"), "-o",
                         str(work / "discovered.toml")], env)
        print(f"discover: {d['wall']} s, {d['rss_mib']} MiB, exit {d['code']}; {d['stderr'].strip()[-200:]}")
        code, findings = audit(args.bin, work / "discovered.toml", env, work / "r1")
        print(f"audit of the discovered spec: exit {code}, {dict(Counter(f['status'] for f in findings))}")
        b = sorted((b for b in spec["buckets"].values() if "dst" in b["name"]), key=lambda b: b["name"])[0]
        profile = spec["accounts"][b["account"]]["credentials"]["profile"]
        subprocess.run([str(scale.PY), "-c", PLANT, profile, b["region"], b["name"], emu.endpoint], env=env,
                       check=True)
        code, findings = audit(args.bin, work / "discovered.toml", env, work / "r2")
        bad = sorted({(f["id"], f["resource"]) for f in findings if f["status"] in ("fail", "error")})
        print(f"after deleting the Public Access Block of {b['name']}: exit {code}, {bad}")
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
