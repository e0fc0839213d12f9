//! `carbonado rebalance`: puts every metric's whisper files where the relay's ring (and
//! replication factor) places them, over the nodes' own `/transfer/*` HTTP endpoints.
//!
//! It lists every node's metrics, decides per metric (see [`plan`]), and with `--apply` asks
//! each source node to push its file to each owner (so copying is spread over the nodes, with a
//! bound per node), then deletes a non-owner's file only after every owner stored it and only if
//! it is still the content that was copied. Without `--apply` it prints the plan and changes
//! nothing. Each finished step goes to a [`journal`], so a run that was stopped resumes.

pub mod cluster;
pub mod journal;
pub mod plan;
mod progress;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::sync::Semaphore;
use web::transfer::client::{query, Client};

use cluster::Cluster;
use journal::{Journal, Record};
use plan::{decide, Decision, MetricPlan, PlanSummary};

/// Deadline of listing one node.
const LIST_TIMEOUT: Duration = Duration::from_secs(120);
/// Deadline of one push (the node's own push deadline, plus the way back).
const PUSH_TIMEOUT: Duration = Duration::from_secs(330);
/// Deadline of one delete.
const DELETE_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts to delete a non-owner copy that changed since it was copied (or whose node's cache
/// still holds points) before the metric is reported failed.
const DELETE_ATTEMPTS: u32 = 8;
/// Errors printed one by one; the rest are only counted.
const MAX_PRINTED_ERRORS: usize = 20;

/// Arguments of `carbonado rebalance`.
#[derive(clap::Args, Debug)]
pub struct RebalanceArgs {
    /// carbonado.toml holding the relay's `[relay]` ring and each destination's web address
    /// (`[rebalance] nodes`, else `[web] cluster_ring`).
    #[arg(long)]
    config: PathBuf,
    /// Do the moves; without it the plan is printed and nothing changes.
    #[arg(long)]
    apply: bool,
    /// Admin token of the nodes' `/transfer/*` endpoints (default: `[rebalance] admin_token`,
    /// else `[web] admin_token`).
    #[arg(long)]
    token: Option<String>,
    /// Web address (`host:port`) of a node leaving the cluster; repeatable. Everything on it
    /// moves to its owners in the ring.
    #[arg(long = "leaving", value_name = "HOST:PORT")]
    leaving: Vec<String>,
    /// Journal of finished steps (default: `[rebalance] journal`, else
    /// `carbonado-rebalance.journal` in the current directory).
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Discard an existing journal instead of resuming it.
    #[arg(long)]
    fresh: bool,
    /// Transfers at once per node, as source or destination (default 2).
    #[arg(long)]
    per_node: Option<usize>,
    /// Leave metrics starting with this prefix where they are (e.g. each node's own
    /// `carbon.agents.` self-metrics); repeatable.
    #[arg(long = "exclude", value_name = "PREFIX")]
    exclude: Vec<String>,
    /// Print every planned step.
    #[arg(long, short)]
    verbose: bool,
    /// Print the plan and the summary as JSON objects on stdout.
    #[arg(long)]
    json: bool,
    /// Test hook: end the process after this many journaled steps, as a kill would.
    #[arg(long, hide = true)]
    abort_after_steps: Option<usize>,
}

/// Runs the command.
pub fn run(args: RebalanceArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(run_async(args))
}

/// The outcome counts of an applied run.
#[derive(Debug, Default)]
struct Counters {
    done: AtomicUsize,
    moved: AtomicUsize,
    copied: AtomicUsize,
    pushes: AtomicUsize,
    deleted: AtomicUsize,
    failed: AtomicUsize,
    resumed_steps: AtomicUsize,
    bytes: AtomicU64,
}

/// What runs the steps: the nodes, the client, the per-node bounds and the journal.
struct Exec {
    client: Client,
    nodes: Vec<String>,
    per_node: Vec<Semaphore>,
    journal: Journal,
    counts: Counters,
}

/// Why one step failed.
#[derive(Debug, thiserror::Error)]
enum StepError {
    /// The node refused because its file changed or its cache holds points (409).
    #[error("{0}")]
    Conflict(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

async fn list_node(client: &Client, http: &str) -> anyhow::Result<Vec<String>> {
    let reply = client
        .call(http, "GET", "/transfer/list", b"")
        .await
        .with_context(|| format!("list {http}"))?;
    if reply.status != 200 {
        bail!("list {http}: answered {}: {}", reply.status, reply.text());
    }
    serde_json::from_slice(&reply.body).with_context(|| format!("list {http}: not a JSON list"))
}

/// Where every metric is: node indexes per metric, and how many metrics each node holds.
struct Listing {
    holders: BTreeMap<String, Vec<usize>>,
    held: Vec<usize>,
}

/// Lists every node at once (each is an independent request to another host); any node that
/// cannot be listed stops the run before anything is planned.
async fn list_cluster(nodes: &[String], token: Option<String>) -> anyhow::Result<Listing> {
    let lister = Client::new(token, LIST_TIMEOUT);
    let mut listing = tokio::task::JoinSet::new();
    for (i, n) in nodes.iter().enumerate() {
        let (c, n) = (lister.clone(), n.clone());
        listing.spawn(async move { (i, list_node(&c, &n).await) });
    }
    let mut lists: Vec<(usize, Vec<String>)> = Vec::with_capacity(nodes.len());
    while let Some(r) = listing.join_next().await {
        let (i, l) = r.context("listing task")?;
        lists.push((i, l?));
    }
    lists.sort_by_key(|(i, _)| *i);
    let mut out = Listing {
        holders: BTreeMap::new(),
        held: vec![0; nodes.len()],
    };
    for (i, l) in lists {
        if let Some(h) = out.held.get_mut(i) {
            *h = l.len();
        }
        for m in l {
            out.holders.entry(m).or_default().push(i);
        }
    }
    Ok(out)
}

/// The plan of a run: the work per metric, its counts, and each node's share.
struct Planned {
    summary: PlanSummary,
    work: Vec<MetricPlan>,
    incoming: Vec<usize>,
    outgoing: Vec<usize>,
}

fn plan_cluster(args: &RebalanceArgs, cluster: &Cluster, listing: &Listing) -> Planned {
    let n = cluster.nodes.len();
    let mut p = Planned {
        summary: PlanSummary::default(),
        work: Vec::new(),
        incoming: vec![0; n],
        outgoing: vec![0; n],
    };
    for (metric, hs) in &listing.holders {
        if args.exclude.iter().any(|x| metric.starts_with(x.as_str())) {
            p.summary.excluded += 1;
            continue;
        }
        let d = decide(metric, hs, &cluster.owners(metric));
        p.summary.add(&d);
        if let Decision::Work(w) = d {
            for c in &w.copies {
                if let Some(k) = p.incoming.get_mut(c.to) {
                    *k += 1;
                }
            }
            for &h in &w.deletes {
                if let Some(k) = p.outgoing.get_mut(h) {
                    *k += 1;
                }
            }
            p.work.push(w);
        }
    }
    p
}

async fn run_async(args: RebalanceArgs) -> anyhow::Result<()> {
    let cluster = Cluster::load(&args.config, &args.leaving, args.token.clone())?;
    let nodes: Vec<String> = cluster.nodes.iter().map(|n| n.http.clone()).collect();
    let listing = list_cluster(&nodes, cluster.token.clone()).await?;
    let planned = plan_cluster(&args, &cluster, &listing);
    if args.verbose {
        for w in &planned.work {
            print_plan(w, &nodes);
        }
    }
    print_summary_of_plan(&args, &planned, &cluster, &listing.held);
    if !args.apply {
        if !args.json {
            println!("dry run: nothing was changed; run again with --apply to do it");
        }
        return Ok(());
    }

    let journal_path = args
        .journal
        .clone()
        .or(cluster.journal.clone())
        .unwrap_or_else(|| PathBuf::from("carbonado-rebalance.journal"));
    let journal = Journal::open(
        &journal_path,
        &cluster.fingerprint,
        args.fresh,
        args.abort_after_steps,
    )?;
    if journal.resumed() > 0 {
        eprintln!(
            "rebalance: resuming {} ({} finished steps)",
            journal_path.display(),
            journal.resumed()
        );
    }
    let per_node = args.per_node.or(cluster.per_node).unwrap_or(2).max(1);
    let exec = Arc::new(Exec {
        client: Client::new(cluster.token.clone(), PUSH_TIMEOUT),
        per_node: nodes.iter().map(|_| Semaphore::new(per_node)).collect(),
        nodes,
        journal,
        counts: Counters::default(),
    });
    exec.clone().run_all(planned.work, per_node).await?;
    let skipped = planned.summary.in_place + planned.summary.unplaced + planned.summary.excluded;
    print_summary(&args, &exec.counts, skipped);
    let failed = exec.counts.failed.load(Relaxed);
    if failed > 0 {
        bail!(
            "{failed} metrics failed and were left where they were; the journal {} keeps the \
             finished steps: run again to resume",
            journal_path.display()
        );
    }
    match Arc::try_unwrap(exec) {
        Ok(e) => e.journal.finish(),
        Err(_) => bail!("rebalance: workers still running at the end"),
    }
}

fn print_summary(args: &RebalanceArgs, c: &Counters, skipped: usize) {
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "summary": {
                    "moved": c.moved.load(Relaxed),
                    "copied": c.copied.load(Relaxed),
                    "deleted": c.deleted.load(Relaxed),
                    "skipped": skipped,
                    "failed": c.failed.load(Relaxed),
                    "pushes": c.pushes.load(Relaxed),
                    "bytes": c.bytes.load(Relaxed),
                    "resumed_steps": c.resumed_steps.load(Relaxed),
                }
            })
        );
    } else {
        println!(
            "summary: moved {}, copied {}, deleted {}, skipped {} (in place, placed nowhere or \
             excluded), failed {}; {} pushes ({} bytes), {} steps resumed from the journal",
            c.moved.load(Relaxed),
            c.copied.load(Relaxed),
            c.deleted.load(Relaxed),
            skipped,
            c.failed.load(Relaxed),
            c.pushes.load(Relaxed),
            c.bytes.load(Relaxed),
            c.resumed_steps.load(Relaxed),
        );
    }
}

