//! Our pickle codec against the real thing, on cases generated at test time:
//! * random Python values pickled by the venv python with protocols 0-5 decode to the same
//!   [`Value`], and our encoder's bytes equal `pickle.dumps(value, protocol=2)`;
//! * random datapoint batches (good, malformed, shared objects, bytes names, huge ints)
//!   pickled with protocols 0-5 yield exactly what carbon's own `MetricPickleReceiver`
//!   (Debian's carbon, `CARBONADO_SYS_PYTHON`) accepts, and relay-shaped batches encode
//!   byte-identically to Python.

mod common;

use common::{hex, run_python, sys_python, unhex, venv_python, Rng};
use proto::line::accept_datapoint;
use proto::pickle::{decode, decode_datapoints, encode, encode_datapoints, BigInt, Value};
use serde_json::json;

/// Builds Python objects from a JSON description, keeping strings distinct objects
/// (so the pickler memoises them like ours) unless a `ref` shares one on purpose.
/// Prints one line per input: the hex pickles for protocols 0..5, space separated.
const PICKLER: &str = r#"
import sys, json, pickle
reg = {}
def mk(o):
    if 'reg' in o:
        v = mk(o['v']); reg[o['reg']] = v; return v
    if 'ref' in o:
        return reg[o['ref']]
    (k, v), = o.items()
    if k == 's': return v if len(v) <= 1 else v[:1] + v[1:]
    if k == 'f': return float(v)
    if k == 'i': return int(v)
    if k == 'n': return None
    if k == 'b': return bool(v)
    if k == 'y': return bytes.fromhex(v)
    if k == 't': return tuple(mk(x) for x in v)
    if k == 'l': return [mk(x) for x in v]
    if k == 'd': return {mk(a): mk(b) for a, b in v}
    raise ValueError(k)
for line in sys.stdin:
    reg.clear()
    obj = mk(json.loads(line))
    print(' '.join(pickle.dumps(obj, protocol=p).hex() for p in range(6)))
"#;

/// Feeds payloads through carbon's MetricPickleReceiver and prints, per payload, the
/// accepted datapoints and whether an exception escaped (connection dropped).
const CARBON_RX: &str = r#"
import sys, json
from carbon.conf import settings
from carbon import events, protocols, log
from carbon.util import get_unpickler
cap = []
events.metricReceived.handlers = [lambda m, dp: cap.append((m, dp))]
log.listener = lambda *a, **k: None
log.msg = lambda *a, **k: None
class T:
    disconnected = False; disconnecting = False
    def loseConnection(self): pass
    def getPeer(self): return None
for line in sys.stdin:
    cap.clear()
    r = protocols.MetricPickleReceiver(); r.peerName = 't'; r.transport = T()
    r.resetTimeout = lambda: None
    r.unpickler = get_unpickler(insecure=False)
    exc = None
    try:
        r.stringReceived(bytes.fromhex(line.strip()))
    except Exception as e:
        exc = type(e).__name__
    print(json.dumps({'exc': exc, 'points': [[m, repr(float(dp[0])), repr(float(dp[1]))] for m, dp in cap]}))
"#;

fn s(text: &str) -> (serde_json::Value, Value) {
    (json!({ "s": text }), Value::Str(text.to_owned()))
}

fn float(f: f64) -> (serde_json::Value, Value) {
    // Rust's Debug output is the shortest round-trip form; Python's float() reads it exactly.
    // Python's float("nan") is the canonical quiet NaN, whatever payload we drew.
    let f = if f.is_nan() { f64::NAN } else { f };
    let text = if f.is_nan() {
        "nan".to_owned()
    } else {
        format!("{f:?}")
    };
    (json!({ "f": text }), Value::Float(f))
}

fn int_text(text: &str) -> (serde_json::Value, Value) {
    let v = match text.parse::<i64>() {
        Ok(i) => Value::Int(i),
        Err(_) => big_from_decimal(text),
    };
    (json!({ "i": text }), v)
}

