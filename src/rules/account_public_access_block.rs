use super::support::{error, unknown};
use super::{AuditContext, Rule, RuleMeta};
use crate::findings::{Finding, Status};
use crate::snapshot::Fetched;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// The account-level S3 Block Public Access configuration (s3control
    /// `GetPublicAccessBlock`) has all four settings on in every account that owns a bucket
    /// the spec says must block public access.
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
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/configuring-block-public-access-account.html"],
}

impl Rule for AccountPublicAccessBlock {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for (alias, account) in &cx.spec.accounts {
            // An account is held to the strictest expectation of the buckets it owns, and its
            // finding filed under the earliest step those buckets belong to.
            let owned: Vec<&String> = cx
                .spec
                .buckets
                .iter()
                .filter(|(_, b)| b.account.get_ref() == alias && b.block_public_access)
                .map(|(k, _)| k)
                .collect();
            let Some(scenario) = owned.iter().map(|b| cx.bucket_scenario(b)).min() else {
                continue;
            };
            let id = account.account_id.get_ref();
            let resource = format!("arn:aws:s3:::account/{id}");
            let Some(st) = cx.snap.accounts.get(alias) else {
                out.push(error(
                    &META,
                    scenario,
                    &resource,
                    "account was not collected",
                ));
                continue;
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
        for b in f.spec.buckets.values_mut() {
            if b.account.get_ref() == "abcd" {
                b.block_public_access = false;
            }
        }
        let out = f.run(&AccountPublicAccessBlock);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].resource, "arn:aws:s3:::account/111122223333");
    }
}
