//! gzip, lz4 (frame format) and snappy (framing format) on a `carbonado serve` relay, checked
//! against the formats' reference implementations in Python (`zlib`, PyPI `lz4.frame`,
//! `python-snappy`): a Python sender compresses lines into our `line_receiver`, and our relay
//! compresses towards a Python receiver that decompresses them. Every line must arrive, and
//! garbage on a compressed listener closes only its own connection.

mod relay_support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use relay_support::sinks::CountingSink;
use relay_support::{free_port, now, python, Proc};

const CODECS: [&str; 3] = ["gzip", "lz4", "snappy"];

/// Sends `n` lines `<prefix>.m<i> <i> <ts>` compressed with the reference codec, in batches of
/// 500 lines, each flushed; lz4 sends half as one streamed (linked-block) frame and half as
/// one frame per batch, the way carbon-c-relay writes it.
const SENDER: &str = r#"
import socket, sys, zlib
codec, port, n, prefix, ts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
lines = ["%s.m%d %d %s\n" % (prefix, i, i, ts) for i in range(n)]
chunks = ["".join(lines[i:i + 500]).encode() for i in range(0, n, 500)]
s = socket.create_connection(("127.0.0.1", port))
if codec == "gzip":
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    for ch in chunks:
        s.sendall(c.compress(ch) + c.flush(zlib.Z_SYNC_FLUSH))
    s.sendall(c.flush())
elif codec == "lz4":
    import lz4.frame
    half = len(chunks) // 2
    c = lz4.frame.LZ4FrameCompressor(block_linked=True, block_size=lz4.frame.BLOCKSIZE_MAX64KB)
    s.sendall(c.begin())
    for ch in chunks[:half]:
        s.sendall(c.compress(ch))
    s.sendall(c.flush())
    for ch in chunks[half:]:
        s.sendall(lz4.frame.compress(ch))
elif codec == "snappy":
    import snappy
    c = snappy.StreamCompressor()
    for ch in chunks:
        s.sendall(c.add_chunk(ch))
else:
    sys.exit("unknown codec " + codec)
s.close()
"#;

/// Accepts connections, decompresses each with the reference codec and appends complete
/// lines to the output file; writes its port to the port file once listening.
const RECEIVER: &str = r#"
import os, socket, sys, threading, zlib
codec, portfile, outfile = sys.argv[1], sys.argv[2], sys.argv[3]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
lock = threading.Lock()
out = open(outfile, "ab")

def decoder():
    if codec == "gzip":
        d = zlib.decompressobj(31)
        return d.decompress
    if codec == "lz4":
        import lz4.frame
        st = [lz4.frame.LZ4FrameDecompressor()]
        def frames(b):
            res = b""
            while b:
                res += st[0].decompress(b)
                if st[0].eof:
                    b = st[0].unused_data
                    st[0] = lz4.frame.LZ4FrameDecompressor()
                else:
                    b = b""
            return res
        return frames
    if codec == "snappy":
        import snappy
        return snappy.StreamDecompressor().decompress
    sys.exit("unknown codec " + codec)

def serve(c):
    dec, pending = decoder(), b""
    while True:
        b = c.recv(65536)
        if not b:
            break
        pending += dec(b)
        cut = pending.rfind(b"\n") + 1
        if cut:
            with lock:
                out.write(pending[:cut])
                out.flush()
            pending = pending[cut:]

while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

fn expected(prefix: &str, n: usize, ts: i64) -> BTreeSet<(String, i64, i64)> {
    (0..n)
        .map(|i| (format!("{prefix}.m{i}"), i as i64, ts))
        .collect()
}

