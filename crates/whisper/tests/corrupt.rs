//! Corrupt, truncated and foreign files must give typed errors, never panics.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use whisper::{create, AggregationMethod, ArchiveSpec, CreateOptions, Error, Whisper};

fn valid_file() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ok.wsp");
    let specs = [
        ArchiveSpec {
            seconds_per_point: 10,
            points: 12,
        },
        ArchiveSpec {
            seconds_per_point: 60,
            points: 10,
        },
    ];
    create(
        &p,
        &specs,
        0.5,
        AggregationMethod::Average,
        CreateOptions::default(),
    )
    .unwrap();
    let mut w = Whisper::open_rw(&p).unwrap();
    let now = 1_700_000_000;
    w.update_many(&[(now - 30, 1.0), (now - 20, 2.0), (now - 10, 3.0)], now)
        .unwrap();
    std::fs::read(&p).unwrap()
}

fn be(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn with(mut bytes: Vec<u8>, at: usize, patch: &[u8]) -> Vec<u8> {
    bytes[at..at + patch.len()].copy_from_slice(patch);
    bytes
}

/// Opens bytes as a file and exercises info, fetch and writes; returns the open error if any.
fn exercise(bytes: &[u8]) -> Result<(), Error> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.wsp");
    std::fs::write(&p, bytes).unwrap();
    let mut w = Whisper::open_rw(&p)?;
    let now = 1_700_000_000;
    let _ = w.header().clone();
    let _ = w.fetch(now - 3600, now, now);
    let _ = w.fetch(0, i64::from(u32::MAX), now);
    let _ = w.update_many(&[(now, 1.0), (now - 100, 2.0)], now);
    let _ = w.update(4.0, now - 5, now);
    Ok(())
}

#[test]
fn corpus_of_corrupt_files_is_rejected_with_typed_errors() {
    let ok = valid_file();
    let hdr_end = 16 + 2 * 12;
    let corpus: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short metadata", ok[..10].to_vec()),
        ("metadata only", ok[..16].to_vec()),
        ("truncated archive info", ok[..30].to_vec()),
        ("truncated data", ok[..ok.len() - 1].to_vec()),
        ("header only", ok[..hdr_end].to_vec()),
        ("bad aggregation type 0", with(ok.clone(), 0, &be(0))),
        ("bad aggregation type 9", with(ok.clone(), 0, &be(9))),
        ("xff NaN", with(ok.clone(), 8, &f32::NAN.to_be_bytes())),
        ("xff above 1", with(ok.clone(), 8, &1.5f32.to_be_bytes())),
        (
            "xff negative",
            with(ok.clone(), 8, &(-0.1f32).to_be_bytes()),
        ),
        ("zero archives", with(ok.clone(), 12, &be(0))),
        ("huge archive count", with(ok.clone(), 12, &be(u32::MAX))),
        ("offset past EOF", with(ok.clone(), 16, &be(1_000_000))),
        ("offset inside header", with(ok.clone(), 16, &be(4))),
        ("overlapping archives", with(ok.clone(), 28, &be(40 + 12))),
        ("zero points", with(ok.clone(), 24, &be(0))),
        ("zero precision", with(ok.clone(), 20, &be(0))),
        ("huge points", with(ok.clone(), 36, &be(u32::MAX))),
        ("precision not a multiple", with(ok.clone(), 32, &be(65))),
        ("precision not increasing", with(ok.clone(), 32, &be(10))),
        ("maxRetention mismatch", with(ok.clone(), 4, &be(7))),
        (
            "foreign: text",
            b"this is not a whisper file at all, just some text\n".to_vec(),
        ),
        ("foreign: cwhisper magic", {
            let mut v = b"whisper_compressed\x01".to_vec();
            v.resize(200, 0);
            v
        }),
    ];
    for (name, bytes) in corpus {
        match exercise(&bytes) {
            Err(Error::Corrupt { .. }) => {}
            other => panic!("{name}: expected a Corrupt error, got {other:?}"),
        }
    }
    // The untouched file is fine, so the corpus really tests the corruptions.
    exercise(&ok).unwrap();
}

#[test]
fn random_mutations_never_panic() {
    let ok = valid_file();
    let mut rng = StdRng::seed_from_u64(7);
    let mut rejected = 0;
    for _ in 0..2000 {
        let mut b = ok.clone();
        match rng.gen_range(0..3) {
            0 => b.truncate(rng.gen_range(0..ok.len())),
            1 => {
                for _ in 0..rng.gen_range(1..6) {
                    let i = rng.gen_range(0..40.min(b.len()));
                    b[i] = rng.gen();
                }
            }
            _ => {
                let i = rng.gen_range(0..b.len());
                b[i] ^= 1 << rng.gen_range(0..8);
            }
        }
        if exercise(&b).is_err() {
            rejected += 1;
        }
    }
    assert!(
        rejected > 100,
        "mutations should often be detected, got {rejected}"
    );
}

#[test]
fn extreme_times_are_errors_not_overflows() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.wsp");
    let specs = [ArchiveSpec {
        seconds_per_point: 1,
        points: 10,
    }];
    create(
        &p,
        &specs,
        0.5,
        AggregationMethod::Sum,
        CreateOptions::default(),
    )
    .unwrap();
    let mut w = Whisper::open_rw(&p).unwrap();
    for t in [i64::MIN, i64::MAX, -(1 << 50), 1 << 50] {
        assert!(matches!(
            w.update(1.0, t, 1_700_000_000),
            Err(Error::TimestampOutOfRange(_))
        ));
        assert!(matches!(
            w.update_many(&[(t, 1.0)], 1_700_000_000),
            Err(Error::TimestampOutOfRange(_))
        ));
        assert!(matches!(
            w.fetch(t, i64::MAX, 1_700_000_000),
            Err(Error::TimestampOutOfRange(_))
        ));
        assert!(matches!(
            w.fetch_archive(0, 0, t),
            Err(Error::TimestampOutOfRange(_))
        ));
        assert!(w.update_many(&[(1_700_000_000, 1.0)], t).is_err());
    }
    // A negative timestamp in range cannot be stored (whisper's interval is unsigned).
    assert!(matches!(
        w.update_many(&[(-5, 1.0)], -1),
        Err(Error::TimestampOutOfRange(-5))
    ));
}

#[test]
fn reload_metadata_sees_in_place_changes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.wsp");
    let specs = [
        ArchiveSpec {
            seconds_per_point: 1,
            points: 10,
        },
        ArchiveSpec {
            seconds_per_point: 5,
            points: 10,
        },
    ];
    create(
        &p,
        &specs,
        0.5,
        AggregationMethod::Sum,
        CreateOptions::default(),
    )
    .unwrap();
    let mut w = Whisper::open_rw(&p).unwrap();
    whisper::set_aggregation(&p, Some(AggregationMethod::Max), Some(0.25)).unwrap();
    assert_eq!(w.header().aggregation_method, AggregationMethod::Sum);
    w.reload_metadata().unwrap();
    assert_eq!(w.header().aggregation_method, AggregationMethod::Max);
    assert_eq!(w.header().x_files_factor, 0.25);
}
