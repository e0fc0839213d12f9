//! Configurations carbon-c-relay 3.7.3 refuses (`-t -t`) are refused by us on the same line,
//! and the ones it accepts we accept.

use std::path::Path;
use std::process::Command;

use crelay::{parse_str, Error};

const CRELAY: &str = "/usr/bin/carbon-c-relay";

/// Configurations carbon-c-relay refuses.
const INVALID: &[&str] = &[
    "cluster a forward 1.2.3.4;\nmatch * send to b;\n",
    "cluster a forward 1.2.3.4;\ncluster a forward 1.2.3.5;\n",
    "cluster a forward 1.2.3.4;\nmatch ^(a send to a;\n",
    "cluster a forward 1.2.3.4",
    "cluster c carbon_ch replication 0 1.2.3.4;\n",
    "cluster c carbon_ch replication 300 1.2.3.4;\n",
    "cluster a forward 1.2.3.4;\naggregate ^a every 60 seconds expire after 30 seconds compute sum write to x send to a;\n",
    "cluster a forward 1.2.3.4;\naggregate ^a every 60 seconds expire after 90 seconds compute percentile0 write to x send to a;\n",
    "cluster a forward 1.2.3.4;\naggregate ^a every 60 seconds expire after 90 seconds compute foo write to x send to a;\n",
    "cluster a forward 1.2.3.4;\naggregate ^a every 60 seconds expire after 90 seconds compute sum write to x stop;\n",
    "cluster a any_of 1.2.3.4:2003 1.2.3.5:2003;\ncluster b failover 1.2.3.4:2003;\n",
    "cluster b forward 1.2.3.4:2003;\ncluster a any_of 1.2.3.4:2003 1.2.3.5:2003;\n",
    "cluster a any_of 1.2.3.4:2003 1.2.3.4:2003;\n",
    "cluster a round_robin 1.2.3.4;\n",
    "cluster a forward 1.2.3.4;\nmatch * ^a send to a;\n",
    "cluster a forward 1.2.3.4:99999;\n",
    "cluster c carbon_ch replication 3 1.2.3.4 1.2.3.5;\n",
    "rewrite ^a into ;\n",
    "cluster a forward 1.2.3.4;\nmatch ^a send to a blackhole;\n",
    "cluster a forward 1.2.3.4;\nmatch ^a send to blackhole a;\n",
    "cluster a forward 1.2.3.4;\n\n  match ^a\n    send to\n      a\n      nosuch\n  ;\n",
    "cluster a forward 1.2.3.4;\nmatch ^a validate ^x else explode send to a;\n",
    "cluster a forward 1.2.3.4;\nstatistics submit every 0 seconds;\n",
    "cluster a forward 1.2.3.4;\nstatistics send to a;\nsend statistics to a;\n",
    "cluster a forward 1.2.3.4;\naggregate ^a every 60 seconds expire after 60 seconds compute sum write to x send to a;\n",
    "cluster a forward 1.2.3.4;\nmatch ^a send to a stop stop;\n",
    "cluster a forward 1.2.3.4;\nmatch ^a send to a;;\n",
    "cluster a forward 1.2.3.4;\n# comment ; here\nmatch ^a send to a\ncluster b forward 1.2.3.5;\n",
];

/// Configurations carbon-c-relay accepts, some of them surprising.
const VALID: &[&str] = &[
    "cluster a any_of 1.2.3.4:2003 1.2.3.5:2003;\ncluster b forward 1.2.3.4:2003;\n",
    "cluster a failover 1.2.3.4:2003 1.2.3.5:2003;\ncluster b carbon_ch 1.2.3.4:2003;\n",
    "cluster a any_of 1.2.3.4:2003 1.2.3.5:2003;\ncluster b any_of 1.2.3.4:2003 proto udp;\n",
    "cluster a forward 1.2.3.4:2003=x;\n",
    "cluster a forward 1.2.3.4 1.2.3.4;\n",
    "cluster a carbon_ch 1.2.3.4:2003=x 1.2.3.5:2003=x;\n",
    "cluster lb any_of 10.4.0.1:2003 10.4.0.2:2003;\nmatch ^apps\\.(web)\\. route using apps.\\1 send to lb;\n",
    "cluster a forward 1.2.3.4;\nmatch * validate ^[0-9]+\\ [0-9]+$ else log;\nmatch \"^a b\" send to a stop;\n",
    "cluster a fnv1a_ch replication 2 [::1]:2003 10.0.0.1:2004=i1 host.example:2005 proto udp type linemode;\n\
     aggregate ^x\\.(.*) ^y\\.(.*) every 10 seconds expire after 20 seconds timestamp at middle of bucket\n\
       compute median write to m.\\1 compute stddev write to s.\\1 compute variance write to v.\\1\n\
       compute cnt write to c.\\1 compute avg write to a.\\1 compute percentile99 write to p.\\1;\n\
     statistics submit every 30 seconds reset counters after interval prefix with carbon.relays.\\_2 send to a stop;\n\
     listen type linemode 2003 proto tcp 127.0.0.1:2004 proto udp [::1]:2005 proto tcp /tmp/x.sock proto unix;\n",
];

/// Runs c-relay's config check: Ok(()) when accepted, Err(line) with the line it reports.
fn crelay_check(dir: &Path, text: &str) -> Result<(), usize> {
    let conf = dir.join("c.conf");
    std::fs::write(&conf, text).unwrap();
    let out = Command::new(CRELAY)
        .args(["-t", "-t", "-f"])
        .arg(&conf)
        .output()
        .expect("carbon-c-relay must be installed (scripts/test.sh installs it)");
    let code = out
        .status
        .code()
        .expect("carbon-c-relay crashed on a test config");
    if code == 0 {
        return Ok(());
    }
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = all
        .split("c.conf:")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no position in c-relay's message: {all}"));
    Err(line)
}

fn ours(text: &str) -> Result<(), Error> {
    parse_str(text, Path::new("c.conf"), Path::new(".")).map(|_| ())
}

#[test]
fn refuses_what_c_relay_refuses_on_the_same_line() {
    let dir = tempfile::tempdir().unwrap();
    for text in INVALID {
        let line = match crelay_check(dir.path(), text) {
            Err(line) => line,
            Ok(()) => panic!("c-relay accepts {text:?}; fix the test case"),
        };
        let err = ours(text).expect_err(text);
        let pos = err.pos().unwrap_or_else(|| panic!("no position in {err}"));
        assert_eq!(pos.line, line, "{text:?}: ours {err}");
        assert!(
            err.to_string().starts_with(&format!("c.conf:{line}:")),
            "{err}"
        );
    }
}

#[test]
fn accepts_what_c_relay_accepts() {
    let dir = tempfile::tempdir().unwrap();
    for text in VALID {
        assert_eq!(
            crelay_check(dir.path(), text),
            Ok(()),
            "c-relay refuses {text:?}"
        );
        if let Err(e) = ours(text) {
            panic!("we refuse {text:?}: {e}");
        }
    }
}
