//! `carbonado serve`: wires the cache role (receivers, cache, WAL, persister, carbonlink, self-metrics).
//!
//! Start order matters for durability: the persister runs before the WAL is replayed (so a replay larger
//! than the cache can drain), and receivers listen only after the replay. Shutdown runs it backwards:
//! receivers stop reading, the batches in hand reach the cache and the WAL, the WAL is synced, the
//! persister writes for up to `shutdown_flush_timeout`, and whatever is left stays in the WAL for the
//! next start.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use cache::{Backend, Cache, CacheLimits, Persister, PersisterConfig, Wal, WhisperBackend};
use ingest::{IngestConfig, IngestStats, Point};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;

use crate::config::{CacheSettings, Config};
use crate::selfmetrics::{agent_prefix, Reporter};
use crate::storage;

/// Runs every enabled role until SIGTERM or SIGINT.
pub fn run(cfg: &Config) -> anyhow::Result<()> {
    let s = cfg.cache_settings()?;
    let web = cfg.web_settings()?;
    let relay = crate::relay_role::settings(cfg)?;
    if !s.raw.enabled && web.is_none() && relay.is_none() {
        anyhow::bail!(
            "no role enabled in this configuration ([cache], [relay] and [web] disabled)"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("carbonado")
        .build()?;
    let path = cfg.path.clone();
    if let Some(r) = relay {
        // The relay runs beside the other roles and stops after them (relay_role.rs).
        return rt.block_on(crate::relay_role::serve_with(r, async move {
            match (s.raw.enabled, web.is_some()) {
                (true, _) => serve_cache(s, web, path).await,
                (false, true) => serve_web_only(web, path).await,
                (false, false) => crate::relay_role::wait_for_signal().await,
            }
        }));
    }
    if !s.raw.enabled {
        return rt.block_on(serve_web_only(web, path));
    }
    rt.block_on(serve_cache(s, web, path))
}

/// Whisper files kept open between writes: half the descriptor limit (raised to its hard value), so
/// sockets and the WAL always have room.
/// Whisper files the persister keeps open between writes: the open-file limit less a reserve for
/// connections, the web role's reads and the WAL (a quarter of the limit, at least 2048), and at
/// least half the limit.
fn handle_pool_size() -> usize {
    let limit = cache::raise_fd_limit();
    let reserve = (limit / 4).max(2048);
    (limit.saturating_sub(reserve))
        .max(limit / 2)
        .clamp(64, 100_000) as usize
}

async fn bind_tcp(key: &str, addr: &str) -> anyhow::Result<Option<TcpListener>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let a: SocketAddr = addr.parse().with_context(|| format!("{key} = {addr:?}"))?;
    let l = TcpListener::bind(a)
        .await
        .with_context(|| format!("cannot listen on {addr} ({key})"))?;
    tracing::info!("{key} listening on {}", l.local_addr()?);
    Ok(Some(l))
}

async fn serve_cache(
    s: CacheSettings,
    web: Option<web::WebConfig>,
    path: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let raw = &s.raw;
    std::fs::create_dir_all(&s.data_dir)
        .with_context(|| format!("cannot create {}", s.data_dir.display()))?;
    let wal_dir = s
        .data_dir
        .join(".carbonado")
        .join(crate::config::wal_dir_name(&s.raw.instance));
    let wal = Arc::new(Wal::open(&wal_dir, s.wal_segment_size)?);
    let limits = CacheLimits {
        max_points: s.max_cache_size,
        max_bytes: s.max_cache_memory,
        shards: raw.cache_shards,
        strategy: s.strategy,
        min_lag: s.min_timestamp_lag,
    };
    let cache = Arc::new(Cache::new(limits, Some(wal.clone())));
    let rules = storage::load_rules(&s.storage_schemas, &s.storage_aggregation)?;
    let web_role = build_web(web, &s, &cache)?;
    let pool = handle_pool_size();
    let mut whisper_backend =
        WhisperBackend::new(&s.data_dir, rules, Arc::new(storage::relative_path), pool);
    if raw.whisper_mmap {
        whisper_backend =
            whisper_backend.with_mapped_handles(WhisperBackend::default_mapped_handles(1 << 20));
    }
    if let Some(w) = &web_role {
        // find sees a metric the moment its file exists
        let index = w.index();
        let tags = w.tags();
        whisper_backend = whisper_backend.on_create(Arc::new(move |m: &str| {
            let _ = index.insert(m);
            if let Err(e) = tags.insert(m) {
                tracing::warn!("tag index: {e}");
            }
        }));
    }
    let whisper_backend = Arc::new(whisper_backend);
    let backend: Arc<dyn Backend> = whisper_backend.clone();
    let pcfg = PersisterConfig {
        workers: s.writer_threads,
        max_updates_per_second: raw.max_updates_per_second.get(),
        max_creates_per_minute: raw.max_creates_per_minute.get(),
        ..PersisterConfig::default()
    };
    let persister = Persister::start(cache.clone(), backend.clone(), &pcfg)?;

    // Replay the WAL (which is also the shutdown dump) before any receiver listens.
    let t0 = Instant::now();
    let (c2, w2, h) = (
        cache.clone(),
        wal.clone(),
        tokio::runtime::Handle::current(),
    );
    let replayed = tokio::task::spawn_blocking(move || {
        w2.replay(|seg, batch| {
            let _ = h.block_on(c2.put_replayed(batch, seg));
        })
    })
    .await??;
    if replayed > 0 {
        tracing::info!(
            points = replayed,
            secs = t0.elapsed().as_secs_f64(),
            "WAL replayed into the cache"
        );
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let icfg = Arc::new(IngestConfig {
        max_line_length: raw.max_line_length,
        max_pickle_frame: raw.pickle_receiver_max_length,
        max_connections: raw.max_receiver_connections,
        ..IngestConfig::default()
    });
    let istats = Arc::new(IngestStats::default());
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(l) = bind_tcp("line_receiver", &raw.line_receiver).await? {
        tasks.spawn(ingest::serve_line_with(
            l,
            cache.clone(),
            icfg.clone(),
            istats.clone(),
            stop_rx.clone(),
            s.line_transport.clone(),
        ));
    }
    if let Some(l) = bind_tcp("pickle_receiver", &raw.pickle_receiver).await? {
        tasks.spawn(ingest::serve_pickle(
            l,
            cache.clone(),
            icfg.clone(),
            istats.clone(),
            stop_rx.clone(),
        ));
    }
    if !raw.udp_receiver.is_empty() {
        let sock = UdpSocket::bind(&raw.udp_receiver)
            .await
            .with_context(|| format!("cannot listen on udp {}", raw.udp_receiver))?;
        tasks.spawn(ingest::serve_udp(
            sock,
            cache.clone(),
            icfg.clone(),
            istats.clone(),
            stop_rx.clone(),
        ));
    }
    if let Some(l) = bind_tcp("cache_query", &raw.cache_query).await? {
        tasks.spawn(cache::carbonlink::serve_carbonlink(
            l,
            cache.clone(),
            backend.clone(),
            stop_rx.clone(),
        ));
    }
    let prefix = agent_prefix(&raw.carbon_metric_prefix, &raw.instance);
    if let Some(l) = bind_tcp("http_listen", &raw.http_listen).await? {
        tasks.spawn(crate::http::serve(
            l,
            prefix.clone(),
            istats.clone(),
            cache.clone(),
            stop_rx.clone(),
        ));
    }
    // The WAL sync and self-metrics tasks run until the very end of shutdown, not with the receivers.
    let (bg_stop, bg_rx) = watch::channel(false);
    let syncer = tokio::spawn(wal_syncer(wal.clone(), s.wal_sync_interval, bg_rx.clone()));
    if !s.metric_interval.is_zero() {
        let r = Reporter::new(prefix, istats.clone(), cache.clone());
        tokio::spawn(self_metrics(r, cache.clone(), s.metric_interval, bg_rx));
    }
    let web_reload = web_role.as_ref().map(|w| w.reloader());
    if let Some(w) = web_role {
        let listener = w.bind().await?;
        tasks.spawn(run_web(w, listener, stop_rx.clone()));
    }
    tracing::info!(data_dir = %s.data_dir.display(), "cache role ready");

    let (schemas, aggregation) = (s.storage_schemas.clone(), s.storage_aggregation.clone());
    let reloader = tokio::spawn(reload_on_hangup(
        whisper_backend,
        schemas,
        aggregation,
        path.zip(web_reload),
    ));
    wait_for_signal().await?;
    reloader.abort();
    tracing::info!("shutting down: receivers stop reading");
    let _ = stop_tx.send(true);
    // Connections finish the batch in hand (the persister keeps making room meanwhile).
    let deadline = Instant::now() + s.shutdown_flush_timeout.max(Duration::from_secs(1));
    while istats.active_connections.load(Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tasks.abort_all();
    wal.sync()?;
    let left = s.shutdown_flush_timeout;
    let flushed = tokio::task::spawn_blocking(move || {
        let ok = persister.drain(left);
        persister.stop();
        ok
    })
    .await?;
    let _ = bg_stop.send(true);
    let _ = syncer.await;
    wal.close()?;
    if flushed {
        tracing::info!("cache flushed to whisper");
    } else {
        tracing::info!(
            points = cache.size(),
            "flush timeout: remaining points stay in the WAL for the next start"
        );
    }
    Ok(())
}

/// SIGHUP: re-read storage-schemas.conf and storage-aggregation.conf for files created from now on,
/// and the web role's peers, caches and ring. A file that does not load is logged and the rules
/// in force are kept.
async fn reload_on_hangup(
    backend: Arc<WhisperBackend>,
    schemas: std::path::PathBuf,
    aggregation: std::path::PathBuf,
    web: Option<(std::path::PathBuf, Arc<web::role::Reloader>)>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        if let Some((path, r)) = &web {
            reload_web(path, r);
        }
        match storage::load_rules(&schemas, &aggregation) {
            Ok(rules) => {
                backend.set_rules(rules);
                tracing::info!("SIGHUP: storage rules reloaded");
            }
            Err(e) => tracing::error!(
                "SIGHUP: storage rules not reloaded, keeping the current ones: {e:#}"
            ),
        }
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}

/// A segment older than this is rotated even if small, so persisted points stop being kept (and replayed).
const WAL_SEGMENT_MAX_AGE: Duration = Duration::from_secs(60);

async fn wal_syncer(wal: Arc<Wal>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = stop.changed() => return,
        }
        let w = wal.clone();
        match tokio::task::spawn_blocking(move || {
            w.sync()
                .and_then(|_| w.rotate_if_older(WAL_SEGMENT_MAX_AGE))
        })
        .await
        {
            Ok(Err(e)) => tracing::error!(error = %e, "WAL sync failed"),
            Err(e) => tracing::error!(error = %e, "WAL sync task failed"),
            Ok(Ok(())) => {}
        }
    }
}

async fn self_metrics(
    mut r: Reporter,
    cache: Arc<Cache>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = stop.changed() => return,
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let batch: Vec<Point> = r
            .interval()
            .into_iter()
            .map(|(m, v)| Point::new(m, now, v))
            .collect();
        // Stored directly into our own cache, like carbon-cache does.
        if cache.put(batch).await.is_err() {
            return;
        }
    }
}

