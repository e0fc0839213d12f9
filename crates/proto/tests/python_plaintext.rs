//! The plaintext protocol against the real receivers on inputs generated at test time:
//! lines through carbon's `MetricLineReceiver.lineReceived` (Python's split/float rules),
//! and randomly chunked streams through Twisted's `LineOnlyReceiver` framing.

mod common;

use common::{hex, run_python, sys_python, Rng};
use proto::line::{accept_datapoint, parse_line, LineError, LineFramer};

const CARBON_LINES: &str = r#"
import sys, json
from carbon.conf import settings
from carbon import events, protocols, log
cap = []
events.metricReceived.handlers = [lambda m, dp: cap.append((m, dp))]
log.listener = lambda *a, **k: None
log.msg = lambda *a, **k: None
class T:
    disconnected = False; disconnecting = False
    def loseConnection(self): self.disconnected = True
    def getPeer(self): return None
for line in sys.stdin:
    cap.clear()
    p = protocols.MetricLineReceiver(); p.peerName = 't'; p.transport = T()
    p.resetTimeout = lambda: None
    exc = None
    try:
        p.lineReceived(bytes.fromhex(line.strip()))
    except Exception as e:
        exc = type(e).__name__
    print(json.dumps({'exc': exc, 'points': [[m, repr(dp[0]), repr(dp[1])] for m, dp in cap]}))
"#;

const TWISTED_FRAMING: &str = r#"
import sys, json
from twisted.protocols.basic import LineOnlyReceiver
class T:
    disconnecting = False
    def loseConnection(self): self.disconnecting = True
class R(LineOnlyReceiver):
    delimiter = b'\n'
    def lineReceived(self, line): self.got.append(line.hex())
for line in sys.stdin:
    case = json.loads(line)
    r = R(); r.MAX_LENGTH = case['max']; r.got = []; r.transport = T()
    for chunk in case['chunks']:
        if r.transport.disconnecting: break
        r.dataReceived(bytes.fromhex(chunk))
    print(json.dumps({'lines': r.got, 'dropped': r.transport.disconnecting}))
"#;

const NUMBERS: &[&str] = &[
    "1.5",
    "42",
    "-3",
    "+5",
    ".5",
    "5.",
    "1e3",
    "1E-3",
    "1_000",
    "1__0",
    "_1",
    "1_",
    "0x10",
    "1,5",
    "inf",
    "-Infinity",
    "NaN",
    "nan",
    "1e400",
    "-1e400",
    "\u{661}\u{662}",
    "\u{661}.\u{665}",
    "\u{66b}5",
    "1j",
    "1e",
    "e5",
    ".",
    "abc",
    "1.5\u{0}",
    "00012",
    "1e1_0",
    "\u{ff11}\u{ff12}",
    "-0",
];
const TIMESTAMPS: &[&str] = &[
    "1700000000",
    "1.7e9",
    "1700000000.75",
    "0",
    "1_700_000_000",
    "\u{661}\u{662}",
    "12abc",
    "inf",
    "nan",
];
const SPACES: &[&str] = &[
    " ", "  ", "\t", "\u{a0}", "\u{3000}", "\u{2003}", "\u{1c}", "\u{85}", "\u{b}", "\r",
];
const NAMES: &[&str] = &[
    "foo.bar",
    "m\u{e9}trique",
    "a..b",
    ".a",
    "a/b",
    "t;dc=us",
    "\u{200b}zw",
    "x",
];

fn pick<'a>(r: &mut Rng, v: &[&'a str]) -> &'a str {
    v[r.below(v.len() as u64) as usize]
}

fn random_line(r: &mut Rng) -> Vec<u8> {
    let mut fields = vec![
        pick(r, NAMES).to_owned(),
        pick(r, NUMBERS).to_owned(),
        pick(r, TIMESTAMPS).to_owned(),
    ];
    match r.below(10) {
        0 => {
            fields.pop();
        }
        1 => fields.push("extra".into()),
        _ => {}
    }
    let mut s = String::new();
    if r.chance(20) {
        s.push_str(pick(r, SPACES));
    }
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            s.push_str(pick(r, SPACES));
        }
        s.push_str(f);
    }
    if r.chance(20) {
        s.push_str(pick(r, SPACES));
    }
    let mut b = s.into_bytes();
    if r.chance(3) {
        let at = r.below(b.len() as u64 + 1) as usize;
        b.insert(at, 0xff);
    }
    b
}

