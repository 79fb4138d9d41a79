use super::support::{account_state, error, skip, unknown};
use super::{AuditContext, Rule};
use crate::findings::{Finding, Status};
use crate::snapshot::{AdvancedEventSelector, Fetched, Trail};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// For every bucket the spec lists under `evidence.data_events_for`, a CloudTrail trail of
    /// the bucket's account is logging, is multi-region or lives in the bucket's region, records
    /// S3 data events for the bucket's objects — both reads and writes, through basic or
    /// advanced event selectors — and delivers to a bucket whose policy is not public. Trails are
    /// read in every Region of the account's buckets (a single-region trail is listed only in its
    /// own Region). A trail that delivers to a central log-archive bucket of an account outside
    /// the spec still proves the data events; whether that bucket is public cannot be read with
    /// the trail account's credentials, which is reported as a separate `skip` naming the bucket.
    ///
    /// ## Why it matters
    /// Object-level activity (who downloaded which incident report, who uploaded into the
    /// replicated prefix) is only recorded as CloudTrail *data* events, which are off by
    /// default. Without them an auditor cannot answer "who read this?" after an incident.
    ///
    /// ## Example
    /// The only trail has management events only: fail.
    ///
    /// ## Fix
    /// Add an advanced event selector: `eventCategory = Data`, `resources.type =
    /// AWS::S3::Object`, `resources.ARN StartsWith arn:aws:s3:::BUCKET/`.
    pub struct TrailDataEvents;
    id: "trail-data-events",
    title: "CloudTrail records S3 data events for the bucket",
    severity: Medium,
    scenarios: [Step1, Step2, ScenarioD],
    remediation: "Create or extend a logging, multi-region trail with S3 data-event selectors (read and write) for the bucket, delivering to a private bucket.",
    references: [
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-data-events-with-cloudtrail.html",
        "https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_AdvancedFieldSelector.html",
        "https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_DescribeTrails.html",
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-set-bucket-policy-for-multiple-accounts.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicyStatus.html",
    ],
}

impl Rule for TrailDataEvents {
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let Some(ev) = &cx.spec.evidence else {
            return vec![skip(
                &META,
                crate::findings::Scenario::Step1,
                "-",
                "the spec has no [evidence] expectations",
            )];
        };
        let mut out = Vec::new();
        for alias in &ev.data_events_for {
            let alias = alias.get_ref();
            let scenario = cx.bucket_scenario(alias);
            let resource = cx.bucket_arn(alias);
            let Some(b) = cx.spec.bucket(alias) else {
                continue;
            };
            // The Region the bucket really is in (a trail must log there).
            let region = cx
                .bucket_state(alias)
                .and_then(|s| s.region.value())
                .unwrap_or(b.region.get_ref());
            let partition = cx.bucket_partition(alias);
            let account = match account_state(&META, cx, b.account.get_ref(), scenario, &resource) {
                Ok(a) => a,
                Err(f) => {
                    out.push(f);
                    continue;
                }
            };
            let trails = match &account.trails {
                Fetched::Ok { value } => value,
                f => {
                    out.push(unknown(&META, scenario, &resource, "CloudTrail trails", f));
                    continue;
                }
            };
            let object_arn = format!("{resource}/");
            let mut covering = Vec::new();
            let mut rejected = Vec::new();
            let mut unknowns = Vec::new();
            let mut unproven = Vec::new();
            for t in trails {
                match assess(t, region, &object_arn, partition) {
                    Ok(None) => covering.push(t.name.clone()),
                    Ok(Some(why)) => {
                        covering.push(t.name.clone());
                        unproven.push((t.name.clone(), why));
                    }
                    Err(Verdict::No(why)) => rejected.push(format!("{}: {why}", t.name)),
                    Err(Verdict::Unknown(why)) => unknowns.push(format!("{}: {why}", t.name)),
                }
            }
            let evidence = json!({"covering_trails": covering, "rejected_trails": rejected, "unknown": unknowns, "delivery_not_verified": unproven.iter().map(|(t, w)| format!("{t}: {w}")).collect::<Vec<_>>()});
            // Only when every covering trail's delivery bucket is beyond the audit's reach is that
            // worth a finding of its own: one verified trail is enough.
            if !covering.is_empty() && unproven.len() == covering.len() {
                for (t, why) in &unproven {
                    out.push(skip(
                        &META,
                        scenario,
                        &resource,
                        format!("trail {t} records S3 data events for this bucket, but {why}"),
                    ));
                }
            }
            out.push(if !covering.is_empty() {
                META.finding(
                    scenario,
                    Status::Pass,
                    &resource,
                    format!(
                        "S3 data events (read and write) are recorded by {}",
                        covering.join(", ")
                    ),
                    evidence,
                )
            } else if !unknowns.is_empty() {
                error(
                    &META,
                    scenario,
                    &resource,
                    format!(
                        "no trail proven to record data events; could not read: {}",
                        unknowns.join("; ")
                    ),
                )
            } else if trails.is_empty() {
                META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    "the account has no CloudTrail trail",
                    evidence,
                )
            } else {
                META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    format!(
                        "no trail records S3 data events for this bucket: {}",
                        rejected.join("; ")
                    ),
                    evidence,
                )
            });
        }
        out
    }
}

