//! The three ways of reaching a file (a handle per call, a kept descriptor, a kept mapping) write
//! the same bytes and read the same points for the same random operations.

use rand::{rngs::StdRng, Rng, SeedableRng};
use whisper::{create, Access, AggregationMethod, ArchiveSpec, CreateOptions, Whisper};

fn spec(seconds_per_point: u32, points: u32) -> ArchiveSpec {
    ArchiveSpec {
        seconds_per_point,
        points,
    }
}

#[test]
fn kept_descriptor_and_mapping_write_what_per_call_handles_write() {
    let dir = tempfile::tempdir().unwrap();
    let archives = [spec(10, 360), spec(60, 240), spec(600, 144)];
    let now = 1_700_000_000i64;
    for (seed, method) in [
        (1u64, AggregationMethod::Average),
        (2, AggregationMethod::Max),
        (3, AggregationMethod::Sum),
        (4, AggregationMethod::Last),
    ] {
        let paths: Vec<_> = ["call", "fd", "map"]
            .iter()
            .map(|k| dir.path().join(format!("{k}-{seed}.wsp")))
            .collect();
        for p in &paths {
            create(p, &archives, 0.3, method, CreateOptions::default()).unwrap();
        }
        let mut fd = Whisper::open_with(&paths[1], Access::ReadWrite).unwrap();
        let mut map = Whisper::open_with(&paths[2], Access::MappedReadWrite).unwrap();
        assert_eq!(map.access(), Access::MappedReadWrite);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut t = now - 3000;
        for _ in 0..300 {
            // Mostly advancing time with some out-of-order, late and out-of-retention points.
            t += rng.gen_range(0..40);
            let n = rng.gen_range(1..8);
            let pts: Vec<(i64, f64)> = (0..n)
                .map(|_| {
                    let back = if rng.gen_bool(0.1) {
                        rng.gen_range(0..100_000)
                    } else {
                        rng.gen_range(0..120)
                    };
                    (t - back, rng.gen_range(-1000.0..1000.0))
                })
                .collect();
            let a = Whisper::open_rw(&paths[0])
                .unwrap()
                .update_many(&pts, t)
                .map_err(|e| e.to_string());
            let b = fd.update_many(&pts, t).map_err(|e| e.to_string());
            let c = map.update_many(&pts, t).map_err(|e| e.to_string());
            assert_eq!(a, b);
            assert_eq!(a, c);
            let (from, until) = (t - rng.gen_range(0..20_000), t);
            let fa = Whisper::open(&paths[0])
                .unwrap()
                .fetch(from, until, t)
                .unwrap();
            let fb = fd.fetch(from, until, t).unwrap();
            let fc = map.fetch(from, until, t).unwrap();
            let pts_of = |f: &Option<whisper::Fetched>| {
                f.as_ref()
                    .map(|f| (f.from, f.until, f.step, f.values.clone()))
            };
            assert_eq!(pts_of(&fa), pts_of(&fb));
            assert_eq!(pts_of(&fa), pts_of(&fc));
        }
        drop(map);
        drop(fd);
        let bytes: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert!(
            bytes[0] == bytes[1],
            "descriptor handle wrote different bytes ({method:?})"
        );
        assert!(
            bytes[0] == bytes[2],
            "mapped handle wrote different bytes ({method:?})"
        );
    }
}

#[test]
fn a_kept_handle_follows_a_file_replaced_by_rename() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.wsp");
    let now = 1_700_000_000i64;
    create(
        &path,
        &[spec(10, 60)],
        0.5,
        AggregationMethod::Average,
        CreateOptions::default(),
    )
    .unwrap();
    for access in [Access::ReadWrite, Access::MappedReadWrite] {
        let mut h = Whisper::open_with(&path, access).unwrap();
        h.update_many(&[(now - 10, 1.0)], now).unwrap();
        assert!(!h.revalidate().unwrap(), "same file: nothing to reopen");
        // whisper-resize's way: a new file renamed over the old one, with another layout.
        let fresh = dir.path().join("m.wsp.tmp");
        create(
            &fresh,
            &[spec(60, 60)],
            0.5,
            AggregationMethod::Max,
            CreateOptions::default(),
        )
        .unwrap();
        std::fs::rename(&fresh, &path).unwrap();
        assert!(h.revalidate().unwrap(), "replaced file must be reopened");
        assert_eq!(h.access(), access);
        assert_eq!(h.header().archives[0].seconds_per_point, 60);
        h.update_many(&[(now - 60, 7.0)], now).unwrap();
        let f = Whisper::open(&path)
            .unwrap()
            .fetch(now - 300, now, now)
            .unwrap()
            .unwrap();
        assert!(f.values.contains(&Some(7.0)), "{access:?}: {:?}", f.values);
        create(
            &fresh,
            &[spec(10, 60)],
            0.5,
            AggregationMethod::Average,
            CreateOptions::default(),
        )
        .unwrap();
        std::fs::rename(&fresh, &path).unwrap();
    }
}
