//! TLS between Carbonado's relay and Debian's carbon-c-relay 3.7.3 (built with OpenSSL), in
//! both directions, with certificates made in the test: c-relay's `cluster ... transport plain
//! ssl` server sending into our TLS `line_receiver`, and our `destination_tls` sending into
//! c-relay's `listen type linemode transport plain ssl <pem>`. Also client certificates
//! between two Carbonado relays, and garbage on a TLS listener.

mod relay_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use relay_support::sinks::CountingSink;
use relay_support::{free_port, now, Proc};

const CRELAY: &str = "/usr/bin/carbon-c-relay";

/// PEM files of a test PKI: a CA, a server certificate for 127.0.0.1, a client certificate.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    /// Certificate and key in one file, as carbon-c-relay's `ssl <pemfile>` wants.
    server_pem: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A CA that signed nothing here (for rejection checks).
    other_ca: PathBuf,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (p.self_signed(&key).unwrap(), key)
}

fn pki(dir: &Path) -> Pki {
    let (ca_cert, ca_key) = ca("carbonado test CA");
    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        p.extended_key_usages = vec![usage];
        (p.signed_by(&key, &ca_cert, &ca_key).unwrap(), key)
    };
    let (srv, srv_key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (cli, cli_key) = leaf(vec!["client".into()], ExtendedKeyUsagePurpose::ClientAuth);
    let (other, _) = ca("unrelated CA");
    let w = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: w("ca.pem", ca_cert.pem()),
        server_cert: w("server.crt", srv.pem()),
        server_key: w("server.key", srv_key.serialize_pem()),
        server_pem: w(
            "server.pem",
            format!("{}{}", srv.pem(), srv_key.serialize_pem()),
        ),
        client_cert: w("client.crt", cli.pem()),
        client_key: w("client.key", cli_key.serialize_pem()),
        other_ca: w("other-ca.pem", other.pem()),
    }
}

