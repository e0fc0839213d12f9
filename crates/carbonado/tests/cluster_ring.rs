//! The three-node cluster of `docs/cluster/ring-rf2/` run for real: a relay (carbon_ch,
//! replication factor 2) in front of three `carbonado serve` nodes (cache + web), each web role
//! configured with the relay's ring. Every node's /render is complete for everything sent to the
//! relay, including points still in the caches; it stays complete with a node killed (-9) and
//! with a node hung (SIGSTOP). A second test reloads a node's peers and ring with SIGHUP.

mod web_support;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use web_support::{enc, get, workspace};

const PARTIAL: &str = "x-carbonado-partial";

/// A running `carbonado serve`, killed on drop (resumed first if stopped).
struct Proc {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
    /// The address waited for at start.
    ready: String,
}

impl Proc {
    fn start(config: &Path, ready: &str) -> Proc {
        let log = config.with_extension("log");
        let mut p = Proc {
            child: None,
            config: config.to_owned(),
            log,
            ready: ready.to_string(),
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        // the log is appended to across restarts: only what this start writes counts
        let seen = std::fs::metadata(&self.log).map_or(0, |m| m.len() as usize);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_carbonado"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .current_dir(self.config.parent().expect("config dir"))
            .stdout(Stdio::from(out.try_clone().expect("log")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("spawn carbonado");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        // ready when this process says it listens there, not merely when something answers
        // (another process on the machine could hold a port chosen moments ago)
        let listening = format!("listening on {}", self.ready);
        while TcpStream::connect(&self.ready).is_err()
            || !self
                .log()
                .get(seen..)
                .is_some_and(|l| l.contains(&listening))
        {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "{} exited with {st}:\n{}",
                    self.config.display(),
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {}:\n{}",
                self.config.display(),
                self.ready,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} {pid}");
    }

    /// SIGKILL, nothing flushed.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(c.id().to_string())
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Copies the files of `docs/cluster/<topology>` into `dir`, giving every `127.0.0.1:<port>`
/// a free port (the same port number maps to the same free port in every file) and applying
/// `edits` (text replacements). Returns the old-to-new port map.
fn install(topology: &str, dir: &Path, edits: &[(&str, &str)]) -> HashMap<u16, u16> {
    let src = workspace().join("docs/cluster").join(topology);
    let mut files: Vec<(String, String)> = Vec::new();
    for e in std::fs::read_dir(&src).expect("topology dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "toml") {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            files.push((name, std::fs::read_to_string(&p).expect("read config")));
        }
    }
    let mut ports: Vec<u16> = Vec::new();
    for (_, text) in &files {
        for (i, _) in text.match_indices("127.0.0.1:") {
            let digits: String = text[i + 10..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(p) = digits.parse::<u16>() {
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
        }
    }
    // all held open while chosen, so no two get the same port
    let held: Vec<std::net::TcpListener> = ports
        .iter()
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let map: HashMap<u16, u16> = ports
        .iter()
        .zip(&held)
        .map(|(old, l)| (*old, l.local_addr().expect("addr").port()))
        .collect();
    drop(held);
    for (name, text) in files {
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("127.0.0.1:") {
            out.push_str(&rest[..i + 10]);
            rest = &rest[i + 10..];
            let n = rest.chars().take_while(char::is_ascii_digit).count();
            let old: u16 = rest[..n].parse().expect("port");
            out.push_str(&map[&old].to_string());
            rest = &rest[n..];
        }
        out.push_str(rest);
        for (from, to) in edits {
            out = out.replace(from, to);
        }
        std::fs::write(dir.join(name), out).expect("write config");
    }
    map
}

fn addr(map: &HashMap<u16, u16>, doc_port: u16) -> String {
    format!("127.0.0.1:{}", map[&doc_port])
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn send(line_addr: &str, text: &str) {
    let mut s = TcpStream::connect(line_addr).expect("connect line receiver");
    s.write_all(text.as_bytes()).expect("send lines");
}

/// Non-null `(timestamp, value)` points of each series of a json render, and the partial header.
type Rendered = (BTreeMap<String, Vec<(i64, f64)>>, Option<String>);

fn render(http: &str, target: &str, from: i64) -> Rendered {
    let r = get(
        http,
        &format!(
            "/render?format=json&noCache=1&from={from}&until={}&target={}",
            now() + 60,
            enc(target)
        ),
    );
    assert_eq!(r.status, 200, "{http}: {}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("render json");
    let mut out = BTreeMap::new();
    for s in v.as_array().expect("series list") {
        let pts = s["datapoints"]
            .as_array()
            .expect("datapoints")
            .iter()
            .filter_map(|p| Some((p[1].as_i64()?, p[0].as_f64()?)))
            .collect();
        out.insert(s["target"].as_str().unwrap_or("").to_string(), pts);
    }
    (out, r.header(PARTIAL).map(str::to_string))
}

/// The sum of the `cache.size` self-metric (points held in memory, not yet in whisper).
fn cache_size(http: &str) -> f64 {
    let r = get(http, "/metrics");
    assert_eq!(r.status, 200);
    r.text()
        .lines()
        .filter(|l| l.contains(".cache.size "))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum()
}

fn eventually<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const METRICS: usize = 12;

/// What was sent: metric -> points, 10 s apart (the nodes' default schema is 10s:6h).
fn expected(points: &[(i64, f64)]) -> BTreeMap<String, Vec<(i64, f64)>> {
    (0..METRICS)
        .map(|i| {
            let pts = points.iter().map(|(t, v)| (*t, v + i as f64)).collect();
            (format!("ring.m{i:02}.value"), pts)
        })
        .collect()
}

fn lines(points: &[(i64, f64)]) -> String {
    let mut s = String::new();
    for (name, pts) in expected(points) {
        for (t, v) in pts {
            s.push_str(&format!("{name} {v} {t}\n"));
        }
    }
    s
}

/// Asserts `http`'s render of every metric is exactly `want`, and not marked partial.
fn assert_complete(http: &str, want: &BTreeMap<String, Vec<(i64, f64)>>, from: i64, when: &str) {
    let (got, partial) = render(http, "ring.*.value", from);
    assert_eq!(&got, want, "{when}: render from {http} is not complete");
    assert_eq!(partial, None, "{when}: render from {http} marked partial");
}

/// The tests of this file run one at a time: each starts several processes on ports chosen
/// just before, which a test starting beside it could be handed too.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn three_nodes_rf2_complete_through_kill_and_hang() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tmp");
    // carbon's 500 updates/s would write these few metrics at once: 1/s keeps points in the
    // caches long enough to see them served from there
    let map = install(
        "ring-rf2",
        dir.path(),
        &[("max_updates_per_second = 500", "max_updates_per_second = 1")],
    );
    let https = [addr(&map, 8081), addr(&map, 8082), addr(&map, 8083)];
    let self_metrics = [addr(&map, 9181), addr(&map, 9281), addr(&map, 9381)];
    let mut nodes: Vec<Proc> = ["a", "b", "c"]
        .iter()
        .zip(&https)
        .map(|(n, h)| Proc::start(&dir.path().join(format!("node-{n}.toml")), h))
        .collect();
    let relay_line = addr(&map, 2003);
    let _relay = Proc::start(&dir.path().join("relay.toml"), &relay_line);

    let t = now() - now() % 10;
    let from = t - 600;
    // phase 1: one old point per metric creates the files on both owners
    let first = [(t - 500, 1.0)];
    send(&relay_line, &lines(&first));
    let want1 = expected(&first);
    for h in &https {
        eventually("first points complete from every node", 60, || {
            let (got, partial) = render(h, "ring.*.value", from);
            (got == want1 && partial.is_none()).then_some(())
        });
    }
    // every metric gets exactly two copies on disk, as the relay placed them (the persisters,
    // at 1 update/s, may still be creating the last ones: the renders above read the caches)
    let copies = || {
        ["a", "b", "c"]
            .iter()
            .map(|n| {
                let data = dir.path().join(format!("data-{n}/ring"));
                std::fs::read_dir(&data).map(|d| d.count()).unwrap_or(0)
            })
            .sum::<usize>()
    };
    eventually("two copies of every metric on disk", 60, || {
        (copies() >= 2 * METRICS).then_some(())
    });
    assert_eq!(copies(), 2 * METRICS, "replication factor 2 on the ring");

    // phase 2: more points, rendered complete while the caches still hold some of them
    let second: Vec<(i64, f64)> = (0..6)
        .map(|k| (t - 300 + 10 * k, 10.0 * k as f64))
        .collect();
    send(&relay_line, &lines(&second));
    let mut all_points = first.to_vec();
    all_points.extend(&second);
    let want = expected(&all_points);
    eventually("new points complete from node a", 30, || {
        let (got, partial) = render(&https[0], "ring.*.value", from);
        (got == want && partial.is_none()).then_some(())
    });
    let cached: f64 = self_metrics.iter().map(|h| cache_size(h)).sum();
    assert!(
        cached > 0.0,
        "all points already on disk: the cache path was not exercised"
    );
    for h in &https {
        assert_complete(h, &want, from, "healthy");
    }

    // tagged series: each node's tag index knows its own copies; seriesByTag from any node
    // gets them all (the ring's other nodes resolve the pattern themselves)
    let tagged: BTreeMap<String, Vec<(i64, f64)>> = (0..6)
        .map(|i| (format!("ring.tag;dc=x;k=v{i}"), vec![(t - 300, i as f64)]))
        .collect();
    let mut text = String::new();
    for (name, pts) in &tagged {
        for (ts, v) in pts {
            text.push_str(&format!("{name} {v} {ts}\n"));
        }
    }
    send(&relay_line, &text);
    for h in &https {
        eventually("seriesByTag complete from every node", 30, || {
            let (got, partial) = render(h, "seriesByTag('dc=x')", from);
            (got == tagged && partial.is_none()).then_some(())
        });
    }

    // node c killed: a and b answer complete from the replicas, from the first query on
    nodes[2].kill();
    for round in 0..6 {
        for h in &https[..2] {
            assert_complete(h, &want, from, &format!("c killed, round {round}"));
        }
    }
    // a node that is gone for good is named only when a metric has no copy left: none here
    let log = nodes[0].log();
    assert!(
        log.contains("skipping it until a probe answers"),
        "a's breaker for c never opened:\n{log}"
    );

    // c back (its WAL has everything), then b hangs: a and c stay complete
    nodes[2].spawn();
    for h in &https {
        eventually("c serves again", 30, || {
            let (got, partial) = render(h, "ring.*.value", from);
            (got == want && partial.is_none()).then_some(())
        });
    }
    // and until the others' breakers for c closed again (a probe every 2 s): with c still
    // skipped and b hung, a metric of (b, c) would have no copy, rightly marked partial
    for n in &nodes[..2] {
        eventually("breakers for c closed", 30, || {
            let log = n.log();
            (log.matches("cluster peer failing").count()
                == log.matches("cluster peer answers again").count())
            .then_some(())
        });
    }
    nodes[1].signal("STOP");
    for round in 0..6 {
        for h in [&https[0], &https[2]] {
            assert_complete(h, &want, from, &format!("b hung, round {round}"));
        }
    }
    nodes[1].signal("CONT");
    assert_complete(&https[1], &want, from, "b resumed");
}

/// A node (web + cache) with its own ring of one; a second node holds data the first cannot
/// see until its configuration names that node and it gets SIGHUP.
#[test]
fn sighup_reloads_cluster_servers_and_ring() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tmp");
    let held: Vec<std::net::TcpListener> = (0..6)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let p: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect();
    drop(held);
    let (p_http, p_line, p_query) = (p[0], p[1], p[2]);
    let (q_http, q_line, q_query) = (p[3], p[4], p[5]);
    let node = |name: &str, http: u16, line: u16, query: u16, web_extra: &str| {
        format!(
            "[cache]\nenabled = true\nlocal_data_dir = \"./data-{name}\"\nline_receiver = \"127.0.0.1:{line}\"\n\
             pickle_receiver = \"\"\ncache_query = \"127.0.0.1:{query}\"\nhttp_listen = \"\"\n\
             carbon_metric_interval = \"0s\"\n\n\
             [web]\nenabled = true\nlisten = \"127.0.0.1:{http}\"\nremote_timeout = \"1s\"\n{web_extra}"
        )
    };
    let ring = |members: &[(u16, &str)]| {
        let list: Vec<String> = members
            .iter()
            .map(|(http, inst)| {
                format!(
                    "{{ destination = \"127.0.0.1:2004:{inst}\", http = \"127.0.0.1:{http}\" }}"
                )
            })
            .collect();
        format!(
            "cluster_relay_method = \"carbon_ch\"\ncluster_replication_factor = 1\ncluster_ring = [{}]\n",
            list.join(", ")
        )
    };
    let p_cfg = dir.path().join("p.toml");
    let q_cfg = dir.path().join("q.toml");
    let p_alone = node("p", p_http, p_line, p_query, &ring(&[(p_http, "a")]));
    std::fs::write(&p_cfg, &p_alone).expect("write");
    std::fs::write(&q_cfg, node("q", q_http, q_line, q_query, "")).expect("write");
    let p_http = format!("127.0.0.1:{p_http}");
    let q_addr = format!("127.0.0.1:{q_http}");
    let node_p = Proc::start(&p_cfg, &p_http);
    let _node_q = Proc::start(&q_cfg, &q_addr);
    let t = now() - now() % 10;
    send(
        &format!("127.0.0.1:{p_line}"),
        &format!("hup.p 1 {}\n", t - 60),
    );
    send(
        &format!("127.0.0.1:{q_line}"),
        &format!("hup.q 2 {}\n", t - 60),
    );
    let want = |names: &[(&str, f64)]| -> BTreeMap<String, Vec<(i64, f64)>> {
        names
            .iter()
            .map(|(n, v)| (n.to_string(), vec![(t - 60, *v)]))
            .collect()
    };
    eventually("q's data on q", 30, || {
        (render(&q_addr, "hup.*", t - 300).0 == want(&[("hup.q", 2.0)])).then_some(())
    });
    eventually("p sees only its own data", 30, || {
        (render(&p_http, "hup.*", t - 300) == (want(&[("hup.p", 1.0)]), None)).then_some(())
    });

    // q added as a broadcast peer
    let with_peer = p_alone.replace(
        "remote_timeout",
        &format!("cluster_servers = [\"{q_addr}\"]\nremote_timeout"),
    );
    std::fs::write(&p_cfg, &with_peer).expect("write");
    node_p.signal("HUP");
    let both = want(&[("hup.p", 1.0), ("hup.q", 2.0)]);
    eventually("q's data through cluster_servers after SIGHUP", 30, || {
        (render(&p_http, "hup.*", t - 300) == (both.clone(), None)).then_some(())
    });

    // back to p alone: q's data is gone again (the reload replaces, it does not add)
    std::fs::write(&p_cfg, &p_alone).expect("write");
    node_p.signal("HUP");
    eventually("q dropped after SIGHUP", 30, || {
        (render(&p_http, "hup.*", t - 300) == (want(&[("hup.p", 1.0)]), None)).then_some(())
    });

    // q as a member of p's ring
    let p_num: u16 = p_http
        .rsplit(':')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("port");
    let two = node(
        "p",
        p_num,
        p_line,
        p_query,
        &ring(&[(p_num, "a"), (q_http, "b")]),
    );
    std::fs::write(&p_cfg, &two).expect("write");
    node_p.signal("HUP");
    eventually("q's data through cluster_ring after SIGHUP", 30, || {
        (render(&p_http, "hup.*", t - 300) == (both.clone(), None)).then_some(())
    });

    // a configuration that does not validate is refused and the running one kept
    std::fs::write(&p_cfg, two.replace("carbon_ch", "no_such_hash")).expect("write");
    node_p.signal("HUP");
    eventually("bad reload logged", 30, || {
        node_p
            .log()
            .contains("SIGHUP: [web] not reloaded")
            .then_some(())
    });
    assert_eq!(render(&p_http, "hup.*", t - 300), (both, None));
}
