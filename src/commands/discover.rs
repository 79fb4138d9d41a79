//! `replaudit discover`: find every replicated bucket of the given accounts (or of an AWS
//! Organization) and write a baseline posture spec.

use crate::cli::DiscoverArgs;
use crate::collect;
use crate::discover::{self as engine, Organization};
use crate::run::{AwsSettings, Fatal, Outcome, EXIT_FINDINGS};
use std::path::PathBuf;

/// Where the accounts to discover come from.
pub enum Input {
    /// `--accounts FILE`: a spec, or a file with only `[accounts.<alias>]` tables.
    Accounts(PathBuf),
    /// `--organization-profile` with `--member-role` and `--region`.
    Organization(Organization),
}

pub struct DiscoverSettings {
    pub input: Input,
    /// `-o FILE`, `-` for stdout.
    pub output: PathBuf,
    /// `--name`; else the input's name, else "discovered".
    pub name: Option<String>,
    pub aws: AwsSettings,
}

impl DiscoverSettings {
    pub fn resolve(a: &DiscoverArgs) -> Result<Self, Fatal> {
        let input = match (&a.accounts, &a.organization_profile, &a.member_role) {
            (Some(path), _, _) => Input::Accounts(path.clone()),
            (None, Some(profile), Some(role)) => {
                let region = a.region.clone().ok_or_else(|| {
                    Fatal("--organization-profile needs --region (the home Region written for the member accounts)".into())
                })?;
                Input::Organization(Organization {
                    profile: profile.clone(),
                    member_role: role.clone(),
                    region,
                })
            }
            _ => return Err(Fatal("give --accounts FILE, or --organization-profile PROFILE --member-role NAME --region REGION".into())),
        };
        Ok(DiscoverSettings {
            input,
            output: a.output.clone(),
            name: a.name.clone(),
            aws: (&a.aws).into(),
        })
    }
}

/// Exit 0 when the baseline describes everything, 1 when something could not be read or
/// expressed (listed on stderr and in the spec), 2 when nothing could be written.
pub async fn run(s: DiscoverSettings) -> Outcome {
    let copts = collect::CollectOptions::new(s.aws.options.clone());
    let mut earlier = Vec::new();
    let input = match &s.input {
        Input::Accounts(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Fatal(format!("cannot read {}: {e}", path.display())))?;
            engine::parse_accounts(path, &text).map_err(|e| Fatal(e.to_string()))?
        }
        Input::Organization(org) => {
            let members = engine::list_members(org, &copts.aws)
                .await
                .map_err(|e| Fatal(e.to_string()))?;
            let own = engine::profile_account(org, &copts.aws)
                .await
                .map_err(|e| Fatal(e.to_string()))?;
            let (all, skipped) = engine::member_accounts(org, &members, Some(&own))
                .map_err(|e| Fatal(e.to_string()))?;
            for s in &skipped {
                eprintln!("replaudit: {s}");
            }
            let (usable, problems) = engine::assumable(org, all, &copts.aws)
                .await
                .map_err(|e| Fatal(e.to_string()))?;
            // Printed with the discovery's other problems, once, at the end.
            earlier = problems;
            usable
        }
    };
    let name = s
        .name
        .clone()
        .or_else(|| input.name.clone())
        .unwrap_or_else(|| "discovered".into());
    let d = engine::discover(&input, &copts, &name, earlier)
        .await
        .map_err(|e| Fatal(e.to_string()))?;
    if s.output.as_os_str() == "-" {
        print!("{}", d.spec);
    } else {
        std::fs::write(&s.output, &d.spec)
            .map_err(|e| Fatal(format!("cannot write {}: {e}", s.output.display())))?;
    }
    eprintln!(
        "discovered {} replication(s) over {} bucket(s){}",
        d.replications,
        d.buckets,
        if s.output.as_os_str() == "-" {
            String::new()
        } else {
            format!(": {}", s.output.display())
        }
    );
    for p in &d.problems {
        eprintln!("replaudit: {p}");
    }
    Ok(if d.problems.is_empty() {
        0
    } else {
        EXIT_FINDINGS
    })
}