fn print_plan(p: &MetricPlan, nodes: &[String]) {
    let name = |i: usize| nodes.get(i).map(String::as_str).unwrap_or("?");
    for c in &p.copies {
        println!("copy   {} {} -> {}", p.metric, name(c.from), name(c.to));
    }
    for &d in &p.deletes {
        println!("delete {} from {}", p.metric, name(d));
    }
}

fn print_summary_of_plan(args: &RebalanceArgs, p: &Planned, cluster: &Cluster, held: &[usize]) {
    let (s, incoming, outgoing) = (&p.summary, &p.incoming, &p.outgoing);
    if args.json {
        let nodes: Vec<_> = cluster
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                serde_json::json!({
                    "http": n.http,
                    "leaving": n.leaving,
                    "holds": held.get(i).copied().unwrap_or(0),
                    "receives": incoming.get(i).copied().unwrap_or(0),
                    "gives_up": outgoing.get(i).copied().unwrap_or(0),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "plan": {
                    "metrics": s.metrics + s.excluded,
                    "in_place": s.in_place,
                    "unplaced": s.unplaced,
                    "excluded": s.excluded,
                    "moves": s.moves,
                    "replicas": s.replicas,
                    "copies": s.copies,
                    "deletes": s.deletes,
                    "nodes": nodes,
                }
            })
        );
        return;
    }
    println!(
        "plan: {} metrics: {} in place, {} to move, {} to gain replicas, {} placed nowhere and {} \
         excluded (left alone); {} copies, {} deletes",
        s.metrics + s.excluded,
        s.in_place,
        s.moves,
        s.replicas,
        s.unplaced,
        s.excluded,
        s.copies,
        s.deletes
    );
    for (i, n) in cluster.nodes.iter().enumerate() {
        println!(
            "  {}{}: holds {}, receives {}, gives up {}",
            n.http,
            if n.leaving { " (leaving)" } else { "" },
            held.get(i).copied().unwrap_or(0),
            incoming.get(i).copied().unwrap_or(0),
            outgoing.get(i).copied().unwrap_or(0),
        );
    }
}

