//! `replaudit reconcile`: compare every replication rule's source versions with the
//! destination's, from a live listing, from S3 Inventory (DataFusion on this machine) or on
//! Amazon Athena.

use crate::cli::ReconcileArgs;
use crate::findings::Finding;
use crate::reconcile::{self, athena::AthenaOptions, configured, from_inventory, inventory, live};
use crate::run::{
    check_output_dir, load_spec, setup_check, stopped_run, unusable_run, AwsSettings, Fatal,
    Outcome, ReportSettings,
};
use crate::spec::{LoadedSpec, Spec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct ReconcileSettings {
    pub spec: LoadedSpec,
    /// Its output folder also receives the version list and the Batch Replication manifest.
    pub report: ReportSettings,
    /// The defaults of [`live::LiveOptions::default`] with this run's flags.
    pub live: live::LiveOptions,
    /// `--source-inventory` / `--dest-inventory`: a folder, `s3://...` or `configured`.
    pub inventories: Option<(String, String)>,
    /// Where the inventory engine spills (default: the OS temporary directory).
    pub spill_dir: Option<PathBuf>,
    /// `--athena`: the comparison runs there, with these options.
    pub athena: Option<AthenaOptions>,
    pub aws: AwsSettings,
}

impl ReconcileSettings {
    pub fn resolve(a: &ReconcileArgs, verbose: u8) -> Result<Self, Fatal> {
        let spec = load_spec(&a.spec)?;
        let report = ReportSettings::resolve(&a.report, verbose)?;
        // The version list and the manifest always go to the folder, even with `-o FILE`.
        check_output_dir(&report.output_dir)?;
        let aws = AwsSettings::from(&a.aws);
        let defaults = live::LiveOptions::default();
        let inventories = match (&a.source_inventory, &a.dest_inventory) {
            (None, None) => None,
            (Some(s), Some(d)) => Some((s.clone(), d.clone())),
            _ => {
                return Err(Fatal(
                    "both --source-inventory and --dest-inventory are needed".into(),
                ))
            }
        };
        Ok(ReconcileSettings {
            spec,
            report,
            live: live::LiveOptions {
                aws: aws.options.clone(),
                in_flight_rtc: a.in_flight.unwrap_or(defaults.in_flight_rtc),
                in_flight_other: a.in_flight.unwrap_or(defaults.in_flight_other),
                max_heads: a.max_heads,
                engine_memory: a.engine_memory << 20,
            },
            inventories,
            spill_dir: a.spill_dir.clone(),
            athena: a.athena.then(|| AthenaOptions {
                workgroup: a.athena_workgroup.clone(),
                output_location: a.athena_output.clone(),
                database: a.athena_database.clone(),
                query_timeout: a.athena_timeout,
            }),
            aws,
        })
    }
}

pub async fn run(s: ReconcileSettings) -> Outcome {
    let spec = &s.spec;
    let opts = &s.live;
    // Inventories on disk need no AWS account: no set-up check then.
    let local_only = s.inventories.as_ref().is_some_and(|(si, di)| {
        [si, di]
            .iter()
            .all(|p| !p.starts_with("s3://") && *p != configured::CONFIGURED)
    });
    let unusable = if local_only {
        BTreeMap::new()
    } else {
        match setup_check(spec, &s.aws, false).await {
            Ok(u) => u,
            Err(code) => return Ok(code),
        }
    };
    let mut run = unusable_run(&unusable);
    let started = chrono::Utc::now();
    let stamp = started.format("%Y%m%dT%H%M%SZ").to_string();
    let mut findings = Vec::new();
    let mut commands = Vec::new();
    tokio::select! {
        r = from_inventories(&s, &stamp), if s.inventories.is_some() => {
            let (f, c) = r?;
            findings = f;
            commands = c;
        }
        outcomes = live::reconcile(spec, opts), if s.inventories.is_none() => {
            let (files, cmds) = reconcile::write_files(&outcomes, &s.report.output_dir, &stamp)?;
            for o in &outcomes {
                findings.extend(reconcile::findings(o, &files));
            }
            commands = cmds;
        }
        stopped = crate::stop::first(s.aws.deadline_at()) => {
            // Nothing half-listed is judged: every rule is an error.
            for (id, src, dst, rule) in live::scopes(spec, opts) {
                let o = live::RuleOutcome::new(spec, id, &src, &dst, rule)
                    .unfinished(&stopped.unread_reason());
                findings.extend(reconcile::findings(&o, &Default::default()));
            }
            run = run.worst(stopped_run(stopped, "reconcile"));
        }
    }
    let report = s.report.report(spec, started, findings, run);
    let code = s.report.publish(&report, "reconcile")?;
    for c in &commands {
        eprintln!("{c}");
    }
    Ok(code)
}

/// `reconcile --source-inventory/--dest-inventory`: the comparison SQL over the two inventories
/// (DataFusion, or Athena with `--athena`), the full list streamed into its file.
async fn from_inventories(
    s: &ReconcileSettings,
    stamp: &str,
) -> Result<(Vec<Finding>, Vec<String>), Fatal> {
    use std::io::Write as _;
    let spec: &Spec = &s.spec;
    let opts = &s.live;
    let Some((si, di)) = &s.inventories else {
        return Err(Fatal(
            "both --source-inventory and --dest-inventory are needed".into(),
        ));
    };
    let athena = s.athena.is_some();
    let work = s
        .spill_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!(
            "replaudit-reconcile-{}-{stamp}",
            std::process::id()
        ));
    std::fs::create_dir_all(&work)
        .map_err(|e| Fatal(format!("cannot create {}: {e}", work.display())))?;
    // Removed however this function ends: an error return, or a panic unwinding through it.
    struct RemoveOnDrop<'a>(&'a Path);
    impl Drop for RemoveOnDrop<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    let _work_guard = RemoveOnDrop(&work);
    let in_s3 = |v: &str| v.starts_with("s3://") || v == configured::CONFIGURED;
    if athena && !(in_s3(si) && in_s3(di)) {
        return Err(Fatal(
            "--athena reads the inventories where S3 delivered them: give --source-inventory and \
             --dest-inventory as s3:// addresses or `configured`"
                .into(),
        ));
    }
    let located = async {
        let s = configured::resolve(spec, si, true, athena, &opts.aws)
            .await
            .map_err(|e| e.to_string())?;
        let d = configured::resolve(spec, di, false, athena, &opts.aws)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((s, d))
    }
    .await;
    let opened = async {
        let (si, di) = located.clone()?;
        if athena {
            // Athena reads the data files itself; only the manifests are read here.
            return Err(String::new());
        }
        let s = inventory::open(spec, &si, true, &opts.aws, &work.join("source"))
            .await
            .map_err(|e| e.to_string())?;
        let d = inventory::open(spec, &di, false, &opts.aws, &work.join("destination"))
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(from_inventory::InventoryPair { source: s, dest: d })
    }
    .await;
    let list_path = s
        .report
        .output_dir
        .join(format!("reconcile-{stamp}-versions.csv"));
    let file = std::fs::File::create(&list_path)
        .map_err(|e| Fatal(format!("cannot write {}: {e}", list_path.display())))?;
    let mut list = std::io::BufWriter::new(file);
    writeln!(
        list,
        "rule,class,bucket,key,version_id,delete_marker,detail"
    )
    .map_err(|e| Fatal(format!("cannot write {}: {e}", list_path.display())))?;
    let mut batch = reconcile::Repairs::default();
    let outcomes = match (opened, &located, &s.athena) {
        (_, Ok((si, di)), Some(athena_opts)) => {
            let mut sinks = from_inventory::Sinks {
                list: &mut list,
                batch: &mut batch,
            };
            reconcile::athena::reconcile(spec, opts, athena_opts, si, di, &work, &mut sinks).await
        }
        (Ok(pair), _, _) => {
            let mut sinks = from_inventory::Sinks {
                list: &mut list,
                batch: &mut batch,
            };
            from_inventory::reconcile(spec, opts, &pair, &work, &mut sinks).await
        }
        (Err(e), _, _) => live::scopes(spec, opts)
            .into_iter()
            .map(|(id, s, d, rule)| {
                let mut o = live::RuleOutcome::new(spec, id, &s, &d, rule);
                o.error = Some(e.clone());
                o
            })
            .collect(),
    };
    let _ = std::fs::remove_dir_all(&work);
    list.flush()
        .map_err(|e| Fatal(format!("cannot write {}: {e}", list_path.display())))?;
    let (mut files, commands) =
        reconcile::write_manifests(&outcomes, batch, &s.report.output_dir, stamp)?;
    files.list = Some(list_path);
    let mut findings = Vec::new();
    for o in &outcomes {
        findings.extend(reconcile::findings(o, &files));
    }
    Ok((findings, commands))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use std::time::Duration;

    fn resolve(extra: &[&str]) -> ReconcileSettings {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        let mut argv = vec![
            "replaudit",
            "reconcile",
            "--spec",
            "checks/seed.toml",
            "--output-dir",
            out,
        ];
        argv.extend_from_slice(extra);
        let Command::Reconcile(a) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("not reconcile");
        };
        ReconcileSettings::resolve(&a, 0).unwrap_or_else(|e| panic!("{}", e.0))
    }

    /// `reconcile` without flags runs with exactly the defaults `audit --reconcile` takes
    /// (one `LiveOptions::default`), and `--in-flight` replaces both windows.
    #[test]
    fn reconcile_and_audit_share_one_set_of_defaults() {
        let d = live::LiveOptions::default();
        let s = resolve(&[]);
        assert_eq!(
            (
                s.live.in_flight_rtc,
                s.live.in_flight_other,
                s.live.max_heads,
                s.live.engine_memory
            ),
            (
                d.in_flight_rtc,
                d.in_flight_other,
                d.max_heads,
                d.engine_memory
            )
        );
        assert_eq!(d.in_flight_rtc, Duration::from_secs(1800));
        assert_eq!(d.in_flight_other, Duration::from_secs(86400));
        assert_eq!(d.max_heads, 10_000);
        let s = resolve(&[
            "--in-flight",
            "5m",
            "--max-heads",
            "7",
            "--engine-memory",
            "3",
        ]);
        assert_eq!(s.live.in_flight_rtc, Duration::from_secs(300));
        assert_eq!(s.live.in_flight_other, Duration::from_secs(300));
        assert_eq!((s.live.max_heads, s.live.engine_memory), (7, 3 << 20));
        assert!(s.athena.is_none() && s.inventories.is_none());
    }
}
