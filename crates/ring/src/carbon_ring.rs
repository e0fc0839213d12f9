//! Python carbon's `ConsistentHashRing` (carbon.hashing), also used by graphite-web for CARBONLINK_HOSTS.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::hash;
use crate::owners::IndexSet;

/// Replicas per node, hard-wired in carbon.
pub const REPLICA_COUNT: usize = 100;

/// The position function of a Python carbon ring (`ROUTER_HASH_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CarbonHash {
    /// md5-based, the default.
    CarbonCh,
    /// FNV-1a-32 folded to 16 bits; replica keys use only the instance.
    Fnv1aCh,
}

impl CarbonHash {
    /// Position of a key on the ring.
    pub fn position(self, key: &str) -> u32 {
        u32::from(match self {
            CarbonHash::CarbonCh => hash::carbon_ch(key.as_bytes()),
            CarbonHash::Fnv1aCh => hash::fnv1a_ch(key.as_bytes()),
        })
    }
}

/// A ring node as carbon identifies it: (server, instance). The port is not part of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    /// Server text as configured.
    pub server: String,
    /// Instance, None when the destination has none.
    pub instance: Option<String>,
}

/// Python carbon's consistent hash ring: 100 replicas per node, collisions bumped by +1.
#[derive(Debug, Clone)]
pub struct CarbonRing {
    hash: CarbonHash,
    /// (position, node index), sorted by position; positions are unique.
    entries: Vec<(u32, u32)>,
    nodes: Vec<Node>,
}

impl CarbonRing {
    /// Builds the ring with carbon's 100 replicas per node, nodes added in the given order
    /// (the order matters when positions collide). Duplicate nodes are an error.
    pub fn new(nodes: Vec<Node>, hash: CarbonHash) -> Result<Self> {
        Self::with_replicas(nodes, hash, REPLICA_COUNT)
    }

    /// Same as [`CarbonRing::new`] with another replica count.
    pub fn with_replicas(nodes: Vec<Node>, hash: CarbonHash, replicas: usize) -> Result<Self> {
        let mut seen = HashSet::new();
        for n in &nodes {
            if !seen.insert(n) {
                return Err(Error::DuplicateDestination(format!(
                    "({}, {})",
                    n.server,
                    n.instance.as_deref().unwrap_or("None")
                )));
            }
        }
        let mut used: HashSet<u32> = HashSet::with_capacity(nodes.len() * replicas);
        let mut entries = Vec::with_capacity(nodes.len() * replicas);
        for (idx, node) in nodes.iter().enumerate() {
            for i in 0..replicas {
                let key = replica_key(hash, node, i);
                let mut pos = hash.position(&key);
                // carbon bumps a taken position by one, without wrapping past 65535.
                while !used.insert(pos) {
                    pos += 1;
                }
                entries.push((pos, idx as u32));
            }
        }
        entries.sort_unstable();
        Ok(CarbonRing {
            hash,
            entries,
            nodes,
        })
    }

    /// The nodes, in the order given.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The ring: (position, node index) sorted by position.
    pub fn entries(&self) -> &[(u32, u32)] {
        &self.entries
    }

    /// The hash type.
    pub fn hash(&self) -> CarbonHash {
        self.hash
    }

    fn start_index(&self, key: &str) -> usize {
        let pos = self.hash.position(key);
        let i = self.entries.partition_point(|e| e.0 < pos);
        if i == self.entries.len() {
            0
        } else {
            i
        }
    }

    /// `get_node(key)`: the primary node index, None for an empty ring.
    pub fn get_node(&self, key: &str) -> Option<usize> {
        self.entries
            .get(self.start_index(key))
            .map(|e| e.1 as usize)
    }

