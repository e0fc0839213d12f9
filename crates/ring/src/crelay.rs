//! carbon-c-relay 3.x placement: its carbon_ch / fnv1a_ch rings and jump_fnv1a_ch.

use std::cmp::Ordering;

use crate::carbon_ring::REPLICA_COUNT;
use crate::destination::Destination;
use crate::hash;
use crate::owners::Owners;

/// The position function of a carbon-c-relay ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CRelayHash {
    /// md5-based, replica keys in Python tuple text.
    CarbonCh,
    /// signed-char FNV-1a-32 folded to 16 bits.
    Fnv1aCh,
}

impl CRelayHash {
    /// Position of a key on the ring.
    pub fn position(self, key: &[u8]) -> u16 {
        match self {
            CRelayHash::CarbonCh => hash::carbon_ch(key),
            CRelayHash::Fnv1aCh => hash::crelay_fnv1a_ch(key),
        }
    }

    /// The text c-relay hashes for replica `i` of a server.
    pub fn replica_key(self, d: &Destination, i: usize) -> String {
        match (self, &d.instance) {
            // c-relay prints the tuple with plain quotes (no Python escaping).
            (CRelayHash::CarbonCh, Some(inst)) => format!("('{}', '{inst}'):{i}", d.host),
            (CRelayHash::CarbonCh, None) => format!("('{}', None):{i}", d.host),
            (CRelayHash::Fnv1aCh, Some(inst)) => format!("{i}-{inst}"),
            (CRelayHash::Fnv1aCh, None) => format!("{i}-{}:{}", d.host, d.port),
        }
    }
}

/// A carbon-c-relay consistent-hash ring: no collision bumping; equal positions all
/// belong to the first server of the run after c-relay's tie-break sort.
#[derive(Debug, Clone)]
pub struct CRelayRing {
    hash: CRelayHash,
    /// (position, destination index), sorted.
    entries: Vec<(u16, u32)>,
    servers: usize,
}

impl CRelayRing {
    /// Builds the ring over `dests` (indexes are positions in that slice).
    pub fn new(dests: &[Destination], hash: CRelayHash) -> Self {
        let mut entries: Vec<(u16, u32)> = Vec::with_capacity(dests.len() * REPLICA_COUNT);
        for (idx, d) in dests.iter().enumerate() {
            for i in 0..REPLICA_COUNT {
                entries.push((hash.position(hash.replica_key(d, i).as_bytes()), idx as u32));
            }
        }
        let tie = |a: &Destination, b: &Destination| -> Ordering {
            let by_ip = a.host.as_bytes().cmp(b.host.as_bytes());
            match hash {
                CRelayHash::CarbonCh => by_ip.then_with(|| match (&a.instance, &b.instance) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
                }),
                CRelayHash::Fnv1aCh => by_ip.then(a.port.cmp(&b.port)),
            }
        };
        entries.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| tie(&dests[a.1 as usize], &dests[b.1 as usize]))
                .then(a.1.cmp(&b.1))
        });
        for i in 1..entries.len() {
            if entries[i].0 == entries[i - 1].0 {
                entries[i].1 = entries[i - 1].1;
            }
        }
        CRelayRing {
            hash,
            entries,
            servers: dests.len(),
        }
    }

    /// The ring: (position, destination index) sorted by position.
    pub fn entries(&self) -> &[(u16, u32)] {
        &self.entries
    }

    /// Appends up to `replicas` distinct servers for `key` in ring order.
    pub fn get_nodes_into(&self, key: &[u8], replicas: usize, out: &mut Owners) {
        let len = self.entries.len();
        if len == 0 {
            return;
        }
        let want = replicas.min(self.servers);
        let pos = self.hash.position(key);
        let mut i = self.entries.partition_point(|e| e.0 < pos);
        let start = out.len();
        // One full turn is enough to see every server that still owns an entry.
        for _ in 0..len {
            if out.len() - start >= want {
                break;
            }
            if i >= len {
                i = 0;
            }
            let node = self.entries[i].1 as usize;
            if !out[start..].contains(&node) {
                out.push(node);
            }
            i += 1;
        }
    }
}

