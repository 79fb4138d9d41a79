#!/usr/bin/env python3
"""The collector at scale: replaudit on generated estates of N buckets, side by side with Prowler.

    python3 benches/scale.py --buckets 40,400,2000 [--latency-ms 50] [--prowler PATH] [--out results.json]

For each N: `benches/estate.py` writes an estate spec (N/2 cross-account, cross-Region pairs),
a fresh emulator (tests/harness/emulator.py) is started and provisioned (tests/harness/provision.py),
and then, in one go (so the machine's load is the same for every figure of a row):

1. the emulator's service time: a sequential loop of the bucket reads replaudit makes (botocore,
   one connection), wall / requests;
2. `replaudit audit` straight at the emulator: wall, max RSS, `error` and `fail` findings;
3. the same run through a counting proxy (benches/latency_proxy.py, 0 ms): how many requests, so
   the emulator's own limit is requests x service time and the ratio says how close replaudit gets;
4. with `--latency-ms`: replaudit through the proxy adding that delay to every request;
5. with `--prowler`: `prowler aws --service s3` for each of the two accounts (Prowler audits one
   account a run), straight and (with `--latency-ms`) through the latency proxy.

The bench fails (exit 1) when bytes per finding of a report format, or the memory each added
bucket costs, grows with N, or when any run has `error` findings (`--check ROWS_JSON` re-checks
the rows of an earlier `--out`). The load average is printed beside every row. Needs the repo's `.moto/` virtualenv and a built
`target/debug/replaudit` (or `--bin`). CI does not run this; see benches/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = REPO / ".moto" / "bin" / "python"
SINCE = "2020-01-01T00:00:00Z"


class Line:
    """A helper process that prints one JSON line when ready and exits on stdin EOF."""

    def __init__(self, args: list[str]) -> None:
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.p.stdout is not None
        self.banner = json.loads(self.p.stdout.readline())
        self.endpoint = self.banner["endpoint"]

    def stop(self) -> None:
        try:
            assert self.p.stdin is not None
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def env_for(cfg_dir: Path, endpoint: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "REPLAUDIT_LOG"}
    e.update({
        "AWS_CONFIG_FILE": str(cfg_dir / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(cfg_dir / "aws-credentials"),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return e


def timed(args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 3600,
          keep_stderr: bool = False) -> dict:
    """Run a command; wall seconds, max RSS (MiB), exit code, stderr tail."""
    t = time.monotonic()
    p = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.stderr is not None
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    r = {"wall": round(time.monotonic() - t, 2), "rss_mib": round(ru.ru_maxrss / 1024, 1),
         "code": p.returncode, "stderr": err.decode(errors="replace")[-600:]}
    if keep_stderr:
        r["full_stderr"] = err.decode(errors="replace")
    return r


def replaudit(bin_: Path, spec: Path, cfg_dir: Path, endpoint: str, extra: list[str]) -> dict:
    out = Path(tempfile.mkdtemp(prefix="scale-report-"))
    r = timed([str(bin_), "audit", "--spec", str(spec), "--output-dir", str(out), "--since", SINCE,
               "--quiet", *extra], env_for(cfg_dir, endpoint))
    try:
        rep = json.loads((out / "audit-latest.json").read_text())
        statuses = [f["status"] for f in rep["findings"]]
        r.update({s: statuses.count(s) for s in ("pass", "fail", "error", "skip")})
    except (OSError, ValueError) as e:
        r["report"] = f"no report: {e}"
    # Bytes of each format written (issue 22: they must grow linearly with the estate).
    r["report_bytes"] = {p.suffix.lstrip("."): p.stat().st_size for p in out.glob("audit-latest.*")}
    shutil.rmtree(out, ignore_errors=True)
    return r


SERVICE_TIME_CODE = r"""
import json, sys, time, botocore.session
from botocore.config import Config
endpoint, names, region = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
s = botocore.session.Session(profile="xyz-audit")
c = s.create_client("s3", region_name=region, endpoint_url=endpoint,
                    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
ops = ["get_bucket_versioning", "get_bucket_encryption", "get_bucket_replication", "get_bucket_policy",
       "get_public_access_block", "get_bucket_ownership_controls", "get_bucket_tagging",
       "get_bucket_policy_status", "head_bucket"]
n = 0
t = time.monotonic()
for b in names:
    for op in ops:
        try:
            getattr(c, op)(Bucket=b)
        except Exception:
            pass
        n += 1
print(json.dumps({"requests": n, "seconds": time.monotonic() - t}))
"""


def service_time(cfg_dir: Path, endpoint: str, buckets: int) -> float:
    """Mean seconds per request of a sequential loop of replaudit's bucket reads (one client)."""
    names = [f"estate-src-{i:05d}" for i in range(min(buckets // 2, 50))]
    out = subprocess.run([str(PY), "-c", SERVICE_TIME_CODE, endpoint, json.dumps(names), "ap-southeast-1"],
                         env=env_for(cfg_dir, endpoint), capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    return r["seconds"] / r["requests"]


def prowler(prowler_bin: str, cfg_dir: Path, endpoint: str) -> dict:
    """Prowler's S3 checks on both accounts, one run each (Prowler audits one account a run)."""
    total = {"wall": 0.0, "code": [], "rss_mib": 0.0}
    for profile in ("xyz-audit", "abcd-audit"):
        out = Path(tempfile.mkdtemp(prefix="scale-prowler-"))
        env = env_for(cfg_dir, endpoint)
        env["AWS_PROFILE"] = profile
        # `*.localhost` -> loopback for S3 Control's account host prefix (see prowler_site/sitecustomize.py).
        env["PYTHONPATH"] = str(REPO / "benches" / "prowler_site")
        r = timed([prowler_bin, "aws", "--service", "s3", "--no-banner", "-f", "ap-southeast-1", "ap-southeast-2",
                   "-o", str(out), "--log-level", "ERROR"], env, keep_stderr=True)
        # Prowler's errors: the ERROR lines it logs (a call that failed), the counterpart of replaudit's
        # `error` findings.
        total["errors"] = total.get("errors", 0) + sum(" ERROR: " in ln for ln in r.pop("full_stderr").splitlines())
        total["wall"] = round(total["wall"] + r["wall"], 2)
        total["rss_mib"] = max(total["rss_mib"], r["rss_mib"])
        total["code"].append(r["code"])
        total.setdefault("stderr", []).append(r["stderr"][-300:])
        shutil.rmtree(out, ignore_errors=True)
    return total


def one_size(n: int, args: argparse.Namespace, bin_: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"scale-{n}-"))
    spec = work / "estate.toml"
    spec.write_text(subprocess.run([sys.executable, str(REPO / "benches" / "estate.py"), "--buckets", str(n),
                                    "--pairs-per-role", str(args.pairs_per_role)],
                                   capture_output=True, text=True, check=True).stdout)
    emu = Line([str(PY), str(REPO / "tests" / "harness" / "emulator.py")])
    row: dict = {"buckets": n, "load_before": os.getloadavg()}
    try:
        t = time.monotonic()
        subprocess.run([str(PY), str(REPO / "tests" / "harness" / "provision.py"), "--endpoint", emu.endpoint,
                        "--spec", str(spec), "--out-dir", str(work)], check=True, capture_output=True)
        row["provision_s"] = round(time.monotonic() - t, 1)
        row["service_time_ms"] = round(service_time(work, emu.endpoint, n) * 1000, 3)
        row["replaudit"] = replaudit(bin_, spec, work, emu.endpoint, args.extra)
        counter = Line([str(PY), str(REPO / "benches" / "latency_proxy.py"), "--upstream", emu.endpoint,
                        "--delay-ms", "0"])
        try:
            row["replaudit_counted"] = replaudit(bin_, spec, work, counter.endpoint, args.extra)
            stats = json.loads(subprocess.run(
                ["curl", "-s", counter.endpoint + "/_faults/stats"], capture_output=True, text=True).stdout)
            row["requests"] = stats["requests"]
            row["requests_by_service"] = {k: v["requests"] for k, v in stats.get("by_service", {}).items()}
        finally:
            counter.stop()
        limit = row["requests"] * row["service_time_ms"] / 1000
        row["emulator_limit_s"] = round(limit, 2)
        row["wall_over_limit"] = round(row["replaudit"]["wall"] / limit, 2) if limit else None
        if args.prowler:
            row["prowler"] = prowler(args.prowler, work, emu.endpoint)
            row["prowler_over_replaudit"] = round(row["prowler"]["wall"] / row["replaudit"]["wall"], 1)
        if args.latency_ms:
            slow = Line([str(PY), str(REPO / "benches" / "latency_proxy.py"), "--upstream", emu.endpoint,
                         "--delay-ms", str(args.latency_ms)])
            try:
                row["replaudit_latency"] = replaudit(bin_, spec, work, slow.endpoint, args.extra)
                if args.prowler:
                    row["prowler_latency"] = prowler(args.prowler, work, slow.endpoint)
                    row["prowler_over_replaudit_latency"] = round(
                        row["prowler_latency"]["wall"] / row["replaudit_latency"]["wall"], 1)
            finally:
                slow.stop()
    finally:
        emu.stop()
        row["load_after"] = os.getloadavg()
        shutil.rmtree(work, ignore_errors=True)
    return row


# How much a per-bucket or per-finding figure may rise from the smallest estate to a larger one
# before the bench fails (issue 22: memory per bucket and bytes per finding must not grow with N;
# a little slack for digits in ids and line numbers, and for the allocator).
GROWTH_SLACK = 1.15


def growth_problems(rows: list[dict]) -> list[str]:
    """Why the rows show a figure that grows with the estate, if they do: bytes per finding of each
    report format, against the smallest N; and the memory each added bucket costs (the peak RSS
    has a fixed part, so the margin between two sizes is compared with the margin before it)."""
    problems = []
    rows = sorted((r for r in rows if "replaudit" in r), key=lambda r: r["buckets"])
    def findings(r: dict) -> int:
        return sum(r["replaudit"].get(s, 0) for s in ("pass", "fail", "error", "skip"))
    if len(rows) < 2:
        return problems
    base = rows[0]
    for r in rows[1:]:
        for fmt, size in r["replaudit"].get("report_bytes", {}).items():
            b = base["replaudit"].get("report_bytes", {}).get(fmt)
            if not b or not findings(base) or not findings(r):
                continue
            per0, per = b / findings(base), size / findings(r)
            if per > per0 * GROWTH_SLACK:
                problems.append(f"{fmt}: {per:.0f} bytes per finding at {r['buckets']} buckets, "
                                f"{per0:.0f} at {base['buckets']}")
    for a, b, c in zip(rows, rows[1:], rows[2:]):
        m1 = (b["replaudit"]["rss_mib"] - a["replaudit"]["rss_mib"]) / (b["buckets"] - a["buckets"])
        m2 = (c["replaudit"]["rss_mib"] - b["replaudit"]["rss_mib"]) / (c["buckets"] - b["buckets"])
        if m1 > 0 and m2 > m1 * GROWTH_SLACK:
            problems.append(f"memory: {m2 * 1024:.0f} KiB per bucket from {b['buckets']} to {c['buckets']} "
                            f"buckets, {m1 * 1024:.0f} KiB from {a['buckets']} to {b['buckets']}")
    for r in rows:
        if r["replaudit"].get("error"):
            problems.append(f"{r['buckets']} buckets: {r['replaudit']['error']} error findings")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--buckets", default="40,400")
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--prowler", help="path of a prowler executable (its own virtualenv)")
    ap.add_argument("--pairs-per-role", type=int, default=25,
                    help="pairs sharing one replication role (benches/estate.py); N/2 for one shared role")
    ap.add_argument("--bin", default=str(REPO / "target" / "debug" / "replaudit"))
    ap.add_argument("--out", help="write the rows as JSON here too")
    ap.add_argument("extra", nargs="*", help="extra replaudit audit flags (after --)")
    ap.add_argument("--check", metavar="ROWS_JSON",
                    help="only check the rows of an earlier --out for figures that grow with N, and exit")
    args = ap.parse_args()
    if args.check:
        problems = growth_problems(json.loads(Path(args.check).read_text()))
        for p in problems:
            print(f"grows with the estate: {p}", file=sys.stderr)
        return 1 if problems else 0
    rows = []
    for n in (int(x) for x in args.buckets.split(",")):
        row = one_size(n, args, Path(args.bin))
        rows.append(row)
        r = row["replaudit"]
        print(f"{n:>5} buckets: replaudit {r['wall']:>7.2f} s, {r.get('error', '?')} errors, "
              f"{r.get('fail', '?')} fails, {r['rss_mib']} MiB; {row['requests']} requests x "
              f"{row['service_time_ms']} ms = {row['emulator_limit_s']} s (x{row['wall_over_limit']}); "
              f"load {row['load_before'][0]:.1f}", flush=True)
        if "replaudit_latency" in row:
            rl = row["replaudit_latency"]
            print(f"      +{args.latency_ms:g} ms: replaudit {rl['wall']:.2f} s, {rl.get('error', '?')} errors",
                  flush=True)
        if "prowler" in row:
            print(f"      prowler {row['prowler']['wall']} s (exit {row['prowler']['code']}, "
                  f"{row['prowler'].get('errors')} errors logged), "
                  f"x{row['prowler_over_replaudit']}", flush=True)
        if "prowler_latency" in row:
            print(f"      +{args.latency_ms:g} ms: prowler {row['prowler_latency']['wall']} s, "
                  f"x{row['prowler_over_replaudit_latency']}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    problems = growth_problems(rows)
    for p in problems:
        print(f"grows with the estate: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
