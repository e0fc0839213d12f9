//! The journal: one JSON line per finished step (a copy confirmed by its destination, with the
//! digest of what was sent; a delete done), appended as each step completes. A run that was
//! interrupted (killed, a node down) is started again with the same journal and skips the copies
//! already confirmed; the deletes still use the digest that was confirmed, so a file that
//! changed since is copied again rather than lost.
//!
//! The first line names the cluster (ring, nodes, leaving nodes) the journal was written for; a
//! journal of another cluster is refused rather than trusted.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "lowercase")]
pub enum Record {
    /// The first line: the cluster's fingerprint.
    Start {
        /// What [`super::cluster::Cluster::fingerprint`] said.
        cluster: String,
    },
    /// Node `from` pushed `metric` to node `to`, which stored it; `digest` is what was sent.
    Copy {
        /// The metric.
        metric: String,
        /// Source web address.
        from: String,
        /// Destination web address.
        to: String,
        /// Digest of the source file as sent.
        digest: String,
    },
    /// `metric` was deleted from `node`.
    Delete {
        /// The metric.
        metric: String,
        /// The node's web address.
        node: String,
    },
}

#[derive(Default)]
struct State {
    copies: HashMap<(String, String, String), String>,
    deletes: HashSet<(String, String)>,
    file: Option<File>,
    written: usize,
}

/// The journal of one applied run.
pub struct Journal {
    path: Option<PathBuf>,
    state: Mutex<State>,
    resumed: usize,
    abort_after: Option<usize>,
}

impl Journal {
    /// Opens `path` for the cluster `fingerprint`: resumes it when it was written for the same
    /// cluster, starts it when absent (or when `fresh`), refuses one of another cluster.
    /// `abort_after` (a test hook) ends the process, as a kill would, after that many steps.
    pub fn open(
        path: &Path,
        fingerprint: &str,
        fresh: bool,
        abort_after: Option<usize>,
    ) -> anyhow::Result<Journal> {
        let mut state = State::default();
        let mut resumed = 0;
        let exists = path.exists();
        if exists && !fresh {
            let f = File::open(path).with_context(|| format!("journal {}", path.display()))?;
            let mut lines = BufReader::new(f).lines();
            let first = lines
                .next()
                .transpose()
                .with_context(|| format!("journal {}", path.display()))?;
            match first.and_then(|l| serde_json::from_str::<Record>(&l).ok()) {
                Some(Record::Start { cluster }) if cluster == fingerprint => {}
                Some(Record::Start { cluster }) => bail!(
                    "journal {} was written for another cluster ({cluster}); finish that run, \
                     or pass --fresh to discard it",
                    path.display()
                ),
                _ => bail!(
                    "{} is not a rebalance journal; pass another --journal or --fresh",
                    path.display()
                ),
            }
            for line in lines {
                let line = line.with_context(|| format!("journal {}", path.display()))?;
                // a line cut short by a kill is the last one; it is simply not done
                let Ok(r) = serde_json::from_str::<Record>(&line) else {
                    continue;
                };
                resumed += 1;
                apply(&mut state, r);
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("journal {}", path.display()))?;
        if exists && !fresh {
            end_with_newline(path, &mut file)?;
        } else {
            file.set_len(0)
                .with_context(|| format!("journal {}", path.display()))?;
            let start = Record::Start {
                cluster: fingerprint.to_string(),
            };
            writeln!(file, "{}", serde_json::to_string(&start)?)
                .with_context(|| format!("journal {}", path.display()))?;
        }
        state.file = Some(file);
        Ok(Journal {
            path: Some(path.to_path_buf()),
            state: Mutex::new(state),
            resumed,
            abort_after,
        })
    }

    /// Steps read back from an earlier run.
    pub fn resumed(&self) -> usize {
        self.resumed
    }

    /// The digest a confirmed copy of `metric` from `from` to `to` sent, if one is recorded.
    pub fn copied(&self, metric: &str, from: &str, to: &str) -> Option<String> {
        let s = self.state.lock().ok()?;
        s.copies
            .get(&(metric.to_string(), from.to_string(), to.to_string()))
            .cloned()
    }

    /// Records a finished step (the line is written before the step counts as done).
    pub fn record(&self, r: Record) -> anyhow::Result<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| anyhow::anyhow!("journal lock poisoned"))?;
        if let Some(f) = s.file.as_mut() {
            // one write per line, so a kill leaves whole lines and at most one cut line
            let line = format!("{}\n", serde_json::to_string(&r)?);
            f.write_all(line.as_bytes()).context("journal write")?;
        }
        apply(&mut s, r);
        s.written += 1;
        if self.abort_after.is_some_and(|n| s.written >= n) {
            eprintln!("rebalance: stopping after {} steps (test hook)", s.written);
            std::process::exit(75);
        }
        Ok(())
    }

    /// Removes the journal after a run that finished everything.
    pub fn finish(self) -> anyhow::Result<()> {
        if let Some(p) = &self.path {
            drop(self.state);
            std::fs::remove_file(p).with_context(|| format!("remove journal {}", p.display()))?;
        }
        Ok(())
    }
}

