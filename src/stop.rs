//! The one typed stop of a run: SIGINT, SIGTERM or `--deadline`.
//!
//! The collector, the canary, reconcile and the run status all say how a run was stopped, and
//! each used to carry it its own way (a code string plus a reason whose text was searched for
//! "SIGTERM"). One enum, owned by neither the collector nor the canary, so both can take it
//! without depending on each other; every string they print comes from its methods.

use serde::Serialize;

/// Why a canary run stopped before it saw everything. A check that was still waiting when this
/// happened is an `error` naming it, never a `pass` or `skip`: nothing unfinished looks green.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Interrupt {
    /// SIGINT (Ctrl-C).
    Sigint,
    /// SIGTERM.
    Sigterm,
    /// `--deadline` reached.
    Deadline,
}

impl Interrupt {
    /// `SIGINT`, `SIGTERM`, `--deadline`.
    pub fn name(&self) -> &'static str {
        match self {
            Interrupt::Sigint => "SIGINT",
            Interrupt::Sigterm => "SIGTERM",
            Interrupt::Deadline => "--deadline",
        }
    }

    /// A signal, as opposed to the deadline.
    pub fn is_signal(&self) -> bool {
        !matches!(self, Interrupt::Deadline)
    }

    /// The run's exit code: the shell convention 128 + signal number for signals, 1 for a
    /// deadline (the run did not see everything, so it is never 0).
    pub fn exit_code(&self) -> u8 {
        match self {
            Interrupt::Sigint => 130,
            Interrupt::Sigterm => 143,
            Interrupt::Deadline => 1,
        }
    }

    /// The word for a report's summary line.
    pub fn summary_word(&self) -> &'static str {
        if self.is_signal() {
            "INTERRUPTED"
        } else {
            "DEADLINE"
        }
    }

    /// `interrupted by SIGINT` / `stopped at --deadline`, for messages.
    pub fn describe(&self) -> String {
        if self.is_signal() {
            format!("interrupted by {}", self.name())
        } else {
            "stopped at --deadline".to_string()
        }
    }

    /// The error code a stopped collection records for what it did not read (snapshot
    /// `Fetched::Unknown`): `Interrupted` for a signal, `DeadlineExceeded` for `--deadline`.
    pub fn code(&self) -> &'static str {
        if self.is_signal() {
            "Interrupted"
        } else {
            "DeadlineExceeded"
        }
    }

    /// Why something was not read, as the snapshot and the findings of an unfinished reconcile
    /// rule say it.
    pub fn unread_reason(&self) -> String {
        if self.is_signal() {
            format!("interrupted by {} before this was read", self.name())
        } else {
            "--deadline reached before this was read".to_string()
        }
    }
}

/// SIGINT / SIGTERM as a stream; a signal that cannot be installed never fires.
pub struct Signals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    #[cfg(unix)]
    pub fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        let int = signal(SignalKind::interrupt())
            .map_err(|e| tracing::warn!("cannot handle SIGINT: {e}"))
            .ok();
        let term = signal(SignalKind::terminate())
            .map_err(|e| tracing::warn!("cannot handle SIGTERM: {e}"))
            .ok();
        Signals { int, term }
    }

    #[cfg(not(unix))]
    pub fn install() -> Signals {
        Signals {}
    }

    #[cfg(unix)]
    pub async fn next(&mut self) -> Interrupt {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            if let Some(sig) = s {
                if sig.recv().await.is_some() {
                    return;
                }
            }
            std::future::pending::<()>().await
        }
        tokio::select! {
            _ = recv(&mut self.int) => Interrupt::Sigint,
            _ = recv(&mut self.term) => Interrupt::Sigterm,
        }
    }

    #[cfg(not(unix))]
    pub async fn next(&mut self) -> Interrupt {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        Interrupt::Sigint
    }
}

/// Resolves on SIGINT, SIGTERM or the deadline, whichever comes first.
pub async fn first(deadline: Option<tokio::time::Instant>) -> Interrupt {
    let mut signals = Signals::install();
    let deadline = async {
        match deadline {
            Some(t) => tokio::time::sleep_until(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        sig = signals.next() => sig,
        _ = deadline => Interrupt::Deadline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Snapshots and findings carry these strings; users' tooling may match them.
    #[test]
    fn each_stop_names_its_code_and_reason() {
        let cases = [
            (
                Interrupt::Sigint,
                "Interrupted",
                "interrupted by SIGINT before this was read",
            ),
            (
                Interrupt::Sigterm,
                "Interrupted",
                "interrupted by SIGTERM before this was read",
            ),
            (
                Interrupt::Deadline,
                "DeadlineExceeded",
                "--deadline reached before this was read",
            ),
        ];
        for (stop, code, reason) in cases {
            assert_eq!(stop.code(), code);
            assert_eq!(stop.unread_reason(), reason);
        }
    }

    #[tokio::test]
    async fn a_passed_deadline_stops_at_once() {
        let past = tokio::time::Instant::now();
        assert_eq!(first(Some(past)).await, Interrupt::Deadline);
    }
}