/// carbon-c-relay's jump_fnv1a_ch: jump consistent hash over an ordered bucket list.
#[derive(Debug, Clone)]
pub struct JumpRing {
    /// Destination index per bucket.
    buckets: Vec<usize>,
}

impl JumpRing {
    /// Orders the buckets as c-relay does: servers with an instance first, sorted by instance
    /// (numerically when both are integers), then the ones without, in configuration order.
    pub fn new(dests: &[Destination]) -> Self {
        let mut with: Vec<usize> = (0..dests.len())
            .filter(|&i| dests[i].instance.is_some())
            .collect();
        let without = (0..dests.len()).filter(|&i| dests[i].instance.is_none());
        with.sort_by(|&a, &b| {
            let (x, y) = (
                dests[a].instance.as_deref().unwrap_or(""),
                dests[b].instance.as_deref().unwrap_or(""),
            );
            instance_cmp(x, y).then(a.cmp(&b))
        });
        with.extend(without);
        JumpRing { buckets: with }
    }

    /// Destination indexes in bucket order.
    pub fn buckets(&self) -> &[usize] {
        &self.buckets
    }

    /// Appends `replicas` distinct servers (at most all of them) for `key`.
    pub fn get_nodes_into(&self, key: &[u8], replicas: usize, out: &mut Owners) {
        let n = self.buckets.len();
        if n == 0 || replicas == 0 {
            return;
        }
        let mut h = hash::crelay_fnv64a(key);
        if replicas == 1 {
            out.push(self.buckets[hash::jump(h, n)]);
            return;
        }
        let mut inline = [0usize; 32];
        let mut heap = Vec::new();
        let list: &mut [usize] = if n <= inline.len() {
            inline[..n].copy_from_slice(&self.buckets);
            &mut inline[..n]
        } else {
            heap.extend_from_slice(&self.buckets);
            &mut heap
        };
        let mut left = n;
        let mut taken = 0;
        while left > 0 {
            let j = hash::jump(h, left);
            out.push(list[j]);
            taken += 1;
            if taken == replicas {
                break;
            }
            h = hash::jump_rehash(h);
            list[j] = list[left - 1];
            left -= 1;
        }
    }
}

fn instance_cmp(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if numeric(a) && numeric(b) {
        let (x, y) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        x.len().cmp(&y.len()).then_with(|| x.cmp(y))
    } else {
        a.as_bytes().cmp(b.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let d = Destination::new("10.0.0.1", 2004, None);
        assert_eq!(
            CRelayHash::CarbonCh.replica_key(&d, 3),
            "('10.0.0.1', None):3"
        );
        assert_eq!(CRelayHash::Fnv1aCh.replica_key(&d, 3), "3-10.0.0.1:2004");
        let d = Destination::new("10.0.0.1", 2004, Some("x"));
        assert_eq!(CRelayHash::Fnv1aCh.replica_key(&d, 0), "0-x");
    }

    #[test]
    fn numeric_instances_sort_numerically() {
        assert_eq!(instance_cmp("9", "10"), Ordering::Less);
        assert_eq!(instance_cmp("a", "10"), Ordering::Greater);
        let ds = [
            Destination::new("h", 1, Some("10")),
            Destination::new("h", 2, None),
            Destination::new("h", 3, Some("9")),
        ];
        assert_eq!(JumpRing::new(&ds).buckets(), &[2, 0, 1]);
    }

    #[test]
    fn jump_replicas_are_distinct() {
        let ds: Vec<_> = (0..40)
            .map(|i| Destination::new("h", 1000 + i, Some(&i.to_string())))
            .collect();
        let r = JumpRing::new(&ds);
        let mut o = Owners::new();
        r.get_nodes_into(b"some.metric", 40, &mut o);
        let mut v = o.to_vec();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), 40);
    }
}
