//! What the canary saw, as plain data.
//!
//! The code that talks to AWS (`run.rs`, `logs.rs`, `cleanup.rs`) fills these in; the verdicts
//! (`verdict/`) turn them into findings without any I/O, so every verdict can be exercised
//! offline with a hand-made observation. Durations are seconds since the event they are
//! measured from (the PutObject acknowledgement, the DELETE, the export's completion).

use super::plan::{AccessCheck, Expected};
use super::s3ops::{CallError, HeadInfo};
use serde::Serialize;

pub use crate::stop::Interrupt;

/// One object version or delete marker, by bucket alias.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct VersionRef {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub delete_marker: bool,
}

/// What the canary PutObject did.
#[derive(Debug, Clone)]
pub enum WriteObs {
    Written(Written),
    /// The key already exists and is not this run's: nothing was written, nothing will be touched.
    Exists(CallError),
    Failed(CallError),
    /// Not attempted (no usable credentials for the writer).
    NotTried(String),
    Stopped(Interrupt),
}

impl WriteObs {
    pub fn written(&self) -> Option<&Written> {
        match self {
            WriteObs::Written(w) => Some(w),
            _ => None,
        }
    }

    pub fn stopped(&self) -> Option<Interrupt> {
        match self {
            WriteObs::Stopped(i) => Some(*i),
            _ => None,
        }
    }
}

/// A canary object that was written.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub version_id: String,
    /// Encryption the PutObject response reported.
    pub sse: Option<String>,
    pub kms_key_id: Option<String>,
    /// HeadObject of the source right after the write (None when it could not be read).
    pub source: Option<HeadInfo>,
}

/// How the wait for one replica ended.
#[derive(Debug, Clone)]
pub enum Seen {
    /// The replica was listed `latency` seconds after the PutObject acknowledgement; the
    /// previous poll that did not see it was at `lower` (0 when the first poll saw it).
    Found {
        latency: f64,
        lower: f64,
        version_id: String,
        /// HeadObject of the replica (status, encryption).
        head: Result<HeadInfo, CallError>,
    },
    /// No replica: the wait reached the timeout, or (`source_failed`) the source reported
    /// FAILED while this was the only destination still without a replica.
    Missing { waited: f64, source_failed: bool },
    /// The run was stopped while waiting.
    Stopped { interrupt: Interrupt, waited: f64 },
    /// The destination could not be read.
    Error(CallError),
}

/// The wait for the replica in one destination.
#[derive(Debug, Clone)]
pub struct ReplicaObs {
    pub expected: Expected,
    pub seen: Seen,
    pub polls: usize,
}

impl ReplicaObs {
    pub fn found(&self) -> Option<&Result<HeadInfo, CallError>> {
        match &self.seen {
            Seen::Found { head, .. } => Some(head),
            _ => None,
        }
    }

    pub fn stopped(&self) -> Option<Interrupt> {
        match self.seen {
            Seen::Stopped { interrupt, .. } => Some(interrupt),
            _ => None,
        }
    }
}

/// Everything the canary saw of one written object's replication.
#[derive(Debug, Clone)]
pub struct ReplicationObs {
    pub replicas: Vec<ReplicaObs>,
    /// The source's x-amz-replication-status at the last successful read while waiting (None:
    /// no header); `status_read` is false when no read succeeded.
    pub waiting_status: Option<String>,
    pub status_read: bool,
    /// The source status once every replica was seen (read for a few more seconds while it
    /// said PENDING), or the last one read when some replica was not seen.
    pub final_status: Result<Option<String>, CallError>,
    /// The run stopped while the final status was still PENDING.
    pub settle_stopped: Option<Interrupt>,
}

/// What a principal's own GetObject / ListObjectsV2 returned.
#[derive(Debug, Clone)]
pub enum Tried {
    /// The call succeeded; `ok` = it returned the canary's bytes / listed the canary.
    Succeeded {
        ok: bool,
        detail: String,
    },
    Failed(CallError),
}

/// One access check of the plan and what happened.
#[derive(Debug, Clone)]
pub struct AccessObs {
    pub check: AccessCheck,
    pub outcome: AccessOutcome,
}

#[derive(Debug, Clone)]
pub enum AccessOutcome {
    Tried(Tried),
    /// The check reads a replica and none was seen in that destination.
    NoReplica,
    Stopped(Interrupt),
    /// The principal's credentials cannot be used.
    NoClient(String),
}