/// Reference conversion for test expectations: decimal -> two's complement via u128 limbs.
fn big_from_decimal(text: &str) -> Value {
    let (neg, digits) = text.strip_prefix('-').map_or((false, text), |d| (true, d));
    let mut limbs: Vec<u8> = vec![0];
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for l in limbs.iter_mut() {
            let v = u32::from(*l) * 10 + carry;
            *l = v as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            limbs.push(carry as u8);
            carry >>= 8;
        }
    }
    limbs.push(0);
    if neg {
        let mut carry = 1u16;
        for l in limbs.iter_mut() {
            let v = u16::from(!*l) + carry;
            *l = v as u8;
            carry = v >> 8;
        }
    }
    BigInt::from_le_bytes(&limbs)
}

const NAMES: &[&str] = &[
    "servers.host1.cpu.user",
    "a",
    "",
    "é",
    "€",
    "m\u{e9}trique.x",
    "tagged.m;dc=us;host=a",
    "with space",
    "line\nbreak\\slash",
    "\u{1f600}.emoji",
    "x",
];

fn random_float(r: &mut Rng) -> f64 {
    match r.below(10) {
        0 => f64::INFINITY,
        1 => f64::NEG_INFINITY,
        2 => -0.0,
        3 => 1.7e9 + r.below(1000) as f64,
        4 => f64::from_bits(r.next()),
        5 => (r.below(2000) as f64 - 1000.0) / 8.0,
        _ => (r.next() >> 11) as f64 / (1u64 << 53) as f64 * 1e6,
    }
}

fn random_int_text(r: &mut Rng) -> String {
    match r.below(9) {
        0 => "0".into(),
        1 => "255".into(),
        2 => "256".into(),
        3 => "65535".into(),
        4 => "-2147483649".into(),
        5 => i64::MAX.to_string(),
        6 => "-123456789012345678901234567890".into(),
        7 => format!("{}", r.below(1 << 40)),
        _ => format!("-{}", r.below(1 << 31) + 1),
    }
}

fn random_value(r: &mut Rng, depth: u32) -> (serde_json::Value, Value) {
    let leaf = depth >= 3 || r.chance(45);
    if leaf {
        return match r.below(7) {
            0 => (json!({"n": null}), Value::None),
            1 => {
                let b = r.chance(50);
                (json!({ "b": b }), Value::Bool(b))
            }
            2 => int_text(&random_int_text(r)),
            3 | 4 => float(random_float(r)),
            _ => s(NAMES[r.below(NAMES.len() as u64) as usize]),
        };
    }
    // Batch-sized containers only at the top, so one case stays small.
    let n = match (depth, r.below(20)) {
        (0, 0) => 1000,
        (0, 1) => 1001,
        (0, 2) => 2000,
        _ => r.below(6) as usize,
    };
    match r.below(3) {
        0 => {
            let (j, v): (Vec<_>, Vec<_>) =
                (0..n.min(6)).map(|_| random_value(r, depth + 1)).unzip();
            (json!({ "t": j }), Value::Tuple(v))
        }
        1 => {
            let (j, v): (Vec<_>, Vec<_>) = (0..n).map(|_| random_value(r, depth + 2)).unzip();
            (json!({ "l": j }), Value::List(v))
        }
        _ => {
            // Unique keys, as a Python dict would have them.
            let mut js = Vec::new();
            let mut vs = Vec::new();
            for i in 0..n {
                let (kj, kv) = if r.chance(50) {
                    s(&format!("k{i}"))
                } else {
                    int_text(&format!("{i}"))
                };
                let (vj, vv) = random_value(r, depth + 2);
                js.push(json!([kj, vj]));
                vs.push((kv, vv));
            }
            (json!({ "d": js }), Value::Dict(vs))
        }
    }
}