fn py_send(codec: &str, port: u16, n: usize, prefix: &str, ts: i64) {
    let out = Command::new(python())
        .arg("-c")
        .arg(SENDER)
        .args([
            codec,
            &port.to_string(),
            &n.to_string(),
            prefix,
            &ts.to_string(),
        ])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "python {codec} sender: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until `sink` holds `want` points, then returns them as (metric, value, ts).
fn collect(sink: &CountingSink, want: usize, what: &str) -> BTreeSet<(String, i64, i64)> {
    let t0 = Instant::now();
    while sink.count() < want {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{what}: only {}/{want} points arrived",
            sink.count()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let got = sink.got.lock().unwrap().clone();
    assert_eq!(got.len(), want, "{what}: duplicates or strays");
    got.into_iter()
        .map(|(m, t, v)| (m, v as i64, t as i64))
        .collect()
}

/// A Carbonado relay whose line receiver takes `codec`, forwarding to `dest`; returns it and
/// its line port.
fn compressed_relay(dir: &Path, codec: &str, dest: u16) -> (Proc, u16) {
    let port = free_port();
    let extra = format!("line_receiver_transport = \"{codec}\"\n");
    (
        Proc::start(dir, &relay_toml(dir, port, dest, &extra), port),
        port,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_reference_compressors_send_into_our_listener() {
    let tmp = tempfile::tempdir().unwrap();
    let ts = now();
    for codec in CODECS {
        let sink = CountingSink::start(false).await;
        let (mut relay, port) = compressed_relay(&tmp.path().join(codec), codec, sink.addr.port());
        let n = 20_000;
        let prefix = format!("in.{codec}");
        tokio::task::spawn_blocking({
            let prefix = prefix.clone();
            let codec = codec.to_string();
            move || py_send(&codec, port, n, &prefix, ts)
        })
        .await
        .unwrap();
        let got = collect(&sink, n, codec);
        assert_eq!(got, expected(&prefix, n, ts), "{codec}");
        relay.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_relay_compresses_for_python_reference_decompressors() {
    let tmp = tempfile::tempdir().unwrap();
    for codec in CODECS {
        compress_to_python(tmp.path(), codec, false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carbon_c_relay_config_servers_with_transport_are_compressed() {
    let tmp = tempfile::tempdir().unwrap();
    for codec in CODECS {
        compress_to_python(tmp.path(), codec, true);
    }
}

/// Our relay sends 30000 lines to a Python receiver decompressing `codec`; the compression is
/// asked for by `destination_transport`, or with `crelay` by a carbon-c-relay configuration's
/// `cluster ... <host:port> transport <codec>`.
fn compress_to_python(tmp: &Path, codec: &str, crelay: bool) {
    let ts = now();
    let dir = tmp.join(format!("{codec}-{crelay}"));
    std::fs::create_dir_all(&dir).unwrap();
    let (portfile, outfile) = (dir.join("port"), dir.join("received.txt"));
    let _receiver = Killed(
        Command::new(python())
            .arg("-c")
            .arg(RECEIVER)
            .arg(codec)
            .arg(&portfile)
            .arg(&outfile)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python"),
    );
    let t0 = Instant::now();
    let dest: u16 = loop {
        if let Ok(p) = std::fs::read_to_string(&portfile) {
            break p.trim().parse().unwrap();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{codec} receiver did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let port = free_port();
    let extra = if crelay {
        std::fs::write(
            dir.join("relay.conf"),
            format!(
                "cluster z forward 127.0.0.1:{dest} transport {codec};\nmatch * send to z stop;\n"
            ),
        )
        .unwrap();
        "relay_method = \"carbon-c-relay\"\ncrelay_config = \"relay.conf\"\n".to_string()
    } else {
        format!("destination_transport = \"{codec}\"\n")
    };
    let mut relay = Proc::start(&dir, &relay_toml(&dir, port, dest, &extra), port);
    let n = 30_000;
    let prefix = format!("out.{codec}");
    // Several connections and writes, so the sender's stream spans many batches.
    for part in 0..3 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut buf = String::new();
        for i in (part * n / 3)..((part + 1) * n / 3) {
            buf.push_str(&format!("{prefix}.m{i} {i} {ts}\n"));
        }
        s.write_all(buf.as_bytes()).unwrap();
    }
    let t0 = Instant::now();
    let got = loop {
        let text = std::fs::read_to_string(&outfile).unwrap_or_default();
        if text.lines().count() >= n {
            break text;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{codec}: only {}/{n} lines decoded by the reference: {}",
            text.lines().count(),
            relay.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let lines: Vec<(String, i64, i64)> = got
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 3, "{codec}: bad line {l:?}");
            let v: f64 = f[1].parse().unwrap();
            let t: f64 = f[2].parse().unwrap();
            (f[0].to_string(), v as i64, t as i64)
        })
        .collect();
    assert_eq!(lines.len(), n, "{codec}: duplicates");
    let set: BTreeSet<_> = lines.into_iter().collect();
    assert_eq!(set, expected(&prefix, n, ts), "{codec}");
    relay.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_a_compressed_listener_closes_only_that_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let ts = now();
    for codec in CODECS {
        let sink = CountingSink::start(false).await;
        let (mut relay, port) = compressed_relay(&tmp.path().join(codec), codec, sink.addr.port());
        // A good connection opened first stays open across the bad one.
        let mut good = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let first = compress(codec, &format!("good.{codec}.a 1 {ts}\n"));
        good.write_all(&first.0).unwrap();

        let mut bad = TcpStream::connect(("127.0.0.1", port)).unwrap();
        bad.write_all(b"this.is.not.compressed 1 1700000000\n")
            .unwrap();
        bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut byte = [0u8; 1];
        let closed = matches!(bad.read(&mut byte), Ok(0) | Err(_));
        assert!(closed, "{codec}: the garbage connection was not closed");

        // The rest of the good stream still decodes on the same connection.
        good.write_all(&first.1).unwrap();
        drop(good);
        let got = collect(&sink, 2, codec);
        let want: BTreeSet<_> = [
            (format!("good.{codec}.a"), 1, ts),
            (format!("good.{codec}.b"), 2, ts),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want, "{codec}");
        relay.stop();
    }
}

/// A stream of `codec` in two parts: `line` first, then a second line `...b 2 ts` (the
/// continuation of the same stream).
fn compress(codec: &str, line: &str) -> (Vec<u8>, Vec<u8>) {
    let second = line.replace(".a 1 ", ".b 2 ");
    let mut enc = transport_encoder(codec);
    let mut a = Vec::new();
    enc.encode(line.as_bytes(), &mut a).unwrap();
    let mut b = Vec::new();
    enc.encode(second.as_bytes(), &mut b).unwrap();
    (a, b)
}

fn transport_encoder(codec: &str) -> transport::Encoder {
    transport::Encoder::new(codec.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_line_receiver_takes_compressed_input_too() {
    let tmp = tempfile::tempdir().unwrap();
    let ts = now();
    let (line, pickle) = (free_port(), free_port());
    let dir = tmp.path().join("cache");
    let toml = format!(
        "{}line_receiver_transport = \"snappy\"\n",
        relay_support::cache_config(&dir, line, pickle)
    );
    let mut cache = Proc::start(&dir, &toml, line);
    let n = 300;
    tokio::task::spawn_blocking(move || py_send("snappy", line, n, "cached.snappy", ts))
        .await
        .unwrap();
    // Wait until every metric has its file (the points were received), then SIGTERM, which
    // writes what is still cached before exiting.
    let data = dir.join("data").join("cached").join("snappy");
    let t0 = Instant::now();
    while std::fs::read_dir(&data).map(|d| d.count()).unwrap_or(0) < n {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "whisper files missing: {}",
            cache.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    cache.stop();
    let tree = relay_support::read_tree(&dir.join("data"));
    for i in 0..n {
        let name = format!("cached.snappy.m{i}");
        assert_eq!(tree.get(&name), Some(&vec![(ts, i as f64)]), "{name}");
    }
    assert_eq!(tree.len(), n);
}
