//! Progress bars on a terminal (one per canary while it waits); nothing at all otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress {
            multi: enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A bar that fills up towards `limit` (the timeout or observation window).
    pub fn bar(&self, label: String, limit: Duration) -> Bar {
        let Some(m) = &self.multi else {
            return Bar(None);
        };
        let pb = m.add(ProgressBar::new(limit.as_millis().max(1) as u64));
        let style =
            ProgressStyle::with_template("{spinner} {prefix} [{bar:20}] {elapsed:>3} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        pb.set_style(style);
        pb.set_prefix(label);
        pb.enable_steady_tick(Duration::from_millis(200));
        Bar(Some(pb))
    }

    /// A line on stderr that does not tear the bars.
    pub fn println(&self, msg: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => eprintln!("{msg}"),
        }
    }
}

pub struct Bar(Option<ProgressBar>);

impl Bar {
    pub fn update(&self, elapsed: Duration, msg: String) {
        if let Some(pb) = &self.0 {
            pb.set_position(elapsed.as_millis() as u64);
            pb.set_message(msg);
        }
    }

    pub fn finish(&self, msg: String) {
        if let Some(pb) = &self.0 {
            pb.finish_with_message(msg);
        }
    }
}