enum Verdict {
    No(String),
    Unknown(String),
}

/// Whether a trail records the bucket's data events: `Ok(None)` yes, `Ok(Some(why))` yes but its
/// delivery bucket (in an account outside the spec) could not be checked, `Err` no or unknown.
fn assess(
    t: &Trail,
    region: &str,
    object_arn: &str,
    partition: &str,
) -> Result<Option<String>, Verdict> {
    match &t.is_logging {
        Fetched::Ok { value: true } => {}
        Fetched::Ok { value: false } => return Err(Verdict::No("not logging".into())),
        f => return Err(Verdict::Unknown(f.why_missing().unwrap_or_default())),
    }
    if !t.is_multi_region && t.home_region.as_deref() != Some(region) {
        return Err(Verdict::No(format!(
            "single-region trail in {}",
            t.home_region.as_deref().unwrap_or("?")
        )));
    }
    let bucket = t.s3_bucket.as_deref().unwrap_or("?");
    let mut caveat = None;
    match (&t.delivery_bucket_public, &t.delivery_bucket_owner) {
        (Fetched::Ok { value: false }, _) => {}
        (Fetched::Ok { value: true }, _) => {
            return Err(Verdict::No(format!(
                "delivers to a public bucket ({bucket})"
            )))
        }
        // A central log-archive bucket: no audited account owns it, and the trail's account may
        // not read its settings (cross-account reads need the bucket policy's grant).
        (f @ Fetched::Unknown { .. }, Fetched::Ok { value: None }) => {
            caveat = Some(format!(
                "its delivery bucket {bucket} belongs to an account outside the spec, so whether that bucket is public cannot be proven from this account ({}); add the bucket's account to the spec, or grant this account s3:GetBucketPolicyStatus and s3:GetBucketPublicAccessBlock in its bucket policy",
                f.why_missing().unwrap_or_default()
            ));
        }
        (f, _) => {
            return Err(Verdict::Unknown(format!(
                "delivery bucket status: {}",
                f.why_missing().unwrap_or_default()
            )))
        }
    }
    let sel = match &t.event_selectors {
        Fetched::Ok { value } => value,
        f => return Err(Verdict::Unknown(f.why_missing().unwrap_or_default())),
    };
    let (mut read, mut write) = (false, false);
    for s in &sel.basic {
        let covers = s.data_resources.iter().any(|(ty, values)| {
            ty == "AWS::S3::Object"
                && values.iter().any(|v| {
                    *v == format!("arn:{partition}:s3")
                        || *v == format!("arn:{partition}:s3:::")
                        || object_arn.starts_with(v.as_str())
                })
        });
        if covers {
            match s.read_write_type.as_str() {
                "ReadOnly" => read = true,
                "WriteOnly" => write = true,
                _ => {
                    read = true;
                    write = true;
                }
            }
        }
    }
    for s in &sel.advanced {
        if let Some((r, w)) = advanced_covers(s, object_arn) {
            read |= r;
            write |= w;
        }
    }
    match (read, write) {
        (true, true) => Ok(caveat),
        (true, false) => Err(Verdict::No(
            "records data-event reads but not writes".into(),
        )),
        (false, true) => Err(Verdict::No(
            "records data-event writes but not reads".into(),
        )),
        (false, false) => Err(Verdict::No(
            "no S3 data-event selector covers the bucket".into(),
        )),
    }
}

