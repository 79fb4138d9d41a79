//! `replaudit fix`: the smallest proven change for every failing finding a configuration
//! change can cure, written as a plan folder (`-o DIR`); `--apply DIR` writes that plan to AWS
//! and `--rollback DIR` undoes what it wrote (see [`crate::change::apply`] for how each change
//! is written: lock, write, read back).

use crate::change::apply::{target, Expected, Resource, Writer};
use crate::change::Change;
use crate::cli::{FixArgs, TableOrJson};
use crate::findings::{Finding, Status};
use crate::fix;
use crate::rules::{run_all, AuditContext};
use crate::run::{
    check_output_dir, collect_live, emit, load_spec, setup_check, state, AwsSettings,
    EvidenceSettings, Fatal, Outcome, EXIT_FINDINGS,
};
use crate::spec::{LoadedSpec, Spec};
use crate::stop::Interrupt;
use futures::FutureExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A test hook, not a feature: stop an apply after this many changes, as a signal between two
/// changes would, so tests can interrupt an apply at a known point. Never set it otherwise.
pub const TEST_STOP_AFTER: &str = "REPLAUDIT_TEST_STOP_AFTER_CHANGES";

pub enum Mode {
    Plan(PathBuf),
    Apply(PathBuf),
    Rollback(PathBuf),
}

pub struct FixSettings {
    pub spec: LoadedSpec,
    pub snapshot: Option<PathBuf>,
    pub mode: Mode,
    pub json: bool,
    pub evidence: EvidenceSettings,
    pub aws: AwsSettings,
}

impl FixSettings {
    /// The plan folder is proven writable before any AWS call.
    pub fn resolve(a: &FixArgs) -> Result<Self, Fatal> {
        let spec = load_spec(&a.spec)?;
        let mode = match (&a.output_dir, &a.apply, &a.rollback) {
            (Some(o), None, None) => {
                check_output_dir(o)?;
                Mode::Plan(o.clone())
            }
            (None, Some(d), None) => Mode::Apply(d.clone()),
            (None, None, Some(d)) => Mode::Rollback(d.clone()),
            _ => {
                return Err(Fatal(
                    "give one of -o DIR (make a plan), --apply DIR or --rollback DIR".into(),
                ))
            }
        };
        Ok(FixSettings {
            spec,
            snapshot: a.snapshot.clone(),
            mode,
            json: a.format == TableOrJson::Json,
            evidence: (&a.evidence).into(),
            aws: (&a.aws).into(),
        })
    }
}

/// Plan: exit 0 when nothing fails or verified changes cure every failure; 1 when something
/// stays failing (a decision, a change that could not be verified) or the state was not fully
/// read. Apply and rollback: see [`apply`] and [`rollback`].
pub async fn run(s: FixSettings) -> Outcome {
    match &s.mode {
        Mode::Plan(dir) => plan(&s, dir).await,
        Mode::Apply(dir) => apply(&s, dir).await,
        Mode::Rollback(dir) => rollback(&s, dir).await,
    }
}

async fn plan(s: &FixSettings, dir: &Path) -> Outcome {
    let (snap, run) = match state(&s.spec, s.snapshot.as_deref(), &s.aws, &s.evidence).await {
        Ok(st) => st,
        Err(exit) => return exit,
    };
    let plan = fix::plan(&s.spec, &snap);
    fix::write(&plan, &s.spec, &snap, dir)?;
    match s.json {
        true => emit(&format!("{}\n", serde_json::to_string_pretty(&plan)?))?,
        false => emit(&plan.render_table(&s.spec))?,
    }
    eprintln!("fix plan written to {}", dir.display());
    if let Some(why) = &run.reason {
        eprintln!("replaudit: {why}");
    }
    Ok(run.exit_code(plan.exit_code() == 0))
}

fn read_json(path: &Path) -> Result<Value, Fatal> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Fatal(format!(
            "cannot read {} ({e}): --apply and --rollback take a folder written by `fix -o`",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| Fatal(format!("{}: not JSON ({e})", path.display())))
}