    /// `get_nodes(key)`: node indexes in ring order, each once, with carbon's quirks
    /// (a one-node ring yields its node twice; the entry just before the start is never visited).
    pub fn get_nodes(&self, key: &str) -> NodeWalk<'_> {
        let len = self.entries.len();
        let index = if len == 0 { 0 } else { self.start_index(key) };
        NodeWalk {
            ring: self,
            index,
            last_index: if len == 0 { 0 } else { (index + len - 1) % len },
            seen: IndexSet::with_capacity(self.nodes.len()),
            yielded: 0,
            upfront: self.nodes.len() == 1 && len > 0,
        }
    }
}

/// Iterator returned by [`CarbonRing::get_nodes`].
#[derive(Debug)]
pub struct NodeWalk<'a> {
    ring: &'a CarbonRing,
    index: usize,
    last_index: usize,
    seen: IndexSet,
    yielded: usize,
    upfront: bool,
}

impl Iterator for NodeWalk<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.upfront {
            self.upfront = false;
            return Some(0);
        }
        let entries = &self.ring.entries;
        while self.yielded < self.ring.nodes.len() && self.index != self.last_index {
            let node = entries.get(self.index)?.1 as usize;
            self.index = (self.index + 1) % entries.len();
            if self.seen.insert(node) {
                self.yielded += 1;
                return Some(node);
            }
        }
        None
    }
}

/// The text carbon hashes for replica `i` of `node`.
pub fn replica_key(hash: CarbonHash, node: &Node, i: usize) -> String {
    match hash {
        // "%d-%s" % (i, instance): the server is not part of it.
        CarbonHash::Fnv1aCh => format!("{i}-{}", node.instance.as_deref().unwrap_or("None")),
        // "%s:%d" % ((server, instance), i): the repr of a Python tuple.
        CarbonHash::CarbonCh => {
            let inst = match &node.instance {
                Some(s) => py_repr(s),
                None => "None".to_owned(),
            };
            format!("({}, {}):{i}", py_repr(&node.server), inst)
        }
    }
}

/// Python 3 `repr()` of a str: single quotes unless the text holds `'` and no `"`,
/// backslash escapes for the quote, `\`, control and non-printable characters.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) || c == '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(s: &str, i: Option<&str>) -> Node {
        Node {
            server: s.into(),
            instance: i.map(Into::into),
        }
    }

    #[test]
    fn replica_keys() {
        assert_eq!(
            replica_key(CarbonHash::CarbonCh, &node("127.0.0.1", Some("a")), 0),
            "('127.0.0.1', 'a'):0"
        );
        assert_eq!(
            replica_key(CarbonHash::CarbonCh, &node("127.0.0.1", None), 7),
            "('127.0.0.1', None):7"
        );
        assert_eq!(
            replica_key(CarbonHash::Fnv1aCh, &node("h", Some("b")), 99),
            "99-b"
        );
        assert_eq!(
            replica_key(CarbonHash::Fnv1aCh, &node("h", None), 1),
            "1-None"
        );
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a\\b'\"\x01"), "'a\\\\b\\'\"\\x01'");
    }

    #[test]
    fn single_node_is_yielded_twice() {
        let r = CarbonRing::new(vec![node("h", Some("a"))], CarbonHash::CarbonCh).unwrap();
        assert_eq!(r.get_nodes("x").collect::<Vec<_>>(), vec![0, 0]);
        assert_eq!(r.get_node("x"), Some(0));
    }

    #[test]
    fn fnv_without_instances_collides_and_bumps() {
        let r =
            CarbonRing::new(vec![node("a", None), node("b", None)], CarbonHash::Fnv1aCh).unwrap();
        let mut pos: Vec<u32> = r.entries().iter().map(|e| e.0).collect();
        pos.dedup();
        assert_eq!(pos.len(), 200, "positions must be unique after bumping");
    }

    #[test]
    fn empty_and_duplicate() {
        let r = CarbonRing::new(vec![], CarbonHash::CarbonCh).unwrap();
        assert_eq!(r.get_node("x"), None);
        assert_eq!(r.get_nodes("x").count(), 0);
        assert!(
            CarbonRing::new(vec![node("a", None), node("a", None)], CarbonHash::CarbonCh).is_err()
        );
    }
}