/// Which of (reads, writes) of the bucket's objects an advanced selector records; `None` when
/// it does not select them. Field selectors are ANDed; unknown fields make us conservative.
fn advanced_covers(s: &AdvancedEventSelector, object_arn: &str) -> Option<(bool, bool)> {
    let mut read = true;
    let mut write = true;
    let mut data = false;
    let mut object = false;
    for f in &s.field_selectors {
        let matches = |v: &str| {
            (f.equals.is_empty() || f.equals.iter().any(|e| e == v))
                && (f.starts_with.is_empty()
                    || f.starts_with.iter().any(|p| v.starts_with(p.as_str())))
                && (f.ends_with.is_empty() || f.ends_with.iter().any(|p| v.ends_with(p.as_str())))
                && !f.not_equals.iter().any(|e| e == v)
                && !f.not_starts_with.iter().any(|p| v.starts_with(p.as_str()))
                && !f.not_ends_with.iter().any(|p| v.ends_with(p.as_str()))
        };
        match f.field.as_str() {
            "eventCategory" => data = matches("Data"),
            "resources.type" => object = matches("AWS::S3::Object"),
            "resources.ARN" => {
                // The selector must admit objects of this bucket (any key under it).
                let any_key = format!("{object_arn}replaudit-probe");
                if !matches(&any_key) {
                    return None;
                }
            }
            "readOnly" => {
                read = matches("true");
                write = matches("false");
            }
            "eventName"
            | "eventSource"
            | "eventType"
            | "userIdentity.arn"
            | "errorCode"
            | "sessionCredentialFromConsole"
            | "vpcEndpointId" => {
                // Narrowed to some events or callers: not "all reads and writes".
                return None;
            }
            _ => return None,
        }
    }
    (data && object).then_some((read, write))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{AdvancedFieldSelector, BasicEventSelector, TrailSelectors};

    const OBJ: &str = "arn:aws:s3:::rubes-s3-bucket/";

    fn field(name: &str, f: impl FnOnce(&mut AdvancedFieldSelector)) -> AdvancedFieldSelector {
        let mut s = AdvancedFieldSelector {
            field: name.into(),
            ..Default::default()
        };
        f(&mut s);
        s
    }

    fn trail(basic: Vec<BasicEventSelector>, advanced: Vec<AdvancedEventSelector>) -> Trail {
        Trail {
            name: "t".into(),
            arn: None,
            home_region: Some("us-east-1".into()),
            is_multi_region: true,
            s3_bucket: Some("logs".into()),
            delivery_bucket_public: Fetched::ok(false),
            delivery_bucket_public_access_block: Fetched::absent("x"),
            delivery_bucket_owner: Fetched::ok(Some("xyz".into())),
            delivery_bucket_region: Some("us-east-1".into()),
            is_logging: Fetched::ok(true),
            event_selectors: Fetched::ok(TrailSelectors { basic, advanced }),
        }
    }

    fn data_object(extra: Vec<AdvancedFieldSelector>) -> AdvancedEventSelector {
        let mut fs = vec![
            field("eventCategory", |f| f.equals = vec!["Data".into()]),
            field("resources.type", |f| {
                f.equals = vec!["AWS::S3::Object".into()]
            }),
        ];
        fs.extend(extra);
        AdvancedEventSelector {
            name: None,
            field_selectors: fs,
        }
    }

    #[test]
    fn advanced_selector_for_the_bucket_covers_reads_and_writes() {
        let t = trail(
            vec![],
            vec![data_object(vec![field("resources.ARN", |f| {
                f.starts_with = vec![OBJ.into()]
            })])],
        );
        assert!(assess(&t, "ap-southeast-1", OBJ, "aws").is_ok());
    }

    #[test]
    fn advanced_selector_for_another_bucket_or_excluding_it_does_not() {
        let other = trail(
            vec![],
            vec![data_object(vec![field("resources.ARN", |f| {
                f.starts_with = vec!["arn:aws:s3:::other/".into()]
            })])],
        );
        assert!(assess(&other, "ap-southeast-1", OBJ, "aws").is_err());
        let excluded = trail(
            vec![],
            vec![data_object(vec![field("resources.ARN", |f| {
                f.not_starts_with = vec![OBJ.into()]
            })])],
        );
        assert!(assess(&excluded, "ap-southeast-1", OBJ, "aws").is_err());
    }

    #[test]
    fn read_only_selector_is_not_enough_but_read_plus_write_is() {
        let ro = data_object(vec![field("readOnly", |f| f.equals = vec!["true".into()])]);
        assert!(
            matches!(assess(&trail(vec![], vec![ro.clone()]), "x-y-1", OBJ, "aws"), Err(Verdict::No(m)) if m.contains("not writes"))
        );
        let wo = data_object(vec![field("readOnly", |f| f.equals = vec!["false".into()])]);
        assert!(assess(&trail(vec![], vec![ro, wo]), "x-y-1", OBJ, "aws").is_ok());
    }

    #[test]
    fn basic_selectors_management_only_vs_all_buckets() {
        let mgmt = BasicEventSelector {
            read_write_type: "All".into(),
            include_management_events: true,
            data_resources: vec![],
        };
        assert!(assess(&trail(vec![mgmt], vec![]), "x-y-1", OBJ, "aws").is_err());
        let all = BasicEventSelector {
            read_write_type: "All".into(),
            include_management_events: true,
            data_resources: vec![("AWS::S3::Object".into(), vec!["arn:aws:s3".into()])],
        };
        assert!(assess(&trail(vec![all], vec![]), "x-y-1", OBJ, "aws").is_ok());
    }

    #[test]
    fn basic_selectors_name_the_bucket_s_partition() {
        let cn = "arn:aws-cn:s3:::rubes-s3-bucket/";
        let all = |v: &str| BasicEventSelector {
            read_write_type: "All".into(),
            include_management_events: true,
            data_resources: vec![("AWS::S3::Object".into(), vec![v.into()])],
        };
        assert!(assess(
            &trail(vec![all("arn:aws-cn:s3")], vec![]),
            "x-y-1",
            cn,
            "aws-cn"
        )
        .is_ok());
        assert!(assess(&trail(vec![all(cn)], vec![]), "x-y-1", cn, "aws-cn").is_ok());
        assert!(assess(
            &trail(vec![all("arn:aws:s3")], vec![]),
            "x-y-1",
            cn,
            "aws-cn"
        )
        .is_err());
    }

    #[test]
    fn a_central_bucket_outside_the_spec_proves_the_events_but_not_the_bucket() {
        let mut t = trail(vec![], vec![data_object(vec![])]);
        t.delivery_bucket_owner = Fetched::ok(None);
        t.delivery_bucket_public = Fetched::unknown(
            "s3:GetBucketPolicyStatus",
            Some("AccessDenied".into()),
            "Access Denied",
        );
        let caveat = assess(&t, "x-y-1", OBJ, "aws")
            .ok()
            .flatten()
            .expect("caveat");
        assert!(
            caveat.contains("outside the spec") && caveat.contains("AccessDenied"),
            "{caveat}"
        );
        // The same failure on a bucket of an audited account stays unknown (an error).
        t.delivery_bucket_owner = Fetched::ok(Some("xyz".into()));
        assert!(matches!(
            assess(&t, "x-y-1", OBJ, "aws"),
            Err(Verdict::Unknown(_))
        ));
    }

    #[test]
    fn stopped_single_region_or_public_delivery_trails_do_not_count() {
        let good = || trail(vec![], vec![data_object(vec![])]);
        let mut t = good();
        t.is_logging = Fetched::ok(false);
        assert!(assess(&t, "x-y-1", OBJ, "aws").is_err());
        let mut t = good();
        t.is_multi_region = false;
        assert!(assess(&t, "ap-southeast-1", OBJ, "aws").is_err());
        assert!(assess(&t, "us-east-1", OBJ, "aws").is_ok());
        let mut t = good();
        t.delivery_bucket_public = Fetched::ok(true);
        assert!(assess(&t, "x-y-1", OBJ, "aws").is_err());
        let mut t = good();
        t.event_selectors = Fetched::unknown("cloudtrail:GetEventSelectors", None, "denied");
        assert!(matches!(
            assess(&t, "x-y-1", OBJ, "aws"),
            Err(Verdict::Unknown(_))
        ));
    }

    // The rule over the golden seed snapshot (the tests above exercise `assess` alone).
    mod on_the_seed {
        use super::*;
        use crate::rules::testkit::*;

        fn trails(f: &mut Fixture) -> &mut Vec<Trail> {
            match &mut f.account("xyz").trails {
                Fetched::Ok { value } => value,
                _ => panic!("fixture has the xyz trails"),
            }
        }

        #[test]
        fn passes_with_the_seed_trail() {
            let out = seed().run(&TrailDataEvents);
            let x = only(
                &out,
                Status::Pass,
                "S3 data events (read and write) are recorded by replaudit-trail",
            );
            assert_eq!(x.resource, SOURCE_ARN);
        }

        #[test]
        fn fails_without_a_covering_trail_naming_why() {
            let mut f = seed();
            trails(&mut f)[0].is_logging = Fetched::ok(false);
            only(
                &f.run(&TrailDataEvents),
                Status::Fail,
                "no trail records S3 data events for this bucket: replaudit-trail: not logging",
            );
            trails(&mut f).clear();
            only(
                &f.run(&TrailDataEvents),
                Status::Fail,
                "the account has no CloudTrail trail",
            );
        }

        #[test]
        fn errors_when_nothing_covers_and_something_was_unreadable() {
            let mut f = seed();
            trails(&mut f)[0].event_selectors = denied("cloudtrail:GetEventSelectors");
            only(
                &f.run(&TrailDataEvents),
                Status::Error,
                "cannot check: no trail proven to record data events; could not read: replaudit-trail: cloudtrail:GetEventSelectors failed",
            );
            f.account("xyz").trails = denied("cloudtrail:DescribeTrails");
            only(
                &f.run(&TrailDataEvents),
                Status::Error,
                "cannot check CloudTrail trails: cloudtrail:DescribeTrails failed",
            );
            f.snap.accounts.remove("xyz");
            only(
                &f.run(&TrailDataEvents),
                Status::Error,
                "account was not collected",
            );
        }

        #[test]
        fn skips_without_evidence_section() {
            let mut f = seed();
            f.spec.evidence = None;
            only(
                &f.run(&TrailDataEvents),
                Status::Skip,
                "the spec has no [evidence] expectations",
            );
        }
    }
}
