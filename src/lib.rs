//! replaudit: audit and verify AWS S3 cross-account, cross-region replication and bucket access.
//!
//! Data flows one way: [`spec`] (what must be true) → [`collect`] (the only code that reads
//! AWS) → [`snapshot`] (serde state) → [`rules`] and [`policy`] (pure) → [`findings`] →
//! [`report`]. [`canary`] is the only other code that talks to AWS. [`catalogue`] describes
//! every check of both, and depends on nothing but [`findings`].
//!
//! The command line is a layer over these: [`cli`] (the clap definitions), [`commands`] (one
//! module per subcommand: typed settings, then its run) and [`run`] (what every run shares:
//! output probes, set-up check, report publishing, exit codes). [`stop`] is the one typed stop
//! (SIGINT, SIGTERM, `--deadline`) that the collector, the canary and reconcile all take.

// First: its `declare_rule!` macro is used by the modules declared after it.
#[macro_use]
pub mod catalogue;

pub mod access;
pub mod arn;
pub mod aws;
pub mod canary;
pub mod change;
pub mod cli;
pub mod collect;
pub mod commands;
pub mod discover;
pub mod findings;
pub mod fix;
pub mod policy;
pub mod reconcile;
pub mod report;
pub mod rules;
pub mod run;
pub mod snapshot;
pub mod spec;
pub mod stop;
pub mod whatif;
