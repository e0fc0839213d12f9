//! The cluster `carbonado rebalance` works on, read from a carbonado.toml: the relay's ring
//! (`[relay]` destinations, relay_method, replication_factor, hash_flavor), the web address of
//! the node behind each destination (`[rebalance] nodes`, else `[web] cluster_ring`), the nodes
//! being removed (`[rebalance] leaving`) and the admin token.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ring::{AnyRouter, Destination, Router};
use serde::Deserialize;
use web::config::RingMember;

use crate::relay_role::{placement, resolve, RelaySection, CRELAY_METHOD};

/// The optional `[rebalance]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RebalanceSection {
    /// Each ring destination with its node's web address; empty: `[web] cluster_ring`.
    pub nodes: Vec<RingMember>,
    /// Web addresses (`host:port`) of nodes leaving the cluster: all their files move away.
    pub leaving: Vec<String>,
    /// Bearer token of the nodes' `/transfer/*` endpoints; unset: `[web] admin_token`.
    pub admin_token: Option<String>,
    /// The journal file; relative to the config file's directory.
    pub journal: Option<PathBuf>,
    /// Transfers at once per node (as source or destination).
    pub per_node: Option<usize>,
}

/// One node holding files: its web address and whether it leaves the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `host:port` of its web role.
    pub http: String,
    /// Listed as leaving: owns nothing, everything on it moves.
    pub leaving: bool,
}

/// The ring, the nodes and how to reach them.
pub struct Cluster {
    router: AnyRouter,
    /// Node index of each ring destination.
    dest_node: Vec<usize>,
    /// Every node: the ring's (in ring order, deduplicated), then the leaving ones.
    pub nodes: Vec<Node>,
    /// The token sent to every node.
    pub token: Option<String>,
    /// The journal path from the config, if any.
    pub journal: Option<PathBuf>,
    /// Per-node concurrency from the config, if any.
    pub per_node: Option<usize>,
    /// Identifies this ring and node list; a journal written for another one is not resumed.
    pub fingerprint: String,
}

