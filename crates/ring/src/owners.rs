//! `Owners`: the destination indexes a metric maps to, without heap allocation for the usual few.

use std::ops::Deref;

const INLINE: usize = 4;

/// Destination indexes (into the router's destination list) in placement order, primary first.
/// Holds up to four inline; more spill to the heap.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    inline: [usize; INLINE],
    len: usize,
    spill: Vec<usize>,
}

impl Owners {
    /// An empty set; does not allocate.
    pub const fn new() -> Self {
        Owners {
            inline: [0; INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    /// Forgets the content, keeping any spilled capacity for reuse.
    pub fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }

    /// Appends one destination index.
    pub fn push(&mut self, index: usize) {
        if !self.spill.is_empty() {
            self.spill.push(index);
        } else if self.len < INLINE {
            self.inline[self.len] = index;
            self.len += 1;
        } else {
            self.spill.extend_from_slice(&self.inline[..self.len]);
            self.spill.push(index);
            self.len = 0;
        }
    }

    /// The indexes as a slice.
    pub fn as_slice(&self) -> &[usize] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }
}

impl Deref for Owners {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        self.as_slice()
    }
}

impl<'a> IntoIterator for &'a Owners {
    type Item = &'a usize;
    type IntoIter = std::slice::Iter<'a, usize>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl PartialEq for Owners {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Owners {}

/// A set of small integers (node indexes), inline up to 256 members.
#[derive(Debug)]
pub(crate) struct IndexSet {
    inline: [u64; 4],
    heap: Vec<u64>,
}

impl IndexSet {
    pub(crate) fn with_capacity(n: usize) -> Self {
        let words = n.div_ceil(64);
        let heap = if words > 4 {
            vec![0; words]
        } else {
            Vec::new()
        };
        IndexSet {
            inline: [0; 4],
            heap,
        }
    }

    /// Inserts `i`; returns false when it was already present.
    pub(crate) fn insert(&mut self, i: usize) -> bool {
        let words: &mut [u64] = if self.heap.is_empty() {
            &mut self.inline
        } else {
            &mut self.heap
        };
        let Some(w) = words.get_mut(i / 64) else {
            return false;
        };
        let bit = 1u64 << (i % 64);
        let fresh = *w & bit == 0;
        *w |= bit;
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_and_clears() {
        let mut o = Owners::new();
        for i in 0..10 {
            o.push(i);
            assert_eq!(o.len(), i + 1);
        }
        assert_eq!(o.as_slice(), (0..10).collect::<Vec<_>>().as_slice());
        o.clear();
        assert!(o.is_empty());
        o.push(7);
        assert_eq!(&o[..], &[7]);
    }

    #[test]
    fn index_set() {
        let mut s = IndexSet::with_capacity(300);
        assert!(s.insert(299));
        assert!(!s.insert(299));
        assert!(s.insert(0));
        let mut small = IndexSet::with_capacity(3);
        assert!(small.insert(2));
        assert!(!small.insert(2));
    }
}
