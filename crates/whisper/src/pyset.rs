//! The iteration order of a CPython 3.11 `set` of small non-negative ints.
//!
//! whisper's `update_many` propagates into a lower archive by iterating `set(lowerIntervals)`.
//! That order is observable in the file: on an empty lower archive the first interval
//! propagated becomes the archive's base slot. To write byte-identical files we visit the
//! intervals in exactly the order CPython would, which is the slot order of its open-addressing
//! table (hash(int) == int for 0 <= int < 2**61 - 1).

const LINEAR_PROBES: usize = 9;
const PERTURB_SHIFT: u32 = 5;
const MIN_SIZE: usize = 8;

/// Reorders the distinct values of `values` (given in insertion order) into set iteration order.
///
/// `table` is scratch space reused between calls to keep the hot path allocation-free.
pub(crate) fn set_order(values: &[i64], table: &mut Vec<Option<i64>>, out: &mut Vec<i64>) {
    out.clear();
    // A set of one element iterates in the only possible order; most propagations are this.
    if let [only] = values {
        out.push(*only);
        return;
    }
    table.clear();
    table.resize(MIN_SIZE, None);
    let mut used = 0usize;
    for &v in values {
        if insert(table, v) {
            used += 1;
            let mask = table.len() - 1;
            if used * 5 >= mask * 3 {
                resize(table, if used > 50000 { used * 2 } else { used * 4 });
            }
        }
    }
    out.extend(table.iter().flatten().copied());
}

fn hash(v: i64) -> u64 {
    // Only non-negative intervals below 2**32 reach here, for which CPython's hash is the value.
    v as u64
}

/// `set_add_entry`: returns true when the value was new.
fn insert(table: &mut [Option<i64>], v: i64) -> bool {
    let mask = table.len() - 1;
    let h = hash(v);
    let mut i = (h as usize) & mask;
    let mut perturb = h;
    loop {
        let probes = if i + LINEAR_PROBES <= mask {
            LINEAR_PROBES
        } else {
            0
        };
        for j in 0..=probes {
            match table[i + j] {
                None => {
                    table[i + j] = Some(v);
                    return true;
                }
                Some(existing) if existing == v => return false,
                Some(_) => {}
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (i
            .wrapping_mul(5)
            .wrapping_add(1)
            .wrapping_add(perturb as usize))
            & mask;
    }
}

/// `set_table_resize`: a table of the smallest power of two above `min_used`, refilled in old slot order.
fn resize(table: &mut Vec<Option<i64>>, min_used: usize) {
    let mut size = MIN_SIZE;
    while size <= min_used {
        size <<= 1;
    }
    let old = std::mem::replace(table, vec![None; size]);
    for v in old.into_iter().flatten() {
        insert(table, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(v: &[i64]) -> Vec<i64> {
        let (mut t, mut o) = (Vec::new(), Vec::new());
        set_order(v, &mut t, &mut o);
        o
    }

    #[test]
    fn matches_cpython_examples() {
        // Values checked with CPython 3.11: list(set([...])).
        assert_eq!(order(&[9, 1, 17]), vec![9, 1, 17]);
        assert_eq!(order(&[3, 2, 1, 2]), vec![1, 2, 3]);
        assert_eq!(
            order(&[1700000040, 1700000100]),
            vec![1700000040, 1700000100]
        );
    }
}