/// Byte equality with a short report around the first difference.
fn assert_same_bytes(ours: &[u8], python: &[u8]) {
    if ours == python {
        return;
    }
    let at = ours
        .iter()
        .zip(python)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.len().min(python.len()));
    let window = |b: &[u8]| hex(&b[at.saturating_sub(16)..(at + 24).min(b.len())]);
    panic!(
        "pickle bytes differ at offset {at} (ours {} bytes, python {} bytes)\nours:   {}\npython: {}",
        ours.len(),
        python.len(),
        window(ours),
        window(python)
    );
}

/// Structural equality where NaN equals NaN.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
        }
        _ => a == b,
    }
}

fn pickle_all(specs: &[serde_json::Value]) -> Vec<Vec<Vec<u8>>> {
    let input: String = specs.iter().map(|j| format!("{j}\n")).collect();
    let out = run_python(&venv_python(), PICKLER, input.as_bytes());
    let text = String::from_utf8(out).expect("utf8");
    let rows: Vec<Vec<Vec<u8>>> = text
        .lines()
        .map(|l| l.split(' ').map(unhex).collect())
        .collect();
    assert_eq!(rows.len(), specs.len());
    rows
}

#[test]
fn random_values_round_trip_with_python() {
    let mut r = Rng(0x5eed_0001);
    let cases: Vec<(serde_json::Value, Value)> =
        (0..150).map(|_| random_value(&mut r, 0)).collect();
    let specs: Vec<_> = cases.iter().map(|c| c.0.clone()).collect();
    let pickles = pickle_all(&specs);
    for ((_, want), row) in cases.iter().zip(&pickles) {
        for (proto, bytes) in row.iter().enumerate() {
            let got =
                decode(bytes).unwrap_or_else(|e| panic!("protocol {proto}: {e} for {want:?}"));
            assert!(
                same(&got, want),
                "protocol {proto}: got {got:?}\nwant {want:?}"
            );
        }
        let ours = encode(want).expect("encodable");
        assert_same_bytes(&ours, &row[2]);
    }
}

#[test]
fn shared_strings_are_memoised_like_python() {
    // The same name object used twice: Python writes a BINGET; so does share_equal_strings.
    let name = json!({"reg": "n", "v": {"s": "servers.a.b"}});
    let point = |n: serde_json::Value, ts: f64| json!({"t": [n, {"t": [{"f": format!("{ts:?}")}, {"f": "1.0"}]}]});
    let spec = json!({"l": [point(name, 1.0), point(json!({"ref": "n"}), 2.0), point(json!({"s": "x.y"}), 3.0)]});
    let row = &pickle_all(&[spec])[0];
    let tuple = |n: &str, ts: f64| {
        Value::Tuple(vec![
            Value::str(n),
            Value::Tuple(vec![Value::Float(ts), Value::Float(1.0)]),
        ])
    };
    let v = Value::List(vec![
        tuple("servers.a.b", 1.0),
        tuple("servers.a.b", 2.0),
        tuple("x.y", 3.0),
    ]);
    let mut e = proto::pickle::Encoder::new().share_equal_strings(true);
    e.write(&v).expect("encode");
    assert_eq!(hex(&e.finish()), hex(&row[2]));
    // Without sharing the bytes differ (Python saw one object), but both decode the same.
    assert_ne!(hex(&encode(&v).expect("encode")), hex(&row[2]));
    assert!(same(&decode(&row[2]).expect("decode"), &v));
}

fn seq(tuple: bool, items: Vec<serde_json::Value>) -> serde_json::Value {
    if tuple {
        json!({ "t": items })
    } else {
        json!({ "l": items })
    }
}