impl Exec {
    /// Works on every metric's plan, at most `per_node` metrics per node in flight, with the
    /// progress line running meanwhile.
    async fn run_all(
        self: Arc<Self>,
        work: Vec<MetricPlan>,
        per_node: usize,
    ) -> anyhow::Result<()> {
        let ticker = progress::Progress::start(work.len(), {
            let e = self.clone();
            move || progress::Snapshot {
                done: e.counts.done.load(Relaxed),
                pushes: e.counts.pushes.load(Relaxed),
                deletes: e.counts.deleted.load(Relaxed),
                failed: e.counts.failed.load(Relaxed),
                bytes: e.counts.bytes.load(Relaxed),
            }
        });
        // enough metrics in flight to keep every node's transfers busy, not the whole plan
        let in_flight = Arc::new(Semaphore::new(per_node * self.nodes.len().max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for p in work {
            let permit = in_flight
                .clone()
                .acquire_owned()
                .await
                .context("scheduler closed")?;
            let e = self.clone();
            tasks.spawn(async move {
                let _permit = permit;
                e.run_metric(p).await;
            });
        }
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                self.report("(worker)", &e);
            }
        }
        ticker.stop();
        Ok(())
    }

    fn http(&self, i: usize) -> &str {
        self.nodes.get(i).map(String::as_str).unwrap_or("")
    }

