//! Our pickle VM against CPython's own unpickler (with globals refused, as carbon's
//! SafeUnpickler does) on thousands of mutated pickles: whenever Python builds a value we
//! build the same one, and whenever Python refuses a pickle we refuse it too, except for the
//! documented differences (cycles, depth/size limits, lone surrogates, unhashable keys that
//! only Python checks).

mod common;

use common::{hex, run_python, unhex, venv_python, Rng};
use proto::pickle::{decode, PickleError, Value};
use serde_json::json;

const ORACLE: &str = r#"
import sys, json, pickle, io, resource
# A mutated LONG_BINPUT index makes CPython size its memo table by it: cap memory so that
# becomes a MemoryError instead of the OOM killer.
resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))
class U(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError("global %s.%s" % (module, name))
def enc(v, seen):
    if id(v) in seen: raise RecursionError("cycle")
    t = type(v)
    if v is None: return {"n": None}
    if t is bool: return {"b": v}
    if t is int: return {"i": str(v)}
    if t is float: return {"f": repr(v)}
    if t is str:
        v.encode("utf-8")
        return {"s": v}
    if t is bytes: return {"y": v.hex()}
    if t is bytearray: return {"ba": v.hex()}
    if t in (list, tuple, dict, set, frozenset):
        seen = seen | {id(v)}
        if t is list: return {"l": [enc(x, seen) for x in v]}
        if t is tuple: return {"t": [enc(x, seen) for x in v]}
        if t is dict: return {"d": [[enc(k, seen), enc(x, seen)] for k, x in v.items()]}
        return {"set": None}
    return {"other": t.__name__}
sys.setrecursionlimit(100000)
for line in sys.stdin:
    data = bytes.fromhex(line.strip())
    try:
        v = U(io.BytesIO(data), encoding="utf-8").load()
    except Exception as e:
        print(json.dumps({"err": type(e).__name__, "msg": str(e)[:80]})); continue
    try:
        print(json.dumps({"ok": enc(v, frozenset())}))
    except RecursionError:
        print(json.dumps({"cycle": True}))
    except UnicodeEncodeError:
        print(json.dumps({"surrogate": True}))
"#;

const PICKLE_SOME: &str = r#"
import sys, pickle
objs = [
    [("servers.a.b", (1700000000.0, 1.5)), ("é", (1, 2)), ("x", [None, True])],
    {"type": "cache-query", "metric": "a.b", "n": [1, 2.5, -7, 2**70, -2**40, 300, 70000]},
    ("tuple", (), ("", "a"), [[], {}], {"k": ("v",)}, b"bytes", bytearray(b"ba"), {1, 2}, frozenset()),
    [1.0] * 5 + ["s" * 300, "t" * 5],
]
for o in objs:
    for p in range(6):
        print(pickle.dumps(o, protocol=p).hex())
# Python 2 style text pickles: STRING with escapes, INT/LONG, FLOAT, dict/list/tuple.
print(b"(dp0\nS'a\\x41\\n\\'q'\np1\n(lp2\nI1\naL12345678901234567890L\naF-1.5e-3\naI01\nasS\"k\"\np3\n(I7\nNtp4\ns.".hex())
"#;

/// Our value as the oracle prints it; dicts collapse duplicate keys like a Python dict.
fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::None => json!({"n": null}),
        Value::Bool(b) => json!({ "b": b }),
        Value::Int(i) => json!({"i": i.to_string()}),
        Value::BigInt(b) => json!({"i": big_to_decimal(b.to_le_bytes())}),
        Value::Float(f) => json!({"f": py_repr(*f)}),
        Value::Str(s) => json!({ "s": s }),
        Value::Bytes(b) => json!({"y": hex(b)}),
        Value::ByteArray(b) => json!({"ba": hex(b)}),
        Value::List(v) => json!({"l": v.iter().map(to_json).collect::<Vec<_>>()}),
        Value::Tuple(v) => json!({"t": v.iter().map(to_json).collect::<Vec<_>>()}),
        Value::Set(_) | Value::FrozenSet(_) => json!({"set": null}),
        Value::Dict(entries) => {
            let mut out: Vec<(String, serde_json::Value, serde_json::Value)> = Vec::new();
            for (k, x) in entries {
                let id = key_identity(k);
                match out.iter_mut().find(|e| e.0 == id) {
                    Some(e) => e.2 = to_json(x),
                    None => out.push((id, to_json(k), to_json(x))),
                }
            }
            json!({"d": out.into_iter().map(|(_, k, x)| json!([k, x])).collect::<Vec<_>>()})
        }
    }
}