#[test]
fn generated_lines_match_carbon() {
    let mut r = Rng(0x11e5_0004);
    let lines: Vec<Vec<u8>> = (0..3000).map(|_| random_line(&mut r)).collect();
    let input: String = lines.iter().map(|l| format!("{}\n", hex(l))).collect();
    let out = run_python(&sys_python(), CARBON_LINES, input.as_bytes());
    let results: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(results.len(), lines.len());
    let (mut accepted, mut raised) = (0, 0);
    for (line, want) in lines.iter().zip(&results) {
        let shown = String::from_utf8_lossy(line);
        let mut got = Vec::new();
        let mut error = false;
        match parse_line(line) {
            Ok(l) => match accept_datapoint(l.timestamp, l.value, 0.0) {
                Ok(Some((ts, v))) => got.push((l.name.to_owned(), ts, v)),
                Ok(None) => {}
                Err(_) => error = true,
            },
            Err(LineError::InvalidUtf8) => error = true,
            Err(_) => {}
        }
        // carbon raises (and Twisted drops the connection) for invalid UTF-8 and for a
        // non-finite timestamp; we report both as errors (the UTF-8 one per line).
        assert_eq!(error, want["exc"].is_string(), "{shown:?}: {want}");
        raised += usize::from(error);
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
        assert_eq!(
            got.len(),
            want_pts.len(),
            "{shown:?}: got {got:?} want {want_pts:?}"
        );
        for (g, w) in got.iter().zip(&want_pts) {
            assert_eq!(
                (g.0.as_str(), g.1.to_bits(), g.2.to_bits()),
                (w.0.as_str(), w.1.to_bits(), w.2.to_bits()),
                "{shown:?}"
            );
        }
        accepted += got.len();
    }
    assert!(accepted > 300 && raised > 50, "{accepted} {raised}");
}

#[test]
fn random_chunked_streams_match_twisted_framing() {
    let mut r = Rng(0xf4a3_0005);
    let mut cases = Vec::new();
    for c in 0..400 {
        let max = if c % 5 == 0 {
            16384
        } else {
            8 + r.below(16) as usize
        };
        let mut stream = Vec::new();
        for _ in 0..r.below(12) {
            let len = if max > 100 {
                [0, 10, 16383, 16384, 16385][r.below(5) as usize]
            } else {
                r.below(max as u64 + 4) as usize
            };
            let byte = b'a' + r.below(26) as u8;
            stream.resize(stream.len() + len, byte);
            if r.chance(90) {
                stream.push(b'\n');
            }
        }
        let mut chunks = Vec::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let n = (r.below(rest.len() as u64 + 1) as usize).max(1);
            let (a, b) = rest.split_at(n);
            chunks.push(a.to_vec());
            rest = b;
        }
        cases.push((max, chunks));
    }
    let input: String = cases
        .iter()
        .map(|(max, chunks)| {
            let hexes: Vec<String> = chunks.iter().map(|c| hex(c)).collect();
            format!("{}\n", serde_json::json!({"max": max, "chunks": hexes}))
        })
        .collect();
    let out = run_python(&sys_python(), TWISTED_FRAMING, input.as_bytes());
    let results: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(results.len(), cases.len());
    let mut dropped_cases = 0;
    for ((max, chunks), want) in cases.iter().zip(&results) {
        let mut framer = LineFramer::new(*max);
        let mut got = Vec::new();
        let mut dropped = false;
        for chunk in chunks {
            if framer.feed(chunk, |l| got.push(hex(l))).is_err() {
                dropped = true;
                break;
            }
        }
        let want_lines: Vec<String> = want["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| l.as_str().expect("hex").to_owned())
            .collect();
        assert_eq!(
            dropped,
            want["dropped"].as_bool().expect("bool"),
            "max {max}"
        );
        assert_eq!(got, want_lines, "max {max}");
        dropped_cases += usize::from(dropped);
    }
    assert!(
        dropped_cases > 20 && dropped_cases < cases.len() - 20,
        "{dropped_cases}"
    );
}

