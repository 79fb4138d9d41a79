//! Why an access question cannot be decided from the snapshot. Never a pass and never a false
//! fail: the rules show the reason as an undecided finding, in the words users have always read
//! (tests pin many of them). Cloneable, because one resolution (a key alias, a Bucket-Key
//! setting) is kept and reused by several rules.

use crate::policy::PolicyError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The collector did not collect this principal, bucket or key.
    #[error("{0} was not collected")]
    NotCollected(String),
    /// The principal is not in its account (IAM answered NoSuchEntity).
    #[error("principal {arn} does not exist ({reason})")]
    PrincipalMissing { arn: String, reason: String },
    /// A policy document that does not parse.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Evidence the collector could not read (the text names what and why).
    #[error("{0}")]
    Unreadable(String),
    /// The answer depends on something unknown, or the evidence does not fit the question.
    #[error("{0}")]
    Undecided(String),
    /// An encryption header S3 does not document.
    #[error("unknown server-side encryption {0:?}")]
    UnknownSse(String),
    /// An inventory EncryptionStatus S3 does not document.
    #[error("unknown inventory encryption status {0:?}")]
    UnknownInventorySse(String),
    /// A permissions boundary that cannot be used.
    #[error("permissions boundary: {0}")]
    Boundary(Box<Error>),
    /// Two settings that are both unknown.
    #[error("{0}; {1}")]
    Both(Box<Error>, Box<Error>),
}

/// Reports and evidence show the reason as the sentence users read.
impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
