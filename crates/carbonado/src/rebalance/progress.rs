//! The progress line of an applied rebalance, on stderr: redrawn in place on a terminal,
//! a line every few seconds otherwise (logs, tests).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the line shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Metrics finished (done or failed).
    pub done: usize,
    /// Pushes done.
    pub pushes: usize,
    /// Deletes done.
    pub deletes: usize,
    /// Metrics failed.
    pub failed: usize,
    /// Bytes pushed.
    pub bytes: u64,
}

/// The running progress line; [`Progress::stop`] prints the last state.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn bar(total: usize, s: &Snapshot) -> String {
    const WIDTH: usize = 30;
    let filled = (s.done * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    format!(
        "[{}{}] {}/{} metrics, {} pushes ({:.1} MiB), {} deletes, {} failed",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        s.done,
        total,
        s.pushes,
        s.bytes as f64 / (1u64 << 20) as f64,
        s.deletes,
        s.failed
    )
}

impl Progress {
    /// Starts drawing `read()` against `total` metrics.
    pub fn start(total: usize, read: impl Fn() -> Snapshot + Send + 'static) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let tty = std::io::stderr().is_terminal();
            let every = if tty {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(5)
            };
            let tick = Duration::from_millis(50);
            let mut waited = Duration::ZERO;
            loop {
                let last = flag.load(Ordering::Relaxed);
                if last || waited >= every {
                    waited = Duration::ZERO;
                    let line = bar(total, &read());
                    let mut err = std::io::stderr().lock();
                    let _ = if tty {
                        write!(err, "\r{line}")
                    } else {
                        writeln!(err, "rebalance: {line}")
                    };
                    if last && tty {
                        let _ = writeln!(err);
                    }
                    let _ = err.flush();
                }
                if last {
                    break;
                }
                std::thread::sleep(tick);
                waited += tick;
            }
        });
        Progress {
            stop,
            thread: Some(thread),
        }
    }

    /// Prints the final state and ends the thread (dropping what it reads from).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_progress() {
        let s = Snapshot {
            done: 15,
            pushes: 20,
            deletes: 10,
            failed: 1,
            bytes: 3 << 20,
        };
        let line = bar(30, &s);
        assert!(
            line.starts_with(&format!("[{}{}]", "#".repeat(15), "-".repeat(15))),
            "{line}"
        );
        assert!(line.contains("15/30 metrics, 20 pushes (3.0 MiB), 10 deletes, 1 failed"));
        assert!(bar(0, &Snapshot::default()).starts_with(&format!("[{}]", "#".repeat(30))));
    }
}