    fn report(&self, metric: &str, e: &dyn std::fmt::Display) {
        let n = self.counts.failed.fetch_add(1, Relaxed);
        if n < MAX_PRINTED_ERRORS {
            eprintln!("rebalance: {metric}: {e}");
        } else if n == MAX_PRINTED_ERRORS {
            eprintln!("rebalance: more failures; only counted from now on");
        }
    }

    async fn run_metric(&self, p: MetricPlan) {
        match self.try_metric(&p).await {
            Ok(()) => {
                if p.is_move() {
                    self.counts.moved.fetch_add(1, Relaxed);
                } else {
                    self.counts.copied.fetch_add(1, Relaxed);
                }
            }
            Err(e) => self.report(&p.metric, &e),
        }
        self.counts.done.fetch_add(1, Relaxed);
    }

    async fn try_metric(&self, p: &MetricPlan) -> Result<(), StepError> {
        // digest confirmed per copy, by source node
        let mut sent: Vec<(usize, String)> = Vec::with_capacity(p.copies.len());
        for c in &p.copies {
            // a copy the journal records counts only while its destination still lists the
            // metric: a destination that lost the file since gets it again before any delete
            let resumable = p.holders.contains(&c.to);
            let d = self.copy(&p.metric, c.from, c.to, resumable).await?;
            sent.push((c.from, d));
        }
        for &h in &p.deletes {
            let mut attempt = 0;
            loop {
                let digests: Vec<&String> = sent
                    .iter()
                    .filter(|(f, _)| *f == h)
                    .map(|(_, d)| d)
                    .collect();
                let agreed = digests.first().filter(|d| digests.iter().all(|x| x == *d));
                let outcome = match agreed {
                    Some(d) => self.delete(&p.metric, h, d).await,
                    None => Err(StepError::Conflict(
                        "the file changed between its copies".into(),
                    )),
                };
                match outcome {
                    Ok(()) => break,
                    Err(StepError::Conflict(why)) if attempt + 1 < DELETE_ATTEMPTS => {
                        attempt += 1;
                        tracing::debug!(metric = p.metric, why, attempt, "copying again");
                        tokio::time::sleep(Duration::from_millis(250) * attempt).await;
                        sent.retain(|(f, _)| *f != h);
                        for c in p.copies.iter().filter(|c| c.from == h) {
                            let d = self.copy(&p.metric, c.from, c.to, false).await?;
                            sent.push((c.from, d));
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Two permits, taken in node order so two transfers between the same nodes never wait on
    /// each other crosswise.
    async fn permits(
        &self,
        a: usize,
        b: usize,
    ) -> Result<Vec<tokio::sync::SemaphorePermit<'_>>, StepError> {
        let mut ids = [a, b];
        ids.sort_unstable();
        let mut out = Vec::with_capacity(2);
        for (k, i) in ids.iter().enumerate() {
            if k == 1 && ids[0] == ids[1] {
                break;
            }
            let s = self
                .per_node
                .get(*i)
                .ok_or_else(|| StepError::Other(format!("no node {i}")))?;
            out.push(
                s.acquire()
                    .await
                    .map_err(|e| StepError::Other(e.to_string()))?,
            );
        }
        Ok(out)
    }

    /// Asks node `from` to push `metric` to node `to`; returns the digest sent.
    async fn copy(
        &self,
        metric: &str,
        from: usize,
        to: usize,
        use_journal: bool,
    ) -> Result<String, StepError> {
        let (fh, th) = (self.http(from), self.http(to));
        if use_journal {
            if let Some(d) = self.journal.copied(metric, fh, th) {
                self.counts.resumed_steps.fetch_add(1, Relaxed);
                return Ok(d);
            }
        }
        let _p = self.permits(from, to).await?;
        let target = format!(
            "/transfer/push?{}",
            query(&[("metric", metric), ("to", th)])
        );
        let reply = self
            .client
            .call(fh, "POST", &target, b"")
            .await
            .map_err(|e| StepError::Other(format!("push {fh} -> {th}: {e}")))?;
        if reply.status != 200 {
            return Err(StepError::Other(format!(
                "push {fh} -> {th}: answered {}: {}",
                reply.status,
                reply.text()
            )));
        }
        let answer: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|e| StepError::Other(format!("push {fh} -> {th}: {e}")))?;
        let digest = answer
            .get("digest")
            .and_then(|d| d.as_str())
            .filter(|d| !d.is_empty())
            .ok_or_else(|| StepError::Other(format!("push {fh} -> {th}: no digest in answer")))?
            .to_string();
        let bytes = answer.get("bytes").and_then(|b| b.as_u64()).unwrap_or(0);
        self.journal
            .record(Record::Copy {
                metric: metric.to_string(),
                from: fh.to_string(),
                to: th.to_string(),
                digest: digest.clone(),
            })
            .map_err(|e| StepError::Other(e.to_string()))?;
        self.counts.pushes.fetch_add(1, Relaxed);
        self.counts.bytes.fetch_add(bytes, Relaxed);
        Ok(digest)
    }

    /// Deletes `metric` from node `node` if its file is still the one with `digest`.
    async fn delete(&self, metric: &str, node: usize, digest: &str) -> Result<(), StepError> {
        let h = self.http(node);
        let _p = self.permits(node, node).await?;
        let target = format!(
            "/transfer/delete?{}",
            query(&[("metric", metric), ("confirmed_digest", digest)])
        );
        let reply = tokio::time::timeout(DELETE_TIMEOUT, self.client.call(h, "POST", &target, b""))
            .await
            .map_err(|_| StepError::Other(format!("delete on {h}: timed out")))?
            .map_err(|e| StepError::Other(format!("delete on {h}: {e}")))?;
        match reply.status {
            200 => {}
            409 => return Err(StepError::Conflict(reply.text())),
            s => {
                return Err(StepError::Other(format!(
                    "delete on {h}: answered {s}: {}",
                    reply.text()
                )))
            }
        }
        self.journal
            .record(Record::Delete {
                metric: metric.to_string(),
                node: h.to_string(),
            })
            .map_err(|e| StepError::Other(e.to_string()))?;
        self.counts.deleted.fetch_add(1, Relaxed);
        Ok(())
    }
}