/// One random batch element: mostly good datapoints, sometimes what real senders get wrong.
fn random_element(
    r: &mut Rng,
    i: usize,
    last_reg: &mut Option<usize>,
) -> (serde_json::Value, Option<(String, f64, f64)>) {
    let name = NAMES[r.below(NAMES.len() as u64) as usize].to_owned();
    let ts = if r.chance(5) {
        f64::INFINITY
    } else {
        1.7e9 + r.below(100_000) as f64
    };
    let val = random_float(r);
    let num = |r: &mut Rng, f: f64| -> serde_json::Value {
        match r.below(12) {
            0 => json!({"s": format!("{f:?}")}),
            1 if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 => {
                json!({"i": format!("{}", f as i64)})
            }
            _ => float(f).0,
        }
    };
    let good = Some((name.clone(), ts, val));
    match r.below(30) {
        0 => (json!({"s": "junk"}), None),
        1 => (json!({"i": "7"}), None),
        2 => (
            seq(
                r.chance(70),
                vec![
                    s(&name).0,
                    seq(r.chance(70), vec![float(ts).0, float(val).0, float(1.0).0]),
                ],
            ),
            None,
        ),
        3 => (
            seq(
                r.chance(70),
                vec![
                    s(&name).0,
                    seq(r.chance(70), vec![json!({"n": null}), float(val).0]),
                ],
            ),
            None,
        ),
        4 => (
            seq(
                r.chance(70),
                vec![
                    json!({"y": hex(name.as_bytes())}),
                    seq(r.chance(70), vec![float(ts).0, float(val).0]),
                ],
            ),
            None,
        ),
        5 => (
            seq(
                r.chance(70),
                vec![
                    s(&name).0,
                    seq(
                        r.chance(70),
                        vec![json!({"i": format!("1{}", "0".repeat(400))}), float(val).0],
                    ),
                ],
            ),
            None,
        ),
        6 => (
            seq(r.chance(70), vec![s(&name).0, json!({"s": "12"})]),
            None,
        ),
        7 => {
            *last_reg = Some(i);
            let v = seq(
                r.chance(70),
                vec![
                    s(&name).0,
                    seq(r.chance(70), vec![float(ts).0, float(val).0]),
                ],
            );
            (json!({"reg": format!("e{i}"), "v": v}), good)
        }
        8 if last_reg.is_some() => (json!({"ref": format!("e{}", last_reg.unwrap_or(0))}), None),
        _ => {
            let (a, b) = (num(r, ts), num(r, val));
            (
                seq(
                    r.chance(70),
                    vec![s(&name).0, seq(r.chance(70), vec![a, b])],
                ),
                good,
            )
        }
    }
}

