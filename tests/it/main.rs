//! The integration tests, as one binary.
//!
//! Each file of `tests/` is a module here; the files stay where they are, so their paths, their
//! history and their own `mod common;`-style helpers work as before. `Cargo.toml` turns Cargo's
//! one-binary-per-file discovery off (`autotests = false`): every test binary links the AWS SDK
//! and DataFusion, and one binary instead of 27 links them once. One file's tests:
//! `cargo test --test it reconcile_emulator::`; one test: `cargo test --test it -- --exact
//! reconcile_emulator::NAME`.
//!
//! Tests of different files now share one process, so process-wide state is guarded here:
//! [`ENV_LOCK`] is held by whoever sets environment variables that in-process AWS SDK clients
//! read (tests/common/inventory.rs).

/// Held while a test sets and uses process environment variables (`AWS_CONFIG_FILE`, ...).
pub static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

// The helpers the test files share, each loaded once (the files `use crate::common;` ...).
#[path = "../common/mod.rs"]
mod common;
#[path = "../common/estate.rs"]
#[allow(dead_code)]
mod estate;
#[path = "../fake_aws/mod.rs"]
mod fake_aws;
#[path = "../hardening/mod.rs"]
mod hardening;
#[path = "../common/inventory.rs"]
mod inventory;

// The test files.

#[path = "../audit_emulator.rs"]
mod audit_emulator;
#[path = "../aws_fidelity.rs"]
mod aws_fidelity;
#[path = "../bad_input.rs"]
mod bad_input;
#[path = "../canary_emulator.rs"]
mod canary_emulator;
#[path = "../ci_docs.rs"]
mod ci_docs;
#[path = "../cli.rs"]
mod cli;
#[path = "../cli_simulate.rs"]
mod cli_simulate;
#[path = "../closed_stdout.rs"]
mod closed_stdout;
#[path = "../demo_script.rs"]
mod demo_script;
#[path = "../discover.rs"]
mod discover;
#[path = "../faults.rs"]
mod faults;
#[path = "../fix_emulator.rs"]
mod fix_emulator;
#[path = "../interruption.rs"]
mod interruption;
#[path = "../kms_fidelity.rs"]
mod kms_fidelity;
#[path = "../least_privilege.rs"]
mod least_privilege;
#[path = "../policy_props.rs"]
mod policy_props;
#[path = "../policy_vectors.rs"]
mod policy_vectors;
#[path = "../reconcile_athena.rs"]
mod reconcile_athena;
#[path = "../reconcile_emulator.rs"]
mod reconcile_emulator;
#[path = "../reconcile_inventory.rs"]
mod reconcile_inventory;
#[path = "../reconcile_least_privilege.rs"]
mod reconcile_least_privilege;
#[path = "../reports.rs"]
mod reports;
#[path = "../scale.rs"]
mod scale;
#[path = "../secrets.rs"]
mod secrets;
#[path = "../setup_check.rs"]
mod setup_check;
#[path = "../spec_fuzz.rs"]
mod spec_fuzz;
#[path = "../whocan.rs"]
mod whocan;
#[path = "../whocan_cli.rs"]
mod whocan_cli;