/// The change set of a plan file (`changes.json`, `rollback.json`, `applied.json`: each
/// `{"changes": [...]}`, the rollback with its `cannot_restore` list beside).
fn change_set(path: &Path) -> Result<Vec<Change>, Fatal> {
    let v = read_json(path)?;
    let changes = v.get("changes").cloned().unwrap_or(Value::Null);
    serde_json::from_value(changes)
        .map_err(|e| Fatal(format!("{}: not a change set ({e})", path.display())))
}

/// Record the changes written so far: a temporary file renamed over the record, so the record
/// is whole at every moment (a rename within a folder is atomic on POSIX file systems).
fn record(path: &Path, changes: &[Change]) -> Result<(), Fatal> {
    let tmp = path.with_extension("json.tmp");
    let mut text = serde_json::to_string_pretty(&json!({ "changes": changes }))?;
    text.push('\n');
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Fatal(format!("cannot write {} ({e})", path.display())))
}

/// `check resource` of the findings that count as failing: fail or error, not the checks that
/// restate others (they follow once AWS records the change).
fn failing(findings: &[Finding]) -> BTreeSet<String> {
    findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Error))
        .filter(|f| !crate::whatif::RESTATING.contains(&f.id.as_str()))
        .map(|f| format!("{} {}", f.id, f.resource))
        .collect()
}

/// The live audit's failing findings, or the exit code of a run the set-up check refused.
async fn audit(s: &FixSettings) -> Result<(BTreeSet<String>, bool), u8> {
    let (snap, run) = collect_live(&s.spec, &s.aws, &s.evidence).await?;
    let findings = run_all(&AuditContext::new(&s.spec, &snap));
    Ok((failing(&findings), run.is_completed()))
}

/// What apply and rollback start from: the failing findings now, and the clients their writes
/// go through (after the set-up check, whose exit code is returned when an account is unusable).
async fn audited_clients(s: &FixSettings) -> Result<(BTreeSet<String>, crate::aws::Clients), u8> {
    let (before, _) = audit(s).await?;
    let unusable = setup_check(&s.spec, &s.aws, false).await?;
    let clients = crate::aws::Clients::new(&s.spec, &s.aws.options, unusable).await;
    Ok((before, clients))
}

/// The one stop of a run: SIGINT, SIGTERM or `--deadline`, polled between changes only.
struct Stop<F: std::future::Future<Output = Interrupt>> {
    fut: std::pin::Pin<Box<F>>,
    after: Option<usize>,
}

impl<F: std::future::Future<Output = Interrupt>> Stop<F> {
    fn new(fut: F) -> Self {
        let after = std::env::var(TEST_STOP_AFTER)
            .ok()
            .and_then(|v| v.parse().ok());
        let mut s = Stop {
            fut: Box::pin(fut),
            after,
        };
        // The first poll installs the signal handlers: from now on a Ctrl-C waits for the
        // change being written to finish.
        let _ = s.fut.as_mut().now_or_never();
        s
    }

    /// Whether to stop before the next change, `done` changes having been written.
    fn check(&mut self, done: usize) -> Option<(String, u8)> {
        if let Some(i) = self.fut.as_mut().now_or_never() {
            return Some((i.describe(), i.exit_code()));
        }
        (self.after == Some(done)).then(|| {
            (
                format!("stopped after {done} change(s) ({TEST_STOP_AFTER}, a test hook)"),
                EXIT_FINDINGS,
            )
        })
    }
}

/// How a sequence of writes ended.
struct Written {
    done: Vec<Change>,
    stopped: Option<(String, u8)>,
    error: Option<String>,
}