const FLOAT_PY: &str = r#"
import sys, json
for line in sys.stdin:
    s = json.loads(line)
    try:
        print(json.dumps(repr(float(s))))
    except ValueError:
        print("null")
"#;

#[test]
fn random_strings_parse_like_python_float() {
    let alphabet = [
        "0",
        "1",
        "7",
        "9",
        ".",
        "e",
        "E",
        "+",
        "-",
        "_",
        "i",
        "n",
        "f",
        "a",
        "t",
        "y",
        "I",
        "N",
        "x",
        " ",
        "\t",
        "\u{a0}",
        "\u{661}",
        "\u{ff15}",
        "\u{1d7ce}",
        "\u{2007}",
        "\u{1c}",
        "j",
    ];
    let mut r = Rng(0xf10a_0009);
    let mut cases: Vec<String> = (0..20_000)
        .map(|_| {
            (0..r.below(8) + 1)
                .map(|_| pick(&mut r, &alphabet))
                .collect()
        })
        .collect();
    for fixed in [
        "inf",
        "-Infinity",
        "+nan",
        "1_0.5_5e1_0",
        "1e309",
        "4.9e-324",
        "2.5e-324",
        "0.1",
    ] {
        cases.push(fixed.to_owned());
    }
    let input: String = cases
        .iter()
        .map(|c| format!("{}\n", serde_json::Value::from(c.as_str())))
        .collect();
    let out = run_python(&common::venv_python(), FLOAT_PY, input.as_bytes());
    let results: Vec<Option<String>> = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(results.len(), cases.len());
    let mut ok = 0;
    for (s, want) in cases.iter().zip(&results) {
        let got = proto::pyfloat::py_float(s);
        match (got, want) {
            (None, None) => {}
            (Some(g), Some(w)) => {
                let w: f64 = w.parse().expect("repr");
                assert!(
                    g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                    "{s:?}: {g} vs {w}"
                );
                ok += 1;
            }
            _ => panic!("{s:?}: ours {got:?}, python {want:?}"),
        }
    }
    assert!(ok > 1000, "{ok}");
}

const SPLIT_PY: &str = r#"
import sys, json
for line in sys.stdin:
    s = json.loads(line)
    print(json.dumps({"lines": s.splitlines(), "fields": s.split()}))
"#;

#[test]
fn random_text_splits_like_python() {
    let alphabet = [
        "a", "b", " ", "\n", "\r", "\r\n", "\u{b}", "\u{c}", "\u{1c}", "\u{1d}", "\u{1e}",
        "\u{1f}", "\u{85}", "\u{a0}", "\u{2028}", "\u{2029}", "\u{3000}", "\u{200b}", "\t", "é",
        "\u{1680}",
    ];
    let mut r = Rng(0x5711_000b);
    let cases: Vec<String> = (0..5000)
        .map(|_| (0..r.below(12)).map(|_| pick(&mut r, &alphabet)).collect())
        .collect();
    let input: String = cases
        .iter()
        .map(|c| format!("{}\n", serde_json::Value::from(c.as_str())))
        .collect();
    let out = run_python(&common::venv_python(), SPLIT_PY, input.as_bytes());
    let results: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(results.len(), cases.len());
    for (s, want) in cases.iter().zip(&results) {
        let lines: Vec<String> = proto::line::udp_lines(s.as_bytes())
            .map(|l| String::from_utf8(l.to_vec()).expect("utf8"))
            .collect();
        assert_eq!(serde_json::json!(lines), want["lines"], "{s:?}");
        let fields: Vec<&str> = proto::pytext::py_split(s).collect();
        assert_eq!(serde_json::json!(fields), want["fields"], "{s:?}");
    }
}
