//! Test support: counting sinks (real TCP servers on 127.0.0.1 that decode what arrives).
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What a sink received: (metric, timestamp, value) in arrival order.
pub type Received = Arc<Mutex<Vec<(String, f64, f64)>>>;

/// A TCP server that decodes pickle frames (carbon-relay's format) or plaintext lines.
pub struct CountingSink {
    pub addr: SocketAddr,
    pub got: Received,
    pickle: bool,
    task: Option<JoinHandle<()>>,
}

impl CountingSink {
    pub async fn start(pickle: bool) -> CountingSink {
        Self::start_on("127.0.0.1", pickle).await
    }

    /// Starts on a chosen loopback address (127.0.0.2 ... give distinct hosts).
    pub async fn start_on(host: &str, pickle: bool) -> CountingSink {
        let listener = TcpListener::bind((host, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got: Received = Arc::default();
        let task = Some(tokio::spawn(serve(listener, got.clone(), pickle)));
        CountingSink {
            addr,
            got,
            pickle,
            task,
        }
    }

    /// Kills the server: listener and every connection closed at once, unread bytes lost.
    pub fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Starts again on the same port.
    pub async fn restart(&mut self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        self.task = Some(tokio::spawn(serve(listener, self.got.clone(), self.pickle)));
    }

    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Distinct (metric, timestamp) -> value, and how many duplicates arrived.
    pub fn distinct(&self) -> (HashMap<(String, u64), f64>, usize) {
        let got = self.got.lock().unwrap();
        let mut map = HashMap::new();
        let mut dups = 0;
        for (m, t, v) in got.iter() {
            if map.insert((m.clone(), t.to_bits()), *v).is_some() {
                dups += 1;
            }
        }
        (map, dups)
    }
}

impl Drop for CountingSink {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `pickle` is what the sink expects; a connection whose first byte is printable is read as
/// plaintext anyway (carbon-c-relay sends lines), one starting with 0 (a frame length) as pickle.
async fn serve(listener: TcpListener, got: Received, _pickle: bool) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let got = got.clone();
        conns.spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 64 << 10];
            let mut pickle = None;
            loop {
                let n = match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let pickle = *pickle.get_or_insert(chunk[0] == 0);
                buf.extend_from_slice(&chunk[..n]);
                let used = if pickle {
                    take_frames(&buf, &got)
                } else {
                    take_lines(&buf, &got)
                };
                buf.drain(..used);
            }
        });
    }
}

fn take_lines(buf: &[u8], got: &Received) -> usize {
    let mut used = 0;
    let mut out = got.lock().unwrap();
    while let Some(nl) = buf[used..].iter().position(|&b| b == b'\n') {
        let line = std::str::from_utf8(&buf[used..used + nl]).expect("utf8 line");
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 3, "bad line {line:?}");
        out.push((
            f[0].to_string(),
            f[2].parse().unwrap(),
            f[1].parse().unwrap(),
        ));
        used += nl + 1;
    }
    used
}

fn take_frames(buf: &[u8], got: &Received) -> usize {
    let mut used = 0;
    let mut out = got.lock().unwrap();
    while buf.len() - used >= 4 {
        let len = u32::from_be_bytes(buf[used..used + 4].try_into().unwrap()) as usize;
        assert!(len <= 1 << 20, "frame over carbon's 1 MiB limit");
        if buf.len() - used - 4 < len {
            break;
        }
        decode_pickle(&buf[used + 4..used + 4 + len], &mut out);
        used += 4 + len;
    }
    used
}

/// Decodes the protocol-2 list of (metric, (ts, value)) with the opcodes carbon-relay uses.
pub fn decode_pickle(p: &[u8], out: &mut Vec<(String, f64, f64)>) {
    enum V {
        S(String),
        F(f64),
        T(Vec<V>),
        Mark,
        List,
    }
    let mut st: Vec<V> = Vec::new();
    let mut i = 0;
    let f8 = |b: &[u8]| f64::from_be_bytes(b.try_into().unwrap());
    loop {
        let op = p[i];
        i += 1;
        match op {
            0x80 => i += 1,
            b']' => st.push(V::List),
            b'(' => st.push(V::Mark),
            b'X' => {
                let n = u32::from_le_bytes(p[i..i + 4].try_into().unwrap()) as usize;
                st.push(V::S(
                    String::from_utf8(p[i + 4..i + 4 + n].to_vec()).unwrap(),
                ));
                i += 4 + n;
            }
            b'G' => {
                st.push(V::F(f8(&p[i..i + 8])));
                i += 8;
            }
            0x86 => {
                let b = st.pop().unwrap();
                let a = st.pop().unwrap();
                st.push(V::T(vec![a, b]));
            }
            b'q' => i += 1,
            b'e' | b'a' => {
                let mut items = Vec::new();
                while let Some(v) = st.pop() {
                    match v {
                        V::Mark => break,
                        V::List => {
                            st.push(V::List);
                            break;
                        }
                        other => items.push(other),
                    }
                }
                items.reverse();
                for it in items {
                    let V::T(mut pair) = it else {
                        panic!("not a tuple")
                    };
                    let V::T(dp) = pair.pop().unwrap() else {
                        panic!("no datapoint")
                    };
                    let V::S(m) = pair.pop().unwrap() else {
                        panic!("no name")
                    };
                    let (V::F(t), V::F(v)) = (&dp[0], &dp[1]) else {
                        panic!("no floats")
                    };
                    out.push((m, *t, *v));
                }
            }
            b'.' => return,
            other => panic!("unexpected pickle opcode {other:#x}"),
        }
    }
}

/// A server that accepts connections and never reads from them.
pub async fn hostile() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

/// Resident set size of this process in KiB.
pub fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

pub fn dest(addr: SocketAddr, instance: &str) -> relay::Destination {
    relay::Destination::parse(&format!("{addr}:{instance}")).unwrap()
}

/// Test placement: a function of the metric name over a fixed destination list.
pub struct FnRouter<F> {
    pub dests: Vec<relay::Destination>,
    pub f: F,
}

impl<F: Fn(&str, usize) -> usize> ring::Router for FnRouter<F> {
    fn destinations_into(&self, metric: &str, out: &mut ring::Owners) {
        out.push((self.f)(metric, self.dests.len()));
    }
    fn replication_factor(&self) -> usize {
        1
    }
    fn targets(&self) -> &[relay::Destination] {
        &self.dests
    }
}

/// Routes by the number after the last dot, modulo the number of destinations.
pub fn by_number(dests: Vec<relay::Destination>) -> relay::Route {
    std::sync::Arc::new(FnRouter {
        dests,
        f: |m: &str, n: usize| {
            m.rsplit('.')
                .next()
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(0)
                % n
        },
    })
}

/// Sends everything to the last destination.
pub fn to_last(dests: Vec<relay::Destination>) -> relay::Route {
    std::sync::Arc::new(FnRouter {
        dests,
        f: |_m: &str, n: usize| n - 1,
    })
}