/// Write `steps` in order through the lock, handing the ones written so far to `record` after
/// each.
async fn write_all(
    spec: &Spec,
    writer: &Writer<'_>,
    steps: &[Change],
    mut expected: Expected,
    record: &mut dyn FnMut(&[Change]) -> Result<(), Fatal>,
    stop: &mut Stop<impl std::future::Future<Output = Interrupt>>,
    verb: &str,
) -> Result<Written, Fatal> {
    let mut out = Written {
        done: vec![],
        stopped: None,
        error: None,
    };
    for (i, c) in steps.iter().enumerate() {
        if let Some(st) = stop.check(out.done.len()) {
            out.stopped = Some(st);
            break;
        }
        let t = target(spec, c)?;
        let want = expected.0.get(&t.resource).cloned().flatten();
        let since = if verb == "applied" {
            "the plan was made; run fix again"
        } else {
            "apply wrote it; it was not restored: look at it, and restore it by hand or make a new plan"
        };
        match writer.write(c, &want, since).await {
            Ok(()) => {
                out.done.push(c.clone());
                record(&out.done)?;
                expected.0.insert(t.resource, t.after);
                eprintln!(
                    "{verb} {}/{}: {} {}",
                    i + 1,
                    steps.len(),
                    c.operation,
                    c.description.as_deref().unwrap_or_default()
                );
            }
            Err(e) => {
                out.error = Some(format!("change {} ({}): {e}", i + 1, c.operation));
                break;
            }
        }
    }
    Ok(out)
}

/// The resource each change writes.
fn resources(spec: &Spec, changes: &[Change]) -> Result<Vec<Resource>, Fatal> {
    changes
        .iter()
        .map(|c| target(spec, c).map(|t| t.resource).map_err(Fatal::from))
        .collect()
}

/// `fix --apply DIR`: exit 0 only when every change was written and read back, and the audit
/// after it finds the plan's findings cured and nothing failing that did not fail before.
async fn apply(s: &FixSettings, dir: &Path) -> Outcome {
    let spec = &s.spec;
    let changes = change_set(&dir.join("changes.json"))?;
    let undo = change_set(&dir.join("rollback.json"))?;
    let plan = read_json(&dir.join("plan.json"))?;
    let applied_path = dir.join("applied.json");
    if applied_path.exists() && !change_set(&applied_path)?.is_empty() {
        return Err(Fatal(format!(
            "{} records changes already applied from this plan: roll them back (fix --rollback {}) or make a new plan",
            applied_path.display(),
            dir.display()
        )));
    }
    // The lock's reference: what the plan was made from, as its rollback restores it. A change
    // with no undo (not verified, or its document was not read) is not written: it could not
    // be undone, nor checked to be unchanged.
    let expected = Expected::from_undo(spec, &undo)?;
    for (c, r) in changes.iter().zip(resources(spec, &changes)?) {
        if !expected.0.contains_key(&r) {
            return Err(Fatal(format!(
                "{} {}: rollback.json has no document to restore {r} (the change is not verified, or the document was not read when the plan was made); apply writes nothing it could not undo",
                c.operation,
                c.description.as_deref().unwrap_or_default()
            )));
        }
    }
    let mut stop = Stop::new(crate::stop::first(s.aws.deadline_at()));
    let (before, clients) = match audited_clients(s).await {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let writer = Writer::new(spec, &clients);
    // Every lock first: a plan made on a state that has moved on writes nothing at all.
    for c in &changes {
        let t = target(spec, c)?;
        let found = writer.read(&t).await?;
        let want = expected.0.get(&t.resource).cloned().flatten();
        if !crate::change::apply::same(&t.resource, &want, &found) {
            return Err(Fatal(format!(
                "{} changed since the plan was made; run fix again (nothing was written)",
                t.resource
            )));
        }
    }
    record(&applied_path, &[])?;
    let w = write_all(
        spec,
        &writer,
        &changes,
        expected,
        &mut |done| record(&applied_path, done),
        &mut stop,
        "applied",
    )
    .await?;
    let cures: BTreeSet<String> = plan["changes"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .take(w.done.len())
                .flat_map(|c| c["cures"].as_array().cloned().unwrap_or_default())
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    finish(s, dir, "apply", &changes, w, before, cures).await
}

/// The end of an apply or rollback: say what was written, audit again when all of it was, and
/// the exit code.
async fn finish(
    s: &FixSettings,
    dir: &Path,
    what: &str,
    steps: &[Change],
    w: Written,
    before: BTreeSet<String>,
    cures: BTreeSet<String>,
) -> Outcome {
    let rollback_hint = format!(
        "undo with: replaudit fix --spec <spec> --rollback {}",
        dir.display()
    );
    let mut summary = json!({
        "operation": what,
        "changes": steps.len(),
        "written": w.done.len(),
        "failing_before": before.len(),
    });
    if let Some((why, code)) = &w.stopped {
        eprintln!(
            "replaudit: {what} {why}: {} of {} change(s) written and recorded in applied.json; {rollback_hint}",
            w.done.len(),
            steps.len()
        );
        summary["stopped"] = json!(why);
        print_summary(s, &summary, &[])?;
        return Ok(*code);
    }
    if let Some(e) = &w.error {
        eprintln!(
            "replaudit: {what} failed at {e}; {} of {} change(s) written{}",
            w.done.len(),
            steps.len(),
            if what == "apply" {
                format!(" and recorded in applied.json; {rollback_hint}")
            } else {
                String::new()
            }
        );
        summary["error"] = json!(e);
        print_summary(s, &summary, &[])?;
        return Ok(EXIT_FINDINGS);
    }
    let (after, complete) = match audit(s).await {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let new: Vec<String> = after.difference(&before).cloned().collect();
    let still: Vec<String> = cures.intersection(&after).cloned().collect();
    summary["failing_after"] = json!(after.len());
    summary["new_failures"] = json!(new);
    summary["still_failing"] = json!(still);
    let mut lines = vec![format!(
        "{what}: {} change(s) written; failing findings before: {}, after: {}",
        w.done.len(),
        before.len(),
        after.len()
    )];
    lines.extend(new.iter().map(|f| format!("  newly failing: {f}")));
    lines.extend(still.iter().map(|f| format!("  still failing: {f}")));
    if !complete {
        lines.push("  the audit after it did not read everything".into());
    }
    print_summary(s, &summary, &lines)?;
    // A rollback brings back what the plan cured: it is green when all of it was written and
    // the audit read everything.
    let clean = what == "rollback" || (new.is_empty() && still.is_empty());
    Ok(if complete && clean { 0 } else { EXIT_FINDINGS })
}

fn print_summary(s: &FixSettings, summary: &Value, lines: &[String]) -> Result<(), Fatal> {
    if s.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(summary)?))
    } else if lines.is_empty() {
        Ok(())
    } else {
        emit(&format!("{}\n", lines.join("\n")))
    }
}

