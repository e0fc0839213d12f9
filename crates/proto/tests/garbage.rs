//! The fuzz harnesses over a corpus of garbage: truncations of valid frames, deep nesting,
//! huge length fields, memo bombs, and random bytes from a seeded RNG. Nothing may panic, and
//! hostile pickles must be refused with the right error rather than allocate without bound.

mod common;

use common::Rng;
use proto::harness::{line_parser, pickle_decoder};
use proto::pickle::{decode, decode_datapoints, encode_datapoints, PickleError};

fn valid_pickles() -> Vec<Vec<u8>> {
    let v = common::vectors("pickle.json");
    let mut out: Vec<Vec<u8>> = v
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| common::unhex(c["frame_hex"].as_str().expect("hex"))[4..].to_vec())
        .collect();
    let c = common::vectors("carbonlink.json");
    for case in c.as_array().expect("cases") {
        for k in ["request_frame_hex", "response_frame_hex"] {
            out.push(common::unhex(case[k].as_str().expect("hex"))[4..].to_vec());
        }
    }
    out.push(encode_datapoints(&[
        ("a.b", 1.0, 2.0),
        ("c", 3.0, f64::NAN),
    ]));
    out
}

#[test]
fn truncated_and_mutated_pickles() {
    let mut r = Rng(0xbad_0006);
    for p in valid_pickles() {
        for cut in 0..p.len() {
            pickle_decoder(&p[..cut]);
            assert!(
                decode(&p[..cut]).is_err(),
                "a strict prefix cannot hold STOP's result"
            );
        }
        for _ in 0..200 {
            let mut m = p.clone();
            for _ in 0..=r.below(4) {
                let i = r.below(m.len() as u64) as usize;
                m[i] = r.next() as u8;
            }
            pickle_decoder(&m);
        }
    }
}

#[test]
fn random_bytes() {
    let mut r = Rng(0xbad_0007);
    for _ in 0..20_000 {
        let len = r.below(200) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        if r.chance(50) && !data.is_empty() {
            data[0] = 0x80; // PROTO, to get past the first opcode more often
        }
        pickle_decoder(&data);
        line_parser(&data);
    }
}

#[test]
fn huge_length_fields_are_refused_without_allocating() {
    // BINUNICODE8 / BINBYTES8 / BYTEARRAY8 / LONG4 / FRAME / BINSTRING claiming gigabytes.
    for p in [
        &b"\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f"[..],
        b"\x80\x04\x8e\x00\x00\x00\x00\x01\x00\x00\x00",
        b"\x80\x05\x96\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\x80\x02\x8b\xff\xff\xff\x7f",
        b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xff.",
        b"T\xff\xff\xff\x7f",
        b"X\xff\xff\xff\xff",
    ] {
        assert_eq!(decode(p), Err(PickleError::Truncated), "{p:?}");
        pickle_decoder(p);
    }
    assert!(matches!(
        decode(b"T\xff\xff\xff\xff"),
        Err(PickleError::BadArgument(_))
    ));
    // A memo index of 4 billion must not size a table by it.
    assert!(decode(b"\x80\x02K\x01r\xff\xff\xff\xffj\xff\xff\xff\xff\x86.").is_ok());
}

#[test]
fn nesting_and_memo_bombs() {
    // 100k nested empty lists: decoding is flat, materialising stops at the depth limit.
    let mut p = vec![0x80, 2];
    p.resize(p.len() + 100_000, b']');
    p.resize(p.len() + 99_999, b'a');
    p.push(b'.');
    assert_eq!(decode(&p), Err(PickleError::TooDeep));
    pickle_decoder(&p);

    // 100k MARKs with nothing else.
    let mut p = vec![0x80, 2];
    p.resize(p.len() + 100_000, b'(');
    p.push(b'.');
    assert_eq!(decode(&p), Err(PickleError::StackUnderflow));

    // A 64 KiB name referenced 100k times from a datapoint batch: 6.5 GB if copied naively.
    let mut p = vec![0x80, 2, b']', b'q', 0, b'X'];
    p.extend_from_slice(&(65536u32).to_le_bytes());
    p.resize(p.len() + 65536, b'n');
    p.extend_from_slice(b"q\x01GA\xd9T\xfc@\x00\x00\x00K\x01\x86q\x02\x86q\x03a(");
    for _ in 0..100_000 {
        p.extend_from_slice(b"h\x03");
    }
    p.extend_from_slice(b"e.");
    assert_eq!(decode_datapoints(&p), Err(PickleError::TooLarge));
    assert_eq!(decode(&p), Err(PickleError::TooLarge));
}

#[test]
fn plaintext_garbage() {
    let mut r = Rng(0xbad_0008);
    let alphabet: &[&[u8]] = &[
        b"a",
        b".",
        b" ",
        b"\t",
        b"\n",
        b"\r",
        b"1",
        b"e",
        b"-",
        b"_",
        b"\xc2\xa0",
        b"\xe2\x80\xa8",
        b"\xff",
        b"\xd9\xa1",
        b";",
        b"=",
        b"~",
        b"{",
        b"}",
        b"\"",
        b"/",
        b"\x00",
    ];
    for _ in 0..20_000 {
        let n = r.below(60);
        let mut data = vec![r.next() as u8];
        for _ in 0..n {
            data.extend_from_slice(alphabet[r.below(alphabet.len() as u64) as usize]);
        }
        line_parser(&data);
    }
}
