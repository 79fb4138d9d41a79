//! The JSON report: the stable contract other tools read (`schema_version` 2: see README, "JSON contract").

use crate::findings::Report;

pub fn render(report: &Report) -> Result<String, super::Error> {
    serde_json::to_string_pretty(report)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(super::Error::Json)
}

#[cfg(test)]
mod tests {
    use crate::findings::Report;

    /// Bytes of the JSON report of `n` replications sharing one role, and of its largest
    /// finding, and the mean bytes per finding.
    fn sizes(n: usize) -> (usize, usize, usize, usize) {
        let (spec, snap) = crate::rules::testkit::shared_role_estate(n);
        let cx = crate::rules::AuditContext::new(&spec.spec, &snap);
        let mut findings = crate::rules::run_all(&cx);
        crate::report::locate::annotate(&spec, &mut findings);
        let report = Report::new(&spec.spec.name, snap.collected_at, findings);
        let total = super::render(&report).expect("renders").len();
        let sized: Vec<(usize, &str)> = report
            .findings
            .iter()
            .map(|f| (serde_json::to_string(f).unwrap().len(), f.id.as_str()))
            .collect();
        let (largest, id) = sized.iter().max().copied().unwrap();
        eprintln!("N = {n}: largest finding {largest} bytes ({id}), report {total} bytes");
        let mean = sized.iter().map(|s| s.0).sum::<usize>() / sized.len();
        (total, largest, mean, report.findings.len())
    }

    /// Issue 22: a finding's size must not depend on how many replications share its role, and
    /// the report must grow linearly with the estate, not with its square.
    #[test]
    fn a_findings_size_does_not_grow_with_the_replications_sharing_its_role() {
        let (t2, big2, mean2, n2) = sizes(2);
        let (t101, _, _, _) = sizes(101);
        let (t200, big200, mean200, n200) = sizes(200);
        assert!(
            n200 > 50 * n2 / 2,
            "findings: {n2} at N = 2, {n200} at N = 200"
        );
        // Spec line numbers gain digits as the spec grows: a few bytes, not a factor.
        assert!(
            big200 <= big2 + 16,
            "largest finding: {big2} bytes at N = 2, {big200} at N = 200"
        );
        assert!(
            mean200 <= mean2 + 16,
            "mean finding: {mean2} bytes at N = 2, {mean200} at N = 200"
        );
        // Linear: the second 99 pairs add what the first 99 added (N findings whose size grew
        // with N would add more each time), give or take a digit per finding.
        let (first, second) = (t101 - t2, t200 - t101);
        assert!(
            second <= first + n200 * 2,
            "bytes added by pairs 3..101: {first}, by pairs 102..200: {second}"
        );
    }
}
