//! Start-up of the web role: load the name index, wire the sources (local whisper + carbonlink or
//! the in-process cache), bind the listener and serve until shutdown.

use crate::carbonlink::CarbonlinkPool;
use crate::cluster::ClusterSource;
use crate::config::{parse_duration, WebConfig};
use crate::local::{CacheLookup, InProcessCache, LocalSource};
use crate::remote::RemoteSource;
use crate::server::App;
use crate::source::{Source, Sources};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why the web role could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The whisper tree could not be indexed.
    #[error("web: {0}")]
    Index(#[from] store::IndexError),
    /// carbonlink_hosts cannot form a ring.
    #[error("web: {0}")]
    Carbonlink(#[from] crate::carbonlink::CarbonlinkError),
    /// The listen address is unusable.
    #[error("web: cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The cache role of this process, as the web role sees it.
#[derive(Clone)]
pub struct LocalCacheHook {
    /// The cache's carbonlink address (`host:port`), to recognise it among `carbonlink_hosts`.
    pub carbonlink_addr: String,
    /// Cached points of one metric.
    pub query: crate::local::CacheQueryFn,
}

/// A ready web role.
pub struct WebRole {
    app: Arc<App>,
    index: Arc<store::NameIndex>,
    listen: String,
    reloader: Arc<Reloader>,
    /// The tree the index is rebuilt from, and how often (zero: never).
    reload: Option<(PathBuf, Duration)>,
}

/// Rebuilds the sources of a running web role from a new `[web]` section (SIGHUP): peers
/// (`cluster_servers`), caches (`carbonlink_hosts`) and the ring (`cluster_*`). Requests in
/// flight finish with the sources they started with; peers that stay keep their breaker and
/// latency history. Other settings change only at restart.
#[derive(Clone)]
pub struct Reloader {
    data_dir: Option<PathBuf>,
    index: Arc<store::NameIndex>,
    local_cache: Option<LocalCacheHook>,
    peers: Arc<std::sync::Mutex<HashMap<String, Arc<RemoteSource>>>>,
    sources: Sources,
}

impl Reloader {
    /// Validates `cfg` and swaps the role's sources for the ones it describes.
    pub fn reload(&self, cfg: &WebConfig) -> Result<(), StartError> {
        cfg.validate()?;
        let list = self.sources_for(cfg)?;
        self.sources.replace(list);
        Ok(())
    }

    /// The sources `cfg` describes: local data (with its cache lookup), the cluster ring when
    /// `cluster_ring` is set, and the `cluster_servers` peers not on the ring.
    fn sources_for(&self, cfg: &WebConfig) -> Result<Vec<Arc<dyn Source>>, StartError> {
        let timeout = parse_duration(&cfg.carbonlink_timeout).unwrap_or(Duration::from_secs(1));
        let local_cache = self.local_cache.as_ref();
        let in_process = local_cache.map(|h| Arc::new(InProcessCache::new(h.query.clone())));
        let cache: Option<Arc<dyn CacheLookup>> = if !cfg.carbonlink_hosts.is_empty() {
            let local = local_cache
                .zip(in_process.clone())
                .map(|(h, c)| (h.carbonlink_addr.clone(), c));
            Some(Arc::new(CarbonlinkPool::new(
                &cfg.carbonlink_hosts,
                &cfg.carbonlink_hashing_type,
                cfg.replication_factor,
                timeout,
                local,
            )?))
        } else {
            in_process.map(|c| c as Arc<dyn CacheLookup>)
        };
        let local: Option<Arc<dyn Source>> = self.data_dir.as_ref().map(|d| {
            Arc::new(LocalSource::new(
                d.clone(),
                self.index.clone(),
                cache,
                cfg.read_concurrency,
                cfg.max_points_per_request,
            )) as Arc<dyn Source>
        });
        let remote_timeout = parse_duration(&cfg.remote_timeout).unwrap_or(Duration::from_secs(2));
        let mut old = self.peers.lock().map(|p| p.clone()).unwrap_or_default();
        // a changed deadline needs new peer objects
        old.retain(|_, p| p.timeout() == remote_timeout);
        let mut peers: HashMap<String, Arc<RemoteSource>> = HashMap::new();
        let mut list: Vec<Arc<dyn Source>> = Vec::new();
        let mut on_ring: Vec<String> = Vec::new();
        if cfg.cluster_ring.is_empty() {
            list.extend(local);
        } else {
            let ring = ClusterSource::new(cfg, local, &old, remote_timeout)?;
            on_ring = ring.members();
            peers.extend(ring.peers());
            tracing::info!(members = ?on_ring, "web: cluster ring");
            list.push(Arc::new(ring));
        }
        for peer in &cfg.cluster_servers {
            let key = peer
                .trim()
                .trim_start_matches("http://")
                .trim_end_matches('/');
            if on_ring.iter().any(|m| m == key) {
                continue;
            }
            let p = old
                .get(key)
                .cloned()
                .unwrap_or_else(|| Arc::new(RemoteSource::new(peer, remote_timeout)));
            peers.insert(key.to_string(), p.clone());
            list.push(p);
        }
        if let Ok(mut p) = self.peers.lock() {
            *p = peers;
        }
        Ok(list)
    }
}

impl WebRole {
    /// Validates `cfg`, indexes `data_dir` (empty index when `None` or missing) and wires the sources.
    pub fn build(
        cfg: WebConfig,
        data_dir: Option<PathBuf>,
        local_cache: Option<LocalCacheHook>,
    ) -> Result<WebRole, StartError> {
        cfg.validate()?;
        let data_dir = cfg.local_data_dir.clone().or(data_dir);
        let index = match &data_dir {
            Some(d) if d.is_dir() => {
                let (idx, stats) = store::NameIndex::load(d)?;
                tracing::info!(leaves = stats.leaves, dir = %d.display(), "web: whisper tree indexed");
                Arc::new(idx)
            }
            _ => Arc::new(store::NameIndex::new()),
        };
        let tags = match &data_dir {
            Some(d) if d.is_dir() => match store::TagIndex::open(d) {
                Ok((t, stats)) => {
                    tracing::info!(
                        series = stats.series,
                        missing = stats.missing,
                        "web: tag index loaded"
                    );
                    Arc::new(t)
                }
                Err(e) => {
                    tracing::warn!("web: tag index not persisted: {e}");
                    Arc::new(store::TagIndex::new())
                }
            },
            _ => Arc::new(store::TagIndex::new()),
        };
        let reloader = Arc::new(Reloader {
            data_dir: data_dir.clone(),
            index: index.clone(),
            local_cache: local_cache.clone(),
            peers: Default::default(),
            sources: Sources::new(Vec::new()),
        });
        let list = reloader.sources_for(&cfg)?;
        let sources = reloader.sources.clone();
        sources.replace(list);
        let transfer_dir = data_dir.clone();
        let listen = cfg.listen.clone();
        let every = parse_duration(&cfg.index_reload_interval).unwrap_or(Duration::ZERO);
        let reload = transfer_dir
            .clone()
            .filter(|_| !every.is_zero())
            .map(|d| (d, every));
        let mut app = App::new(cfg, sources);
        app.tags = tags;
        app.transfer = crate::transfer::Transfer::new(
            transfer_dir,
            index.clone(),
            app.tags.clone(),
            local_cache.map(|h| h.query),
        );
        Ok(WebRole {
            app: Arc::new(app),
            index,
            listen,
            reloader,
            reload,
        })
    }

    /// What SIGHUP calls to apply a re-read `[web]` section to the running role.
    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    /// The tag index; the cache role inserts each tagged series it creates.
    pub fn tags(&self) -> Arc<store::TagIndex> {
        self.app.tags.clone()
    }

    /// The name index; the cache role inserts each metric it creates so find sees it at once.
    pub fn index(&self) -> Arc<store::NameIndex> {
        self.index.clone()
    }

    /// Binds the listen address.
    pub async fn bind(&self) -> Result<tokio::net::TcpListener, StartError> {
        tokio::net::TcpListener::bind(&self.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: self.listen.clone(),
                source,
            })
    }

    /// Serves on `listener` until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Ok(a) = listener.local_addr() {
            tracing::info!("web role listening on {a}");
        }
        let reloader = self.reload.clone().map(|(dir, every)| {
            let index = self.index.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let (i, d) = (index.clone(), dir.clone());
                    // The walk is blocking file-system work.
                    match tokio::task::spawn_blocking(move || i.reload(&d)).await {
                        Ok(Ok(stats)) => {
                            tracing::debug!(leaves = stats.leaves, "web: name index reloaded")
                        }
                        Ok(Err(e)) => tracing::warn!("web: name index reload: {e}"),
                        Err(_) => return,
                    }
                }
            })
        });
        let r = crate::server::serve(listener, self.app, shutdown).await;
        if let Some(t) = reloader {
            t.abort();
        }
        r
    }
}