struct Killed(Child, PathBuf);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Killed {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

fn start_crelay(dir: &Path, conf: &str, port: u16, ca: &Path) -> Killed {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("relay.conf"), conf).unwrap();
    let log_path = dir.join("relay.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(CRELAY)
        .arg("-f")
        .arg(dir.join("relay.conf"))
        .arg("-H")
        .arg("testhost")
        // CA for verifying the servers c-relay connects to.
        .arg("-C")
        .arg(ca)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("carbon-c-relay (apt-get install carbon-c-relay)");
    let c = Killed(child, log_path);
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err()
        || !c.log().contains("startup sequence complete")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "carbon-c-relay did not start: {}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    c
}

fn relay_toml(dir: &Path, listen: u16, dest: u16, extra: &str) -> String {
    format!(
        "[cache]\nenabled = false\nlocal_data_dir = \"{d}/data\"\n\
         [web]\nenabled = false\n\
         [relay]\nenabled = true\nline_receiver = \"127.0.0.1:{listen}\"\npickle_receiver = \"\"\n\
         destinations = [\"127.0.0.1:{dest}\"]\ndestination_protocol = \"line\"\n\
         carbon_metric_interval = \"0s\"\n{extra}\n",
        d = dir.display()
    )
}

/// A Carbonado relay whose line receiver speaks TLS with the test's server certificate (plus
/// the `more` settings), forwarding to `dest`; returns it and its line port.
fn tls_relay(dir: &Path, pki: &Pki, dest: u16, more: &str) -> (Proc, u16) {
    let port = free_port();
    let extra = format!(
        "line_receiver_tls_cert_file = \"{}\"\nline_receiver_tls_key_file = \"{}\"\n{more}",
        pki.server_cert.display(),
        pki.server_key.display()
    );
    (
        Proc::start(dir, &relay_toml(dir, port, dest, &extra), port),
        port,
    )
}

fn lines(prefix: &str, n: usize, ts: i64) -> String {
    (0..n)
        .map(|i| format!("{prefix}.m{i} {i} {ts}\n"))
        .collect()
}

/// Waits for `want` points in `sink`; checks they are exactly the lines sent.
fn expect_all(sink: &CountingSink, prefix: &str, n: usize, ts: i64, log: &dyn Fn() -> String) {
    let t0 = Instant::now();
    while sink.count() < n {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{prefix}: only {}/{n} points arrived\n{}",
            sink.count(),
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (got, dups) = sink.distinct();
    assert_eq!(dups, 0, "{prefix}: duplicates");
    assert_eq!(got.len(), n, "{prefix}");
    for i in 0..n {
        let v = got.get(&(format!("{prefix}.m{i}"), (ts as f64).to_bits()));
        assert_eq!(v, Some(&(i as f64)), "{prefix}.m{i}");
    }
}

fn send_plain(port: u16, text: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(text.as_bytes()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carbon_c_relay_sends_over_tls_into_our_listener() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let ts = now();
    let sink = CountingSink::start(false).await;
    let (relay, ours) = tls_relay(&tmp.path().join("carbonado"), &pki, sink.addr.port(), "");
    let theirs = free_port();
    let conf = format!(
        "listen type linemode 127.0.0.1:{theirs} proto tcp;\n\
         cluster tls forward 127.0.0.1:{ours} transport plain ssl;\n\
         match * send to tls stop;\n"
    );
    let crelay = start_crelay(&tmp.path().join("crelay"), &conf, theirs, &pki.ca);
    let n = 20_000;
    send_plain(theirs, &lines("from.crelay", n, ts));
    expect_all(&sink, "from.crelay", n, ts, &|| {
        format!("c-relay: {}\ncarbonado: {}", crelay.log(), relay.log())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_relay_sends_over_tls_into_carbon_c_relay() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let ts = now();
    let sink = CountingSink::start(false).await;
    let theirs = free_port();
    let conf = format!(
        "listen type linemode transport plain ssl {pem} 127.0.0.1:{theirs} proto tcp;\n\
         cluster sink forward 127.0.0.1:{sink};\n\
         match * send to sink stop;\n",
        pem = pki.server_pem.display(),
        sink = sink.addr.port()
    );
    let crelay = start_crelay(&tmp.path().join("crelay"), &conf, theirs, &pki.ca);
    let ours = free_port();
    let extra = format!(
        "destination_tls = true\ndestination_tls_ca_file = \"{}\"\n",
        pki.ca.display()
    );
    let dir = tmp.path().join("carbonado");
    let relay = Proc::start(&dir, &relay_toml(&dir, ours, theirs, &extra), ours);
    let n = 20_000;
    send_plain(ours, &lines("to.crelay", n, ts));
    expect_all(&sink, "to.crelay", n, ts, &|| {
        format!("c-relay: {}\ncarbonado: {}", crelay.log(), relay.log())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carbon_c_relay_config_with_ssl_servers_is_followed() {
    // Carbonado running a c-relay configuration whose cluster member says `transport plain ssl`
    // (verified with destination_tls_ca_file), into a Carbonado TLS listener.
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let ts = now();
    let sink = CountingSink::start(false).await;
    let (backend, back) = tls_relay(&tmp.path().join("back"), &pki, sink.addr.port(), "");
    let front = free_port();
    let fdir = tmp.path().join("front");
    std::fs::create_dir_all(&fdir).unwrap();
    std::fs::write(
        fdir.join("relay.conf"),
        format!(
            "cluster tls forward 127.0.0.1:{back} transport plain ssl;\nmatch * send to tls stop;\n"
        ),
    )
    .unwrap();
    let toml = format!(
        "[cache]\nenabled = false\nlocal_data_dir = \"{d}/data\"\n[web]\nenabled = false\n\
         [relay]\nenabled = true\nline_receiver = \"127.0.0.1:{front}\"\npickle_receiver = \"\"\n\
         relay_method = \"carbon-c-relay\"\ncrelay_config = \"relay.conf\"\n\
         destination_tls_ca_file = \"{ca}\"\ncarbon_metric_interval = \"0s\"\n",
        d = fdir.display(),
        ca = pki.ca.display()
    );
    let frontend = Proc::start(&fdir, &toml, front);
    let check = Command::new(env!("CARGO_BIN_EXE_carbonado"))
        .arg("check-config")
        .arg(fdir.join("carbonado.toml"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&check.stdout);
    assert!(
        table.contains(&format!("127.0.0.1:{back} transport plain ssl")),
        "{table}"
    );
    let n = 5_000;
    send_plain(front, &lines("crelay.conf.ssl", n, ts));
    expect_all(&sink, "crelay.conf.ssl", n, ts, &|| {
        format!("front: {}\nback: {}", frontend.log(), backend.log())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_and_garbage_closes_only_its_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let ts = now();
    let sink = CountingSink::start(false).await;
    let more = format!(
        "line_receiver_transport = \"gzip\"\nline_receiver_tls_client_ca_file = \"{}\"\n",
        pki.ca.display()
    );
    let (backend, back) = tls_relay(&tmp.path().join("back"), &pki, sink.addr.port(), &more);

    // Plaintext garbage on the TLS port: that connection is closed.
    let mut bad = TcpStream::connect(("127.0.0.1", back)).unwrap();
    bad.write_all(b"garbage.metric 1 1700000000\n").unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 256];
    let mut closed = false;
    for _ in 0..20 {
        match bad.read(&mut buf) {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {} // a TLS alert, then the close
        }
    }
    assert!(closed, "garbage connection left open");

    // A TLS client without a certificate is refused.
    let connector = transport::tls::ClientFiles {
        ca_file: Some(pki.ca.clone()),
        ..Default::default()
    }
    .connector()
    .unwrap();
    let refused = async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", back)).await?;
        let name = transport::tls::server_name("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tls.write_all(b"x").await?;
        tls.flush().await?;
        let mut b = [0u8; 1];
        tls.read(&mut b).await
    };
    let r = tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .expect("no answer to a client without certificate");
    assert!(
        matches!(r, Ok(0) | Err(_)),
        "a client without certificate was served: {r:?}"
    );

    // A relay that trusts the wrong CA refuses our server: nothing arrives from it.
    let wrong = free_port();
    let wdir = tmp.path().join("wrong");
    let extra_wrong = format!(
        "destination_transport = \"gzip\"\ndestination_tls = true\n\
         destination_tls_ca_file = \"{}\"\n\
         destination_tls_cert_file = \"{}\"\ndestination_tls_key_file = \"{}\"\n",
        pki.other_ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let _wrong_relay = Proc::start(&wdir, &relay_toml(&wdir, wrong, back, &extra_wrong), wrong);
    send_plain(wrong, &lines("untrusted", 100, ts));

    // A relay with a client certificate, gzip inside TLS, gets everything through.
    let front = free_port();
    let fdir = tmp.path().join("front");
    let extra_front = format!(
        "destination_transport = \"gzip\"\ndestination_tls = true\n\
         destination_tls_ca_file = \"{}\"\n\
         destination_tls_cert_file = \"{}\"\ndestination_tls_key_file = \"{}\"\n",
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let frontend = Proc::start(&fdir, &relay_toml(&fdir, front, back, &extra_front), front);
    let n = 10_000;
    send_plain(front, &lines("mtls", n, ts));
    expect_all(&sink, "mtls", n, ts, &|| {
        format!("front: {}\nback: {}", frontend.log(), backend.log())
    });
}

#[test]
fn check_config_shows_transports_and_rejects_unusable_tls_files() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let base = relay_toml(tmp.path(), free_port(), free_port(), "");
    let check = |extra: &str| {
        let path = tmp.path().join("carbonado.toml");
        std::fs::write(&path, format!("{base}{extra}")).unwrap();
        Command::new(env!("CARGO_BIN_EXE_carbonado"))
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap()
    };
    let ok = check(&format!(
        "line_receiver_transport = \"lz4\"\nline_receiver_tls_cert_file = \"{}\"\n\
         line_receiver_tls_key_file = \"{}\"\ndestination_transport = \"snappy\"\n\
         destination_tls = true\ndestination_tls_ca_file = \"{}\"\n",
        pki.server_cert.display(),
        pki.server_key.display(),
        pki.ca.display()
    ));
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.contains("(lz4+tls)"), "{out}");
    assert!(out.contains("line over snappy+tls"), "{out}");

    // c-relay's combined PEM (certificate and key in one file) needs no key file.
    let ok = check(&format!(
        "line_receiver_tls_cert_file = \"{}\"\n",
        pki.server_pem.display()
    ));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    for (extra, needle) in [
        (
            "line_receiver_tls_cert_file = \"missing.pem\"\n".to_string(),
            "missing.pem",
        ),
        (
            format!(
                "line_receiver_tls_cert_file = \"{}\"\n",
                pki.server_cert.display()
            ),
            "server.crt",
        ),
        ("destination_transport = \"zstd\"\n".to_string(), "zstd"),
        (
            format!(
                "destination_tls = true\ndestination_tls_ca_file = \"{}\"\n",
                pki.server_key.display()
            ),
            "server.key",
        ),
    ] {
        let bad = check(&extra);
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(!bad.status.success(), "accepted: {extra}");
        assert!(err.contains(needle), "{extra}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_only_tls_client_that_closes_at_once_loses_nothing() {
    // Senders like carbon-c-relay never read. Anything the server sends after the handshake
    // (TLS 1.3 session tickets) stays unread in their socket, and their close then becomes a
    // reset that discards what the server had not read yet.
    use tokio::io::AsyncWriteExt;
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let ts = now();
    let sink = CountingSink::start(false).await;
    let (relay, port) = tls_relay(&tmp.path().join("carbonado"), &pki, sink.addr.port(), "");
    let connector = transport::tls::ClientFiles {
        ca_file: Some(pki.ca.clone()),
        ..Default::default()
    }
    .connector()
    .unwrap();
    let n = 300_000;
    for part in 0..3 {
        let text: String = (part * n / 3..(part + 1) * n / 3)
            .map(|i| format!("write.only.m{i} {i} {ts}\n"))
            .collect();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = transport::tls::server_name("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(text.as_bytes()).await.unwrap();
        tls.shutdown().await.unwrap();
        drop(tls);
    }
    expect_all(&sink, "write.only", n, ts, &|| relay.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carbon_c_relay_config_listen_statement_sets_tls_on_the_line_receiver() {
    // Carbonado runs a c-relay file whose `listen type linemode transport plain ssl <pem>` is on
    // line_receiver's port, with no line_receiver_tls_* keys: the real carbon-c-relay sends
    // into it over TLS.
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let ts = now();
    let sink = CountingSink::start(false).await;
    let ours = free_port();
    let dir = tmp.path().join("carbonado");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("relay.conf"),
        format!(
            "listen type linemode transport plain ssl {pem} 127.0.0.1:{ours} proto tcp;\n\
             cluster out forward 127.0.0.1:{sink};\nmatch * send to out stop;\n",
            pem = pki.server_pem.display(),
            sink = sink.addr.port()
        ),
    )
    .unwrap();
    let toml = format!(
        "[cache]\nenabled = false\nlocal_data_dir = \"{d}/data\"\n[web]\nenabled = false\n\
         [relay]\nenabled = true\nline_receiver = \"127.0.0.1:{ours}\"\npickle_receiver = \"\"\n\
         relay_method = \"carbon-c-relay\"\ncrelay_config = \"relay.conf\"\n\
         carbon_metric_interval = \"0s\"\n",
        d = dir.display()
    );
    let relay = Proc::start(&dir, &toml, ours);
    let check = Command::new(env!("CARGO_BIN_EXE_carbonado"))
        .arg("check-config")
        .arg(dir.join("carbonado.toml"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(out.contains("(plain+tls)"), "{out}");

    let theirs = free_port();
    let conf = format!(
        "listen type linemode 127.0.0.1:{theirs} proto tcp;\n\
         cluster tls forward 127.0.0.1:{ours} transport plain ssl;\n\
         match * send to tls stop;\n"
    );
    let crelay = start_crelay(&tmp.path().join("crelay"), &conf, theirs, &pki.ca);
    let n = 5_000;
    send_plain(theirs, &lines("listen.ssl", n, ts));
    expect_all(&sink, "listen.ssl", n, ts, &|| {
        format!("c-relay: {}\ncarbonado: {}", crelay.log(), relay.log())
    });
}