/// Python treats equal numbers as the same dict key (1 == 1.0 == True).
fn key_identity(k: &Value) -> String {
    match k {
        Value::Bool(b) => format!("num:{}", i64::from(*b)),
        Value::Int(i) => format!("num:{i}"),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => format!("num:{}", *f as i64),
        other => to_json(other).to_string(),
    }
}

fn py_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Compare through the parsed value, not the text: both are shortest round-trip forms.
    format!("{f:?}")
}

fn big_to_decimal(le: &[u8]) -> String {
    let neg = le.last().is_some_and(|b| b & 0x80 != 0);
    let mut mag: Vec<u8> = if neg {
        let mut m: Vec<u8> = le.iter().map(|b| !b).collect();
        for b in m.iter_mut() {
            let (v, c) = b.overflowing_add(1);
            *b = v;
            if !c {
                break;
            }
        }
        m
    } else {
        le.to_vec()
    };
    let mut digits = Vec::new();
    while mag.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for b in mag.iter_mut().rev() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if neg {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            if let (Some(f), Some(g)) = (x.get("f"), y.get("f")) {
                let p = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<f64>().ok());
                return match (p(f), p(g)) {
                    (Some(f), Some(g)) => f.to_bits() == g.to_bits() || (f.is_nan() && g.is_nan()),
                    _ => false,
                };
            }
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        _ => a == b,
    }
}

fn mutate(r: &mut Rng, p: &[u8]) -> Vec<u8> {
    let mut m = p.to_vec();
    for _ in 0..=r.below(3) {
        if m.is_empty() {
            break;
        }
        let i = r.below(m.len() as u64) as usize;
        match r.below(4) {
            0 => m[i] = r.next() as u8,
            1 => m.insert(i, r.next() as u8),
            2 => {
                m.remove(i);
            }
            _ => {
                let j = (i + 1 + r.below(8) as usize).min(m.len());
                let slice = m[i..j].to_vec();
                m.splice(i..i, slice);
            }
        }
    }
    m
}

#[test]
fn mutated_pickles_agree_with_cpython() {
    let seeds: Vec<Vec<u8>> = String::from_utf8(run_python(&venv_python(), PICKLE_SOME, b""))
        .expect("utf8")
        .lines()
        .map(unhex)
        .collect();
    let mut r = Rng(0x0dd_000a);
    let mut cases: Vec<Vec<u8>> = seeds.clone();
    for _ in 0..8000 {
        let s = &seeds[r.below(seeds.len() as u64) as usize];
        cases.push(mutate(&mut r, s));
    }
    let input: String = cases.iter().map(|c| format!("{}\n", hex(c))).collect();
    let out = run_python(&venv_python(), ORACLE, input.as_bytes());
    let results: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(results.len(), cases.len());
    let (mut both_ok, mut both_err) = (0, 0);
    for (data, want) in cases.iter().zip(&results) {
        let got = decode(data);
        let ctx = || format!("pickle {}: python {want}, ours {got:?}", hex(data));
        match (&got, want.get("ok")) {
            (Ok(v), Some(w)) => {
                assert!(same_json(&to_json(v), w), "{}", ctx());
                both_ok += 1;
            }
            (Err(e), Some(_)) => {
                // Python built it; we may refuse only for our documented limits.
                assert!(
                    matches!(e, PickleError::TooDeep | PickleError::TooLarge),
                    "{}",
                    ctx()
                );
            }
            (Ok(_), None) if want.get("cycle").is_some() || want.get("surrogate").is_some() => {
                panic!(
                    "we built what Python could only build as a cycle/surrogate: {}",
                    ctx()
                )
            }
            (Err(e), None) if want.get("cycle").is_some() => {
                assert_eq!(e, &PickleError::Cycle, "{}", ctx())
            }
            (Err(e), None) if want.get("surrogate").is_some() => {
                assert_eq!(e, &PickleError::InvalidUtf8, "{}", ctx())
            }
            (Err(_), None) => both_err += 1,
            // CPython ran out of memory (capped) where our sparse memo did not.
            (Ok(_), None) if want["err"] == "MemoryError" => {}
            (Ok(_), None) => {
                // Only Python checks hashability of dict keys and set items.
                assert_eq!(want["err"], "TypeError", "{}", ctx());
                assert!(
                    want["msg"]
                        .as_str()
                        .is_some_and(|m| m.contains("unhashable")),
                    "{}",
                    ctx()
                );
            }
        }
    }
    assert!(both_ok > 500 && both_err > 2000, "{both_ok} {both_err}");
}
