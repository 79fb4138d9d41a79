use super::support::{account_state, error, skip, unknown};
use super::{AuditContext, Rule};
use crate::findings::{Finding, Scenario, Status};
use crate::snapshot::Fetched;
use serde_json::json;
use std::collections::BTreeSet;

declare_rule! {
    /// ## What it checks
    /// In every account the spec lists under `evidence.config_recording_in`, and in each Region
    /// that matters for it — its home Region and every Region where the spec puts one of its
    /// buckets — an AWS Config configuration recorder is recording (status `recording`, last
    /// status not `Failure`) and records S3 buckets (all supported resource types, or
    /// `AWS::S3::Bucket`). AWS Config is regional: a recorder records its own Region's resources
    /// only, so a recorder in the home Region says nothing about a bucket elsewhere.
    ///
    /// ## Why it matters
    /// AWS Config keeps the history of every bucket's configuration: when replication was
    /// turned off, when a policy changed. A stopped recorder, or none in the bucket's Region,
    /// silently ends that history.
    ///
    /// ## Example
    /// Recorder `default` records in ap-southeast-1, but the backup bucket is in ap-southeast-2
    /// and no recorder runs there: fail for ap-southeast-2.
    ///
    /// ## Fix
    /// In each listed Region: `aws configservice put-configuration-recorder` (all supported
    /// resources, or `AWS::S3::Bucket`), `put-delivery-channel`, `start-configuration-recorder`.
    pub struct ConfigRecorder;
    id: "config-recorder",
    title: "AWS Config is recording S3 buckets",
    severity: Medium,
    scenarios: [Step1, Step2],
    remediation: "In every Region holding an audited bucket, create a configuration recorder that records AWS::S3::Bucket (or all resources) with a delivery channel, and start it.",
    references: [
        "https://docs.aws.amazon.com/config/latest/developerguide/stop-start-recorder.html",
        "https://docs.aws.amazon.com/config/latest/developerguide/select-resources.html",
        "https://docs.aws.amazon.com/config/latest/APIReference/API_DescribeConfigurationRecorderStatus.html",
    ],
}

impl Rule for ConfigRecorder {
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let Some(ev) = &cx.spec.evidence else {
            return vec![skip(
                &META,
                Scenario::Step1,
                "-",
                "the spec has no [evidence] expectations",
            )];
        };
        let mut out = Vec::new();
        for alias in &ev.config_recording_in {
            let alias = alias.get_ref();
            let scenario = cx.account_scenario(alias);
            let Some(account) = cx.spec.accounts.get(alias) else {
                continue;
            };
            let id = account.account_id.get_ref();
            let home = account.region.get_ref();
            let partition = cx.account_partition(alias);
            let mut regions: BTreeSet<&str> = BTreeSet::from([home.as_str()]);
            regions.extend(
                cx.spec
                    .buckets
                    .values()
                    .filter(|b| b.account.get_ref() == alias)
                    .map(|b| b.region.get_ref().as_str()),
            );
            let st = match account_state(
                &META,
                cx,
                alias,
                scenario,
                &format!("arn:{partition}:config:{home}:{id}:account"),
            ) {
                Ok(s) => s,
                Err(f) => {
                    out.push(f);
                    continue;
                }
            };
            for region in regions {
                let resource = format!("arn:{partition}:config:{region}:{id}:account");
                let state = match st.config_by_region.get(region) {
                    Some(s) => Some(s),
                    // Snapshots from before per-Region reads hold the home Region only.
                    None if st.config_by_region.is_empty() && region == home => Some(&st.config),
                    None => None,
                };
                let cfg = match state {
                    Some(Fetched::Ok { value }) => value,
                    Some(f) => {
                        out.push(unknown(
                            &META,
                            scenario,
                            &resource,
                            &format!("AWS Config recorders in {region}"),
                            f,
                        ));
                        continue;
                    }
                    None => {
                        out.push(error(
                            &META,
                            scenario,
                            &resource,
                            format!("AWS Config in {region} was not collected in this snapshot"),
                        ));
                        continue;
                    }
                };
                out.push(verdict(scenario, &resource, id, region, cfg));
            }
        }
        out
    }
}