/// `fix --rollback DIR`: the undo of every resource apply wrote (all of the plan's when there
/// is no applied.json), each written only if the document is still the one apply wrote.
async fn rollback(s: &FixSettings, dir: &Path) -> Outcome {
    let spec = &s.spec;
    let undo = change_set(&dir.join("rollback.json"))?;
    let applied_path = dir.join("applied.json");
    let written = if applied_path.exists() {
        change_set(&applied_path)?
    } else {
        change_set(&dir.join("changes.json"))?
    };
    let current = Expected::from_written(spec, &written)?;
    // One undo per resource: the last for it in the rollback (the undo of its first change)
    // restores the document the plan was made from.
    let rs = resources(spec, &undo)?;
    let mut last: BTreeMap<&Resource, usize> = BTreeMap::new();
    for (i, r) in rs.iter().enumerate() {
        last.insert(r, i);
    }
    let steps: Vec<Change> = undo
        .iter()
        .zip(&rs)
        .enumerate()
        .filter(|(i, (_, r))| last[r] == *i && current.0.contains_key(*r))
        .map(|(_, (c, _))| c.clone())
        .collect();
    let mut stop = Stop::new(crate::stop::first(s.aws.deadline_at()));
    stop.after = None;
    let (before, clients) = match audited_clients(s).await {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let writer = Writer::new(spec, &clients);
    // applied.json keeps listing what is applied and not yet undone, so a stopped rollback can
    // be run again, and an empty record lets the plan be applied again.
    let mut keep = |undone: &[Change]| -> Result<(), Fatal> {
        if !applied_path.exists() {
            return Ok(());
        }
        let gone: BTreeSet<Resource> = resources(spec, undone)?.into_iter().collect();
        let left: Vec<Change> = written
            .iter()
            .zip(resources(spec, &written)?)
            .filter(|(_, r)| !gone.contains(r))
            .map(|(c, _)| c.clone())
            .collect();
        record(&applied_path, &left)
    };
    let w = write_all(
        spec, &writer, &steps, current, &mut keep, &mut stop, "restored",
    )
    .await?;
    finish(s, dir, "rollback", &steps, w, before, BTreeSet::new()).await
}
