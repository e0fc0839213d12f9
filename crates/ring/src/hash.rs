//! The hash functions behind every ring, bit for bit as carbon and carbon-c-relay compute them.

use md5::{Digest, Md5};

const FNV32_OFFSET: u32 = 0x811C_9DC5;
const FNV32_PRIME: u32 = 0x0100_0193;
const FNV64_OFFSET: u64 = 14_695_981_039_346_656_037;
const FNV64_PRIME: u64 = 1_099_511_628_211;

/// carbon_ch position: the first two bytes of md5(key), big-endian.
pub fn carbon_ch(key: &[u8]) -> u16 {
    let digest = Md5::digest(key);
    u16::from_be_bytes([digest[0], digest[1]])
}

/// 32-bit FNV-1a over bytes (what Python carbon's `fnv32a` returns).
pub fn fnv32a(key: &[u8]) -> u32 {
    key.iter().fold(FNV32_OFFSET, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(FNV32_PRIME)
    })
}

/// Python carbon's fnv1a_ch position: FNV-1a-32 folded to 16 bits.
pub fn fnv1a_ch(key: &[u8]) -> u16 {
    fold16(fnv32a(key))
}

fn fold16(h: u32) -> u16 {
    // Truncation is the point: both halves are xored into 16 bits.
    ((h >> 16) ^ (h & 0xFFFF)) as u16
}

// carbon-c-relay iterates a (signed on x86) `char *`, so bytes >= 0x80 are sign-extended
// before the xor; we copy that so non-ASCII names land where c-relay puts them.
fn signed(b: u8) -> i8 {
    i8::from_ne_bytes([b])
}

/// carbon-c-relay's FNV-1a-32 (signed-char bytes).
pub fn crelay_fnv32a(key: &[u8]) -> u32 {
    key.iter().fold(FNV32_OFFSET, |h, &b| {
        (h ^ i32::from(signed(b)) as u32).wrapping_mul(FNV32_PRIME)
    })
}

/// carbon-c-relay's fnv1a_ch position (signed-char FNV-1a-32 folded to 16 bits).
pub fn crelay_fnv1a_ch(key: &[u8]) -> u16 {
    fold16(crelay_fnv32a(key))
}

/// carbon-c-relay's FNV-1a-64 (signed-char bytes), the key of jump_fnv1a_ch.
pub fn crelay_fnv64a(key: &[u8]) -> u64 {
    key.iter().fold(FNV64_OFFSET, |h, &b| {
        (h ^ i64::from(signed(b)) as u64).wrapping_mul(FNV64_PRIME)
    })
}

/// Lamping & Veach jump consistent hash: a bucket in `0..buckets` (0 when `buckets` is 0).
pub fn jump(mut key: u64, buckets: usize) -> usize {
    let n = buckets as i64;
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < n {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        // Computed in f64 exactly like the reference, so results agree to the bucket.
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b.max(0) as usize
}

/// The xorshift carbon-c-relay applies to the key between jump_fnv1a_ch replicas.
pub fn jump_rehash(mut h: u64) -> u64 {
    h ^= h >> 12;
    h ^= h << 25;
    h ^= h >> 27;
    h.wrapping_mul(2_685_821_657_736_338_717)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // From vectors/hashing/hash_functions.json.
        assert_eq!(carbon_ch(b"servers.host000.cpu.user"), 18372);
        assert_eq!(fnv1a_ch(b"servers.host000.cpu.user"), 61774);
        assert_eq!(fnv32a(b"servers.host000.cpu.user"), 3_610_388_092);
        assert_eq!(fnv32a(b""), FNV32_OFFSET);
    }

    #[test]
    fn signed_bytes_only_differ_above_ascii() {
        assert_eq!(crelay_fnv32a(b"abc"), fnv32a(b"abc"));
        assert_ne!(crelay_fnv32a("é".as_bytes()), fnv32a("é".as_bytes()));
    }

    #[test]
    fn jump_is_in_range_and_stable() {
        for n in 1..20 {
            for k in 0..200u64 {
                let b = jump(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), n);
                assert!(b < n);
            }
        }
        assert_eq!(jump(123, 1), 0);
        assert_eq!(jump(123, 0), 0);
    }
}
