use super::support::{account_state, skip, unknown};
use super::{AuditContext, Rule};
use crate::findings::{Finding, Status};
use crate::snapshot::Fetched;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// The account-level S3 Block Public Access configuration (s3control
    /// `GetPublicAccessBlock`) has all four settings on in every account whose
    /// `accounts.<alias>.block_public_access` is true (the default: AWS recommends it for every
    /// account). An account the spec exempts (`false`, e.g. one that hosts a public website
    /// bucket) is `skip`; its buckets are still held to their own `block_public_access`.
    ///
    /// ## Why it matters
    /// The account-level setting overrides bucket settings for every bucket in the account,
    /// including ones created later (trail buckets, log buckets). It is the guard rail that
    /// survives a bucket being re-created without its own configuration.
    ///
    /// ## Example
    /// No account-level configuration in XYZ's account: fail.
    ///
    /// ## Fix
    /// `aws s3control put-public-access-block --account-id ACCOUNT --public-access-block-configuration
    /// BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true`
    pub struct AccountPublicAccessBlock;
    id: "account-public-access-block",
    title: "Account-level Block Public Access fully on",
    severity: Medium,
    scenarios: [Step1, Step2, ScenarioD],
    remediation: "Turn on all four account-level Block Public Access settings (s3control put-public-access-block).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/configuring-block-public-access-account.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_GetPublicAccessBlock.html",
    ],
}

impl Rule for AccountPublicAccessBlock {
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for (alias, account) in &cx.spec.accounts {
            // Filed under the earliest step the account's buckets belong to.
            let scenario = cx.account_scenario(alias);
            let id = account.account_id.get_ref();
            let resource = format!("arn:{}:s3:::account/{id}", cx.account_partition(alias));
            if !account.block_public_access {
                out.push(skip(
                    &META,
                    scenario,
                    &resource,
                    format!("the spec does not require account-level Block Public Access in {id} (accounts.{alias}.block_public_access = false)"),
                ));
                continue;
            }
            let st = match account_state(&META, cx, alias, scenario, &resource) {
                Ok(s) => s,
                Err(f) => {
                    out.push(f);
                    continue;
                }
            };
            out.push(match &st.public_access_block {
                Fetched::Ok { value } if value.all_on() => META.finding(
                    scenario,
                    Status::Pass,
                    &resource,
                    format!("all four account-level Block Public Access settings are on in {id}"),
                    json!({"public_access_block": value}),
                ),
                Fetched::Ok { value } => META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    format!("account {id}: Block Public Access settings off: {}", value.off().join(", ")),
                    json!({"public_access_block": value, "off": value.off()}),
                ),
                Fetched::Absent { reason } => META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    format!("account {id} has no account-level Block Public Access configuration ({reason})"),
                    json!({"public_access_block": null}),
                ),
                f => unknown(&META, scenario, &resource, "account-level Block Public Access", f),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;
    use crate::snapshot::PublicAccessBlock;

    #[test]
    fn passes_in_both_accounts() {
        let out = seed().run(&AccountPublicAccessBlock);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(
            &out,
            "all four account-level Block Public Access settings are on in 111122223333",
        );
    }

    #[test]
    fn fails_when_a_setting_is_off_or_there_is_no_configuration() {
        let mut f = seed();
        f.account("xyz").public_access_block = Fetched::ok(PublicAccessBlock {
            ignore_public_acls: false,
            ..PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy: true,
                restrict_public_buckets: true,
            }
        });
        let x = only(
            &f.run(&AccountPublicAccessBlock),
            Status::Fail,
            "account 111122223333: Block Public Access settings off: IgnorePublicAcls",
        );
        assert_eq!(x.resource, "arn:aws:s3:::account/111122223333");
        f.account("abcd").public_access_block =
            Fetched::absent("NoSuchPublicAccessBlockConfiguration");
        has(
            &f.run(&AccountPublicAccessBlock),
            Status::Fail,
            "account 271089868719 has no account-level Block Public Access configuration",
        );
    }

    #[test]
    fn errors_when_unreadable_or_not_collected() {
        let mut f = seed();
        f.account("xyz").public_access_block = denied("s3control:GetPublicAccessBlock");
        f.snap.accounts.remove("abcd");
        let out = f.run(&AccountPublicAccessBlock);
        has(
            &out,
            Status::Error,
            "cannot check account-level Block Public Access: s3control:GetPublicAccessBlock failed",
        );
        has(&out, Status::Error, "account was not collected");
    }

    #[test]
    fn an_account_without_buckets_requiring_it_is_not_checked() {
        let mut f = seed();
        f.spec.accounts.get_mut("abcd").unwrap().block_public_access = false;
        f.account("abcd").public_access_block = denied("s3control:GetPublicAccessBlock");
        let out = f.run(&AccountPublicAccessBlock);
        let x = only(
            &out,
            Status::Skip,
            "the spec does not require account-level Block Public Access in 271089868719 (accounts.abcd.block_public_access = false)",
        );
        assert_eq!(x.resource, "arn:aws:s3:::account/271089868719");
        only(&out, Status::Pass, "111122223333");
    }
}

/// Tests that build their states from nothing (the testkit's builders) rather than mutating
/// the seed fixture.
#[cfg(test)]
mod built {
    use super::*;
    use crate::rules::testkit;
    use crate::snapshot::PublicAccessBlock;

    const XYZ: &str = "credentials = { profile = \"xyz-audit\" }\nblock_public_access = true";

    const ON: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    fn run(text: &str, xyz: Fetched<PublicAccessBlock>) -> Vec<Finding> {
        let spec = testkit::spec(text);
        let mut snap = testkit::snapshot();
        for alias in spec.accounts.keys() {
            let mut a = testkit::account(&spec, alias);
            a.public_access_block = if alias == "xyz" {
                xyz.clone()
            } else {
                Fetched::ok(ON)
            };
            snap.accounts.insert(alias.clone(), a);
        }
        AccountPublicAccessBlock.check(&AuditContext::new(&spec, &snap))
    }

    #[test]
    fn checked_by_default_even_where_no_bucket_asks_for_it() {
        // No bucket of xyz expects Block Public Access: the account still does, by default.
        let text = testkit::SEED
            .replace(XYZ, "credentials = { profile = \"xyz-audit\" }")
            .replace("block_public_access = true", "block_public_access = false");
        let f = run(
            &text,
            Fetched::absent("NoSuchPublicAccessBlockConfiguration"),
        );
        let xyz: Vec<_> = f
            .iter()
            .filter(|f| f.resource.ends_with("111122223333"))
            .collect();
        assert_eq!(xyz.len(), 1);
        assert_eq!(xyz[0].status, Status::Fail, "{}", xyz[0].message);
    }

    #[test]
    fn an_account_the_spec_exempts_is_skipped_with_the_setting_named() {
        let text = testkit::SEED.replace(XYZ, &XYZ.replace("true", "false"));
        let f = run(
            &text,
            Fetched::absent("NoSuchPublicAccessBlockConfiguration"),
        );
        let xyz = f
            .iter()
            .find(|f| f.resource.ends_with("111122223333"))
            .unwrap();
        assert_eq!(xyz.status, Status::Skip);
        assert!(
            xyz.message
                .contains("accounts.xyz.block_public_access = false"),
            "{}",
            xyz.message
        );
        let abcd = f
            .iter()
            .find(|f| f.resource.ends_with("271089868719"))
            .unwrap();
        assert_eq!(abcd.status, Status::Pass);
    }
}