#[test]
fn random_batches_match_carbons_receiver() {
    let mut r = Rng(0xca7b_0002);
    let mut specs = Vec::new();
    let mut relay_shaped = Vec::new();
    for b in 0..40 {
        let n = r.below(40) as usize;
        let clean = b % 4 == 0;
        let mut items = Vec::new();
        let mut points = Vec::new();
        let mut last_reg = None;
        for i in 0..n {
            if clean {
                let name = NAMES[r.below(NAMES.len() as u64) as usize];
                let (ts, val) = (1.7e9 + i as f64, random_float(&mut r));
                items.push(json!({"t": [s(name).0, {"t": [float(ts).0, float(val).0]}]}));
                points.push((name.to_owned(), ts, val));
            } else {
                items.push(random_element(&mut r, i, &mut last_reg).0);
            }
        }
        let top = if !clean && r.chance(10) {
            json!({"t": items})
        } else {
            json!({"l": items})
        };
        specs.push(top);
        relay_shaped.push(clean.then_some(points));
    }
    let pickles = pickle_all(&specs);

    // Our encoder writes carbon-relay's bytes.
    for (points, row) in relay_shaped.iter().zip(&pickles) {
        if let Some(points) = points {
            assert_same_bytes(&encode_datapoints(points), &row[2]);
        }
    }

    // carbon's receiver is the oracle for every protocol's payload.
    let payloads: Vec<&Vec<u8>> = pickles.iter().flatten().collect();
    let input: String = payloads.iter().map(|p| format!("{}\n", hex(p))).collect();
    let out = run_python(&sys_python(), CARBON_RX, input.as_bytes());
    let results: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(results.len(), payloads.len());
    let mut accepted_total = 0;
    let mut rejected_frames = 0;
    let mut raised_frames = 0;
    for (payload, want) in payloads.iter().zip(&results) {
        let mut got = Vec::new();
        let mut raised = false;
        match decode_datapoints(payload) {
            // Whole frame refused (e.g. bytes pickled with protocol <= 2 need a GLOBAL):
            // carbon must have ignored it too, without raising.
            Err(e) => {
                assert!(
                    want["exc"].is_null()
                        && want["points"].as_array().is_some_and(|p| p.is_empty()),
                    "we rejected ({e}) what carbon took: {want}"
                );
                rejected_frames += 1;
            }
            Ok(batch) => {
                for p in &batch.points {
                    match accept_datapoint(p.timestamp, p.value, 0.0) {
                        Ok(Some((ts, v))) => got.push((p.name.clone(), ts, v)),
                        Ok(None) => {}
                        Err(_) => {
                            raised = true;
                            break;
                        }
                    }
                }
                raised |= batch.abort.is_some();
            }
        }
        assert_eq!(
            raised,
            want["exc"].is_string(),
            "exception mismatch: {want}"
        );
        raised_frames += usize::from(raised);
        let want_pts: Vec<(String, f64, f64)> = want["points"]
            .as_array()
            .expect("points")
            .iter()
            .map(|p| {
                let f = |x: &serde_json::Value| {
                    x.as_str().expect("repr").parse::<f64>().expect("float")
                };
                (p[0].as_str().expect("name").to_owned(), f(&p[1]), f(&p[2]))
            })
            .collect();
        assert_eq!(got.len(), want_pts.len(), "got {got:?}\nwant {want_pts:?}");
        for (g, w) in got.iter().zip(&want_pts) {
            assert_eq!(g.0, w.0);
            assert_eq!(g.1.to_bits(), w.1.to_bits());
            assert_eq!(g.2.to_bits(), w.2.to_bits(), "{g:?} vs {w:?}");
        }
        accepted_total += got.len();
    }
    assert!(
        accepted_total > 500,
        "generator produced too few good points: {accepted_total}"
    );
    assert!(
        rejected_frames > 0 && rejected_frames < payloads.len() / 2,
        "{rejected_frames}"
    );
    assert!(raised_frames > 0, "no case exercised carbon's exceptions");
}

#[test]
fn batch_boundaries_match_python() {
    // CPython writes lists and dicts in batches of 1000 (dicts add an empty batch when the
    // size is a multiple of 1000) and switches BINPUT to LONG_BINPUT past memo slot 255.
    let mut specs = Vec::new();
    let mut values = Vec::new();
    for n in [0usize, 1, 2, 999, 1000, 1001, 2000] {
        let items: Vec<_> = (0..n).map(|i| s(&format!("s{i}"))).collect();
        specs.push(json!({ "l": items.iter().map(|x| x.0.clone()).collect::<Vec<_>>() }));
        values.push(Value::List(items.into_iter().map(|x| x.1).collect()));
        let entries: Vec<_> = (0..n)
            .map(|i| (int_text(&i.to_string()), float(i as f64)))
            .collect();
        specs.push(
            json!({ "d": entries.iter().map(|(k, v)| json!([k.0, v.0])).collect::<Vec<_>>() }),
        );
        values.push(Value::Dict(
            entries.into_iter().map(|(k, v)| (k.1, v.1)).collect(),
        ));
    }
    let pickles = pickle_all(&specs);
    for (v, row) in values.iter().zip(&pickles) {
        assert_same_bytes(&encode(v).expect("encode"), &row[2]);
        for bytes in row {
            assert!(same(&decode(bytes).expect("decode"), v));
        }
    }
}