/// After a line cut by a kill, appending must start on a new line.
fn end_with_newline(path: &Path, file: &mut File) -> anyhow::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut r = File::open(path).with_context(|| format!("journal {}", path.display()))?;
    if r.metadata()?.len() == 0 {
        return Ok(());
    }
    r.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    r.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n").context("journal write")?;
    }
    Ok(())
}

fn apply(s: &mut State, r: Record) {
    match r {
        Record::Start { .. } => {}
        Record::Copy {
            metric,
            from,
            to,
            digest,
        } => {
            s.copies.insert((metric, from, to), digest);
        }
        Record::Delete { metric, node } => {
            // copies made from that file are history: should the node hold the metric again
            // (new points arrived), those are new data and are copied again
            s.copies
                .retain(|(m, from, _), _| !(m == &metric && from == &node));
            s.deletes.insert((metric, node));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(m: &str, from: &str, to: &str, d: &str) -> Record {
        Record::Copy {
            metric: m.into(),
            from: from.into(),
            to: to.into(),
            digest: d.into(),
        }
    }

    #[test]
    fn resumes_the_same_cluster_and_refuses_another() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let j = Journal::open(&p, "ring-1", false, None).unwrap();
        j.record(copy("a.b", "n1", "n2", "00ff")).unwrap();
        j.record(copy("c;t=1", "n1", "n2", "0aaa")).unwrap();
        j.record(Record::Delete {
            metric: "c;t=1".into(),
            node: "n1".into(),
        })
        .unwrap();
        drop(j);
        // a line cut by a kill is ignored
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"step\":\"copy\",\"metr").unwrap();
        drop(f);
        let j = Journal::open(&p, "ring-1", false, None).unwrap();
        assert_eq!(j.resumed(), 3);
        assert_eq!(j.copied("a.b", "n1", "n2").as_deref(), Some("00ff"));
        assert_eq!(j.copied("a.b", "n2", "n1"), None);
        // deleted since: the copy is history
        assert_eq!(j.copied("c;t=1", "n1", "n2"), None);
        j.record(copy("d", "n2", "n1", "0bbb")).unwrap();
        drop(j);
        let j = Journal::open(&p, "ring-1", false, None).unwrap();
        assert_eq!(j.resumed(), 4);
        assert_eq!(j.copied("d", "n2", "n1").as_deref(), Some("0bbb"));
        drop(j);
        assert!(Journal::open(&p, "ring-2", false, None).is_err());
        let j = Journal::open(&p, "ring-2", true, None).unwrap();
        assert_eq!(j.resumed(), 0);
        assert_eq!(j.copied("a.b", "n1", "n2"), None);
        j.finish().unwrap();
        assert!(!p.exists());
    }
}