fn verdict(
    scenario: Scenario,
    resource: &str,
    id: &str,
    region: &str,
    cfg: &crate::snapshot::ConfigState,
) -> Finding {
    let good: Vec<_> = cfg
        .recorders
        .iter()
        .filter(|r| {
            r.recording
                && r.last_status.as_deref() != Some("Failure")
                && (r.all_supported || r.resource_types.iter().any(|t| t == "AWS::S3::Bucket"))
        })
        .map(|r| r.name.clone())
        .collect();
    let evidence = json!({"region": region, "recorders": cfg.recorders});
    if !good.is_empty() {
        META.finding(
            scenario,
            Status::Pass,
            resource,
            format!(
                "account {id}: recorder {} is recording S3 buckets in {region}",
                good.join(", ")
            ),
            evidence,
        )
    } else if cfg.recorders.is_empty() {
        META.finding(
            scenario,
            Status::Fail,
            resource,
            format!("account {id} has no AWS Config recorder in {region}"),
            evidence,
        )
    } else {
        let why: Vec<String> = cfg
            .recorders
            .iter()
            .map(|r| {
                if !r.recording {
                    format!("{} is stopped", r.name)
                } else if r.last_status.as_deref() == Some("Failure") {
                    format!("{} last status is Failure", r.name)
                } else {
                    format!("{} does not record AWS::S3::Bucket", r.name)
                }
            })
            .collect();
        META.finding(
            scenario,
            Status::Fail,
            resource,
            format!("account {id} in {region}: {}", why.join("; ")),
            evidence,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit;
    use crate::snapshot::{ConfigRecorder as Recorder, ConfigState};

    fn recording() -> Fetched<ConfigState> {
        Fetched::ok(ConfigState {
            recorders: vec![Recorder {
                name: "default".into(),
                recording: true,
                last_status: Some("Success".into()),
                all_supported: true,
                resource_types: vec![],
            }],
            rules: vec![],
        })
    }

    #[test]
    fn every_region_of_the_account_s_buckets_needs_a_recorder() {
        let spec = testkit::seed_spec();
        let mut snap = testkit::snapshot();
        for alias in spec.accounts.keys() {
            let mut a = testkit::account(&spec, alias);
            a.config = recording();
            a.config_by_region
                .insert(spec.accounts[alias].region.get_ref().clone(), recording());
            snap.accounts.insert(alias.clone(), a);
        }
        // xyz records in its home Region only; its backup bucket is in ap-southeast-2.
        snap.accounts
            .get_mut("xyz")
            .unwrap()
            .config_by_region
            .insert("ap-southeast-2".into(), Fetched::ok(ConfigState::default()));
        let out = ConfigRecorder.check(&AuditContext::new(&spec, &snap));
        let fail: Vec<_> = out.iter().filter(|f| f.status == Status::Fail).collect();
        assert_eq!(fail.len(), 1, "{out:?}");
        assert!(
            fail[0].message.contains("111122223333") && fail[0].message.contains("ap-southeast-2"),
            "{}",
            fail[0].message
        );
        assert_eq!(out.iter().filter(|f| f.status == Status::Pass).count(), 2);
    }
}

#[cfg(test)]
mod on_the_seed {
    use super::*;
    use crate::rules::testkit::*;

    const XYZ_HOME: &str = "arn:aws:config:ap-southeast-1:111122223333:account";

    fn config<'a>(
        f: &'a mut Fixture,
        alias: &str,
        region: &str,
    ) -> &'a mut crate::snapshot::ConfigState {
        match f.account(alias).config_by_region.get_mut(region) {
            Some(Fetched::Ok { value }) => value,
            _ => panic!("fixture has AWS Config state for {alias} in {region}"),
        }
    }

    #[test]
    fn passes_when_recording_in_every_region_with_audited_buckets() {
        let out = seed().run(&ConfigRecorder);
        assert_eq!(
            count(&out, Status::Pass),
            3,
            "xyz in two Regions, abcd in one"
        );
        let x = has(
            &out,
            Status::Pass,
            "account 111122223333: recorder default is recording S3 buckets in ap-southeast-2",
        );
        assert_eq!(
            x.resource,
            "arn:aws:config:ap-southeast-2:111122223333:account"
        );
        clean(
            &out,
            "account 111122223333: recorder default is recording S3 buckets in ap-southeast-1",
        );
    }

    #[test]
    fn fails_when_stopped_failing_or_not_recording_buckets() {
        let mut f = seed();
        config(&mut f, "xyz", "ap-southeast-1").recorders[0].recording = false;
        let x = only(
            &f.run(&ConfigRecorder),
            Status::Fail,
            "account 111122223333 in ap-southeast-1: default is stopped",
        );
        assert_eq!(x.resource, XYZ_HOME);
        let mut f = seed();
        config(&mut f, "xyz", "ap-southeast-1").recorders[0].last_status = Some("Failure".into());
        only(
            &f.run(&ConfigRecorder),
            Status::Fail,
            "account 111122223333 in ap-southeast-1: default last status is Failure",
        );
        let mut f = seed();
        let r = &mut config(&mut f, "xyz", "ap-southeast-1").recorders[0];
        r.all_supported = false;
        r.resource_types = vec!["AWS::IAM::Role".into()];
        only(
            &f.run(&ConfigRecorder),
            Status::Fail,
            "account 111122223333 in ap-southeast-1: default does not record AWS::S3::Bucket",
        );
        config(&mut f, "xyz", "ap-southeast-1").recorders[0]
            .resource_types
            .push("AWS::S3::Bucket".into());
        assert_eq!(count(&f.run(&ConfigRecorder), Status::Pass), 3);
    }

    #[test]
    fn fails_without_recorder_in_a_region_of_the_account_s_buckets() {
        let mut f = seed();
        config(&mut f, "xyz", "ap-southeast-2").recorders.clear();
        let x = only(
            &f.run(&ConfigRecorder),
            Status::Fail,
            "account 111122223333 has no AWS Config recorder in ap-southeast-2",
        );
        assert_eq!(
            x.resource,
            "arn:aws:config:ap-southeast-2:111122223333:account"
        );
    }

    #[test]
    fn errors_when_unreadable_or_not_collected_and_skips_without_evidence_section() {
        let mut f = seed();
        f.account("abcd").config_by_region.insert(
            "ap-southeast-2".into(),
            denied("config:DescribeConfigurationRecorders"),
        );
        f.account("xyz").config_by_region.remove("ap-southeast-2");
        let out = f.run(&ConfigRecorder);
        has(
            &out,
            Status::Error,
            "cannot check AWS Config recorders in ap-southeast-2: config:DescribeConfigurationRecorders failed",
        );
        has(
            &out,
            Status::Error,
            "AWS Config in ap-southeast-2 was not collected in this snapshot",
        );
        f.snap.accounts.remove("xyz");
        has(
            &f.run(&ConfigRecorder),
            Status::Error,
            "account was not collected",
        );
        f.spec.evidence = None;
        only(
            &f.run(&ConfigRecorder),
            Status::Skip,
            "the spec has no [evidence] expectations",
        );
    }
}