/// `host:port` without an `http://` prefix or trailing slash, as nodes are compared.
pub fn normalize_http(a: &str) -> String {
    a.trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

impl Cluster {
    /// Reads the cluster from `path`; `extra_leaving` (from the command line) adds leaving nodes
    /// and `token` overrides the configured one.
    pub fn load(
        path: &Path,
        extra_leaving: &[String],
        token: Option<String>,
    ) -> anyhow::Result<Cluster> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        Cluster::parse(&text, base, extra_leaving, token)
            .with_context(|| format!("{}", path.display()))
    }

    /// Parses a configuration's text; relative paths are taken from `base`.
    pub fn parse(
        text: &str,
        base: &Path,
        extra_leaving: &[String],
        token: Option<String>,
    ) -> anyhow::Result<Cluster> {
        let doc: toml::Table = toml::from_str(text).context("TOML")?;
        let relay: RelaySection = match doc.get("relay") {
            Some(v) => v.clone().try_into().context("[relay]")?,
            None => bail!("no [relay] section: rebalance needs the relay's ring"),
        };
        let web: Option<web::WebConfig> = match doc.get("web") {
            Some(v) => Some(v.clone().try_into().context("[web]")?),
            None => None,
        };
        let section: RebalanceSection = match doc.get("rebalance") {
            Some(v) => v.clone().try_into().context("[rebalance]")?,
            None => RebalanceSection::default(),
        };
        if relay.relay_method == CRELAY_METHOD {
            bail!(
                "relay_method = \"{CRELAY_METHOD}\" (a carbon-c-relay configuration file) is not \
                 supported by rebalance; describe the cluster as [relay] destinations with \
                 relay_method carbon_ch, fnv1a_ch or jump_fnv1a_ch and hash_flavor = \"carbon-c-relay\""
            );
        }
        let dests = relay
            .destinations
            .iter()
            .map(|d| Destination::parse(d))
            .collect::<Result<Vec<_>, _>>()
            .context("[relay] destinations")?;
        if dests.is_empty() {
            bail!("[relay] destinations is empty");
        }
        let rules = resolve(base, &relay.relay_rules);
        let router = placement(&relay, dests.clone(), &rules)?;
        let members = if section.nodes.is_empty() {
            web.as_ref()
                .map(|w| w.cluster_ring.clone())
                .unwrap_or_default()
        } else {
            section.nodes.clone()
        };
        if members.is_empty() {
            bail!(
                "no node addresses: set [rebalance] nodes (or [web] cluster_ring) to \
                 [{{ destination = \"host:port:instance\", http = \"host:port\" }}, ...]"
            );
        }
        let mut mapped = Vec::with_capacity(members.len());
        for m in &members {
            let d = Destination::parse(&m.destination)
                .with_context(|| format!("node destination {:?}", m.destination))?;
            mapped.push((d, normalize_http(&m.http)));
        }
        let leaving: BTreeSet<String> = section
            .leaving
            .iter()
            .chain(extra_leaving)
            .map(|a| normalize_http(a))
            .collect();
        let mut nodes: Vec<Node> = Vec::new();
        let mut dest_node = Vec::with_capacity(dests.len());
        for d in router.targets() {
            let Some((_, http)) = mapped.iter().find(|(md, _)| md == d) else {
                bail!("ring destination {d} has no web address in [rebalance] nodes / [web] cluster_ring");
            };
            if leaving.contains(http) {
                bail!("node {http} is listed as leaving but is still a ring destination ({d}); remove it from [relay] destinations");
            }
            let i = match nodes.iter().position(|n| &n.http == http) {
                Some(i) => i,
                None => {
                    nodes.push(Node {
                        http: http.clone(),
                        leaving: false,
                    });
                    nodes.len() - 1
                }
            };
            dest_node.push(i);
        }
        for l in &leaving {
            nodes.push(Node {
                http: l.clone(),
                leaving: true,
            });
        }
        let fingerprint = format!(
            "{} rf={} flavor={} diverse={} ring=[{}] leaving=[{}]",
            relay.relay_method,
            router.replication_factor(),
            relay.hash_flavor,
            relay.diverse_replicas,
            router
                .targets()
                .iter()
                .zip(&dest_node)
                .filter_map(|(d, &n)| Some(format!("{d}={}", nodes.get(n)?.http)))
                .collect::<Vec<_>>()
                .join(","),
            leaving.iter().cloned().collect::<Vec<_>>().join(","),
        );
        let token = token
            .or(section.admin_token.clone())
            .or(web.and_then(|w| w.admin_token))
            .filter(|t| !t.is_empty());
        Ok(Cluster {
            router,
            dest_node,
            nodes,
            token,
            journal: section.journal.map(|j| resolve(base, &j)),
            per_node: section.per_node,
            fingerprint,
        })
    }

    /// The nodes that should hold `metric` under the ring, primary first, each once.
    pub fn owners(&self, metric: &str) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for d in self.router.destinations(metric).iter() {
            if let Some(&n) = self.dest_node.get(*d) {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
[relay]
destinations = ["127.0.0.1:2104:a", "127.0.0.1:2204:b"]
replication_factor = 2
[rebalance]
nodes = [
  { destination = "127.0.0.1:2104:a", http = "127.0.0.1:8101" },
  { destination = "127.0.0.1:2204:b", http = "http://127.0.0.1:8201/" },
]
leaving = ["127.0.0.1:8301"]
admin_token = "s3cret"
"#;

    #[test]
    fn reads_ring_nodes_and_leaving() {
        let c = Cluster::parse(TWO, Path::new("/etc"), &[], None).unwrap();
        let https: Vec<_> = c
            .nodes
            .iter()
            .map(|n| (n.http.as_str(), n.leaving))
            .collect();
        assert_eq!(
            https,
            vec![
                ("127.0.0.1:8101", false),
                ("127.0.0.1:8201", false),
                ("127.0.0.1:8301", true)
            ]
        );
        assert_eq!(c.token.as_deref(), Some("s3cret"));
        // rf 2 over two distinct hosts... both destinations are on 127.0.0.1, and carbon's
        // DIVERSE_REPLICAS keeps replicas on distinct hosts, so there is one owner
        let o = c.owners("some.metric");
        assert_eq!(o.len(), 1);
        assert!(o[0] < 2);
        let t = Cluster::parse(TWO, Path::new("/etc"), &[], Some("cli".into())).unwrap();
        assert_eq!(t.token.as_deref(), Some("cli"));
    }

    #[test]
    fn refuses_incomplete_or_contradictory_clusters() {
        let missing = TWO.replace(
            "  { destination = \"127.0.0.1:2204:b\", http = \"http://127.0.0.1:8201/\" },\n",
            "",
        );
        assert!(Cluster::parse(&missing, Path::new(""), &[], None).is_err());
        let contradiction = Cluster::parse(TWO, Path::new(""), &["127.0.0.1:8101".into()], None);
        assert!(contradiction.is_err());
        assert!(Cluster::parse("[web]\n", Path::new(""), &[], None).is_err());
        let crelay = TWO.replace(
            "replication_factor = 2",
            "relay_method = \"carbon-c-relay\"",
        );
        let e = Cluster::parse(&crelay, Path::new(""), &[], None)
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("not supported"), "{e:#}");
    }

    #[test]
    fn relay_rules_place_by_pattern() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("relay-rules.conf"),
            "[web]\npattern = ^web\\.\ndestinations = 127.0.0.1:2204:b\n\n[default]\ndefault = true\ndestinations = 127.0.0.1:2104:a\n",
        )
        .unwrap();
        let text = TWO.replace(
            "replication_factor = 2",
            "relay_method = \"rules\"\nrelay_rules = \"relay-rules.conf\"",
        );
        let c = Cluster::parse(&text, dir.path(), &[], None).unwrap();
        assert_eq!(c.owners("web.host1.cpu"), vec![1]);
        assert_eq!(c.owners("db.host1.cpu"), vec![0]);
    }

    #[test]
    fn falls_back_to_the_web_cluster_ring() {
        let text = r#"
[relay]
destinations = ["10.0.0.1:2004:a", "10.0.0.2:2004:a"]
replication_factor = 2
[web]
admin_token = "w"
cluster_ring = [
  { destination = "10.0.0.1:2004:a", http = "10.0.0.1:8080" },
  { destination = "10.0.0.2:2004:a", http = "10.0.0.2:8080" },
]
"#;
        let c = Cluster::parse(text, Path::new(""), &[], None).unwrap();
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.token.as_deref(), Some("w"));
        // two hosts, rf 2: both own everything
        assert_eq!(c.owners("a.b").len(), 2);
    }
}
