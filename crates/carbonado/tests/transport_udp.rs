//! carbon-c-relay's `proto udp` servers: Carbonado running a c-relay configuration sends each
//! line as one datagram, as c-relay's server.c does (one `write` per metric on a connected UDP
//! socket). The receiver here is a plain UDP socket reading every datagram: Debian's
//! carbon-c-relay as the receiver loses datagrams of small bursts on a loaded machine even
//! from Python's `sendto`, so it cannot be the judge of completeness.

mod relay_support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relay_support::{free_port, now, Proc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_servers_get_one_datagram_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let ts = now();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp = sock.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let reader = tokio::spawn({
        let got = got.clone();
        async move {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sock.recv(&mut buf).await {
                got.lock().unwrap().push(buf[..n].to_vec());
            }
        }
    });
    let ours = free_port();
    let dir = tmp.path().join("carbonado");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("relay.conf"),
        format!("cluster u forward 127.0.0.1:{udp} proto udp;\nmatch * send to u stop;\n"),
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
    // Small groups, so that no socket buffer overflows (UDP would drop silently).
    let (groups, per) = (10, 50);
    let mut s = TcpStream::connect(("127.0.0.1", ours)).unwrap();
    for g in 0..groups {
        let text: String = (g * per..(g + 1) * per)
            .map(|i| format!("udp.m{i} {i} {ts}\n"))
            .collect();
        s.write_all(text.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let n = groups * per;
    let t0 = Instant::now();
    while got.lock().unwrap().len() < n {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "only {}/{n} datagrams arrived\n{}",
            got.lock().unwrap().len(),
            relay.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    reader.abort();
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), n, "extra datagrams");
    let mut seen = std::collections::BTreeSet::new();
    for d in &got {
        let text = std::str::from_utf8(d).unwrap();
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "not one line: {text:?}"
        );
        let f: Vec<&str> = text.trim_end().split(' ').collect();
        assert_eq!(f.len(), 3, "{text:?}");
        let i: usize = f[0].strip_prefix("udp.m").unwrap().parse().unwrap();
        assert_eq!(f[1].parse::<f64>().unwrap(), i as f64);
        assert_eq!(f[2].parse::<f64>().unwrap(), ts as f64);
        seen.insert(i);
    }
    assert_eq!(seen.len(), n);
}
