//! Every frame of `vectors/protocols/pickle.json` (carbon's MetricPickleReceiver) decoded with
//! our framing, decoder and post-processing; same datapoints accepted.

mod common;

use common::{num, unhex, vectors};
use proto::frame::{split_frame, DEFAULT_MAX_FRAME};
use proto::line::accept_datapoint;
use proto::pickle::{decode_datapoints, ElementAbort};

const NOW: f64 = 4_242_424_242.5;

#[test]
fn every_pickle_frame_vector() {
    let v = vectors("pickle.json");
    let cases = v.as_array().expect("cases");
    assert!(cases.len() >= 18, "vector file shrank");
    for case in cases {
        let desc = case["description"].as_str().expect("desc");
        let frame = unhex(case["frame_hex"].as_str().expect("hex"));
        let (payload, used) = split_frame(&frame, DEFAULT_MAX_FRAME)
            .expect("within limit")
            .expect("complete frame");
        assert_eq!(used, frame.len(), "{desc}");
        let want: Vec<(String, f64, f64)> = case["accepted"]
            .as_array()
            .expect("accepted")
            .iter()
            .map(|p| {
                (
                    p[0].as_str().expect("name").to_owned(),
                    num(&p[1][0]),
                    num(&p[1][1]),
                )
            })
            .collect();
        let now_ts = desc.contains("-1");
        let mut got = Vec::new();
        let mut aborted = false;
        match decode_datapoints(payload) {
            Err(e) => {
                // Whole frame ignored: carbon accepted nothing and raised nothing.
                assert!(
                    want.is_empty() && case["exception"].is_null(),
                    "{desc}: we rejected ({e})"
                );
            }
            Ok(batch) => {
                for p in &batch.points {
                    match accept_datapoint(p.timestamp, p.value, NOW) {
                        Ok(Some((ts, val))) => got.push((p.name.clone(), ts, val)),
                        Ok(None) => {}
                        Err(_) => {
                            aborted = true;
                            break;
                        }
                    }
                }
                if let Some(abort) = &batch.abort {
                    aborted = true;
                    if desc.contains("bytes metric name") {
                        assert!(
                            matches!(
                                abort,
                                ElementAbort::NameNotStr {
                                    index: 0,
                                    type_name: "bytes"
                                }
                            ),
                            "{desc}: {abort:?}"
                        );
                    }
                }
            }
        }
        assert_eq!(
            aborted,
            case["exception"].is_string(),
            "{desc}: abort vs {:?}",
            case["exception"]
        );
        assert_eq!(got.len(), want.len(), "{desc}: got {got:?} want {want:?}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.0, w.0, "{desc}");
            assert_eq!(g.2, w.2, "{desc}");
            if now_ts {
                assert_eq!(g.1, NOW, "{desc}");
            } else {
                assert_eq!(g.1, w.1, "{desc}");
            }
        }
    }
}