// ---- The web role (graphite-web's HTTP API) ----

/// Builds the web role next to the cache role: it reads the same tree and asks the cache directly.
fn build_web(
    web: Option<web::WebConfig>,
    s: &CacheSettings,
    cache: &Arc<Cache>,
) -> anyhow::Result<Option<web::WebRole>> {
    let Some(w) = web else { return Ok(None) };
    let c = cache.clone();
    let hook = web::LocalCacheHook {
        carbonlink_addr: s.raw.cache_query.clone(),
        query: Arc::new(move |m: &str| c.query(m)),
    };
    Ok(Some(web::WebRole::build(
        w,
        Some(s.data_dir.clone()),
        Some(hook),
    )?))
}

/// Serves the web role until `stop` turns true.
async fn run_web(w: web::WebRole, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = w.serve(listener, shutdown).await {
        tracing::error!("web role: {e}");
    }
}

/// SIGHUP for the web role: re-reads the file's `[web]` section and swaps `cluster_servers`,
/// `carbonlink_hosts` and the cluster ring; a section that does not validate is logged and the
/// running one kept.
fn reload_web(path: &std::path::Path, r: &web::role::Reloader) {
    let next = Config::load(path).and_then(|c| c.web_settings());
    match next {
        Ok(Some(w)) => match r.reload(&w) {
            Ok(()) => tracing::info!(
                cluster_servers = w.cluster_servers.len(),
                cluster_ring = w.cluster_ring.len(),
                carbonlink_hosts = w.carbonlink_hosts.len(),
                "SIGHUP: web peers, caches and ring reloaded (other [web] settings need a restart)"
            ),
            Err(e) => tracing::error!("SIGHUP: [web] not reloaded: {e}"),
        },
        Ok(None) => tracing::warn!("SIGHUP: [web] disabled in the file; it stops only at restart"),
        Err(e) => tracing::error!("SIGHUP: [web] not reloaded: {e:#}"),
    }
}

/// Reloads the web role on each SIGHUP until the task is aborted.
async fn reload_web_on_hangup(path: std::path::PathBuf, r: Arc<web::role::Reloader>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        reload_web(&path, &r);
    }
}

/// Runs only the web role (a node without a cache: reads the tree, asks caches over carbonlink).
async fn serve_web_only(
    web: Option<web::WebConfig>,
    path: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let Some(w) = web else { return Ok(()) };
    let role = web::WebRole::build(w, None, None)?;
    let reloader = path.map(|p| tokio::spawn(reload_web_on_hangup(p, role.reloader())));
    let listener = role.bind().await?;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = tokio::spawn(role.serve(listener, async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    wait_for_signal().await?;
    if let Some(r) = reloader {
        r.abort();
    }
    tracing::info!("shutting down the web role");
    let _ = stop_tx.send(true);
    server.await??;
    Ok(())
}