/// Scenario B: watching the destinations for a canary that must not replicate.
#[derive(Debug, Clone, Default)]
pub struct UnreplicatedObs {
    pub polls: usize,
    /// (destination alias, seconds after the write) where the canary appeared.
    pub appeared: Vec<(String, f64)>,
    /// (destination alias, error) of every read that failed.
    pub errors: Vec<(String, CallError)>,
    pub stopped: Option<Interrupt>,
    /// The source's x-amz-replication-status after the window (None: no header or unread).
    pub source_status: Option<String>,
}

/// The simple DELETE of the delete-marker test.
#[derive(Debug, Clone)]
pub enum MarkerCreate {
    Created(String),
    /// DeleteObject answered without creating a delete marker.
    NoMarker,
    Failed(CallError),
    NoClient(String),
    Stopped(Interrupt),
}

/// The wait for the delete marker in one destination that has the replica.
#[derive(Debug, Clone)]
pub enum MarkerSeen {
    Seen {
        version_id: String,
        after: f64,
    },
    /// Not within the limit (the timeout when it must replicate, the observation window when
    /// it must not).
    NotSeen,
    Stopped(Interrupt),
    Error(CallError),
}

#[derive(Debug, Clone)]
pub struct MarkerObs {
    pub expected: Expected,
    pub seen: MarkerSeen,
    pub polls: usize,
}

/// The delete-marker test of one object: the DELETE, then one wait per destination that had
/// the replica.
#[derive(Debug, Clone)]
pub struct DeleteMarkerObs {
    pub create: MarkerCreate,
    pub waits: Vec<MarkerObs>,
}

/// Scenario D, step 1: the export task.
#[derive(Debug, Clone)]
pub enum ExportObs {
    /// `scenario_d.log_groups` is empty.
    NoLogGroup,
    NoClient,
    StreamFailed(CallError),
    EventsFailed(CallError),
    /// CreateExportTask failed with something else than the one-active-task limit.
    Refused {
        error: CallError,
        waited: f64,
    },
    /// Another export task of the account stayed active (LimitExceededException) for the
    /// whole wait; `active` names the active tasks when DescribeExportTasks could tell.
    LimitPersisted {
        error: CallError,
        attempts: usize,
        waited: f64,
        active: Vec<String>,
    },
    FollowFailed {
        task_id: String,
        error: CallError,
    },
    /// The task ended FAILED or CANCELLED.
    Ended {
        task_id: String,
        status: String,
    },
    /// Still PENDING/RUNNING when the timeout came.
    TimedOut {
        task_id: String,
        status: String,
        waited: f64,
    },
    Stopped {
        task_id: Option<String>,
        interrupt: Interrupt,
    },
    ListFailed {
        task_id: String,
        error: CallError,
    },
    /// The task completed; `objects` are the keys it wrote under the run's export prefix;
    /// `limit_waited` is how long the canary waited for another task first.
    Completed {
        task_id: String,
        objects: Vec<String>,
        limit_waited: f64,
    },
}

/// Scenario D, step 2: the exported objects in the backup bucket.
#[derive(Debug, Clone, Default)]
pub struct LogReplicationObs {
    /// (key, seconds after the export completed, replica's replication status).
    pub arrived: Vec<(String, f64, Option<String>)>,
    pub missing: Vec<String>,
    pub error: Option<CallError>,
    pub stopped: Option<Interrupt>,
    /// No client for the backup bucket.
    pub no_client: Option<String>,
}

/// One latency measurement, for the min / median / max summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub secs: Option<f64>,
    pub pass: bool,
    pub stopped: Option<Interrupt>,
}

/// What cleanup did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Cleaned {
    pub deleted: Vec<VersionRef>,
    pub failed: Vec<(VersionRef, CallError)>,
    /// Versions under the run's prefixes after cleanup (foreign ones excluded).
    pub left: Vec<VersionRef>,
    pub foreign_untouched: usize,
    pub listing_errors: Vec<CallError>,
    /// In-flight replications still unresolved when the drain ended.
    pub gave_up_waiting: usize,
    pub drain_secs: f64,
    /// Cleanup was cut short (a second signal): `may_be_left` are recorded versions it had not
    /// deleted yet, and the final listing never ran.
    pub aborted: Option<Interrupt>,
    pub may_be_left: Vec<VersionRef>,
}
