//! The tag index side by side with graphite-web's default TagDB (driven by bench/tags.sh).
//!
//! `bench_tags gen <n> <series file> <queries file>`: writes `n` tagged series (one a line, in an
//! order whose every prefix spreads over all tag values) and the query set as JSON.
//! `bench_tags run <series file> <n> <small n> <queries file> <graphite-web results>`: indexes
//! the first `n` series (in memory, then with the name log), times every query, does the same on
//! the first `small n` series, and prints both next to graphite-web's figures with the ratios.
//! `bench_tags e2e <series file> <n> <line addr> <http addr>`: sends the first `n` series as
//! plaintext lines to a running node and times until `/tags/name` counts all of them.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use store::tags::TagIndex;

/// Tag cardinalities: name 100, server 5000 (dc 5, rack 50, env 3 and role follow the server), shard.
fn series(i: u64) -> String {
    let name = i % 100;
    let server = (i / 100) % 5000;
    let shard = i / 500_000;
    let role = ["web", "db", "cache", "app"][(server % 4) as usize];
    let env = ["prod", "staging", "dev"][((server / 7) % 3) as usize];
    format!(
        "m{name:03};dc=dc{};env={env};rack=r{:02};server={role}{server:04};shard={shard}",
        server % 5,
        server % 50
    )
}

/// The query set: (label, kind, expressions, tag, prefix).
fn queries() -> Value {
    json!([
        [
            "seriesByTag 2 expr (=, =)",
            "find",
            ["name=m042", "dc=dc3"],
            null,
            null
        ],
        [
            "seriesByTag 2 expr (=, =~)",
            "find",
            ["name=m042", "server=~web.*"],
            null,
            null
        ],
        [
            "seriesByTag 2 expr (=~, !=)",
            "find",
            ["server=~web00[0-4].*", "env!=dev"],
            null,
            null
        ],
        [
            "seriesByTag 3 expr (=, =, !=)",
            "find",
            ["name=m042", "dc=dc3", "env!=prod"],
            null,
            null
        ],
        [
            "seriesByTag 3 expr (=~, =~, !=)",
            "find",
            ["name=~m04.*", "rack=~r1[0-9]", "env!=dev"],
            null,
            null
        ],
        [
            "seriesByTag 3 expr (=, !=~, =)",
            "find",
            ["dc=dc1", "server!=~web.*", "name=m007"],
            null,
            null
        ],
        [
            "autoComplete/tags expr=name=m042",
            "ac_tags",
            ["name=m042"],
            null,
            null
        ],
        [
            "autoComplete/tags expr=dc=dc3 tagPrefix=s",
            "ac_tags",
            ["dc=dc3"],
            null,
            "s"
        ],
        [
            "autoComplete/values tag=server expr=name=m042,dc=dc3 valuePrefix=web",
            "ac_values",
            ["name=m042", "dc=dc3"],
            "server",
            "web"
        ],
        [
            "autoComplete/values tag=rack expr=name=~m00.*",
            "ac_values",
            ["name=~m00.*"],
            "rack",
            null
        ],
        [
            "autoComplete/values tag=server valuePrefix=db1 (no expr)",
            "ac_values",
            [],
            "server",
            "db1"
        ]
    ])
}

fn read_series(path: &str, n: usize) -> Result<Vec<String>> {
    let f = std::fs::File::open(path).with_context(|| path.to_string())?;
    let out: Vec<String> = BufReader::new(f)
        .lines()
        .take(n)
        .collect::<Result<_, _>>()?;
    if out.len() < n {
        bail!("{path} holds {} series, {n} wanted", out.len());
    }
    Ok(out)
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs one query; the size of its answer.
fn answer(idx: &TagIndex, q: &Value) -> Result<usize> {
    let exprs = TagIndex::parse_exprs(&strs(&q[2]))?;
    Ok(match q[1].as_str() {
        Some("find") => idx.find_series(&exprs)?.len(),
        Some("ac_tags") => idx.auto_complete_tags(&exprs, q[4].as_str(), None)?.len(),
        _ => idx
            .auto_complete_values(&exprs, q[3].as_str().unwrap_or(""), q[4].as_str(), None)?
            .len(),
    })
}

/// Median seconds of one query over repeats lasting about half a second (at least 5).
fn time_query(idx: &TagIndex, q: &Value) -> Result<(f64, usize)> {
    let n = answer(idx, q)?;
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || (start.elapsed() < Duration::from_millis(500) && times.len() < 1000) {
        let t = Instant::now();
        std::hint::black_box(answer(idx, q)?);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], n))
}

struct Measured {
    insert_mem: f64,
    insert_log: f64,
    queries: Vec<(f64, usize)>,
}

fn measure(names: &[String], qs: &[Value]) -> Result<Measured> {
    let mem = TagIndex::new();
    let t = Instant::now();
    for n in names {
        mem.insert(n)?;
    }
    let insert_mem = names.len() as f64 / t.elapsed().as_secs_f64();
    let dir = tempfile::tempdir()?;
    let (logged, _) = TagIndex::open(dir.path())?;
    let t = Instant::now();
    for n in names {
        logged.insert(n)?;
    }
    let insert_log = names.len() as f64 / t.elapsed().as_secs_f64();
    drop(logged);
    let queries = qs
        .iter()
        .map(|q| time_query(&mem, q))
        .collect::<Result<_>>()?;
    Ok(Measured {
        insert_mem,
        insert_log,
        queries,
    })
}

fn ms(s: f64) -> String {
    if s < 0.001 {
        format!("{:.1} µs", s * 1e6)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

fn run(args: &[String]) -> Result<()> {
    let [file, n, small, qfile, gwfile] = args else {
        bail!("run <series file> <n> <small n> <queries file> <graphite-web results>");
    };
    let (n, small): (usize, usize) = (n.parse()?, small.parse()?);
    let qs: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(qfile)?)?;
    let gw: Value = serde_json::from_str(&std::fs::read_to_string(gwfile)?)?;
    let all = read_series(file, n)?;
    let big = measure(&all, &qs)?;
    let little = measure(&all[..small.min(all.len())], &qs)?;
    let gw_ins = gw["insert_per_s"].as_f64().unwrap_or(f64::NAN);
    println!(
        "series: carbonado {n} and {small}; graphite-web LocalDatabaseTagDB (sqlite file) {small}"
    );
    println!();
    println!("ingest (new tagged series indexed per second):");
    println!(
        "  carbonado, {n}: {:.0}/s in memory, {:.0}/s with the name log",
        big.insert_mem, big.insert_log
    );
    println!(
        "  carbonado, {small}: {:.0}/s in memory, {:.0}/s with the name log",
        little.insert_mem, little.insert_log
    );
    println!(
        "  graphite-web tag_multi_series, {small}: {gw_ins:.0}/s  ->  ratio {:.0}x (with log)",
        little.insert_log / gw_ins
    );
    println!();
    println!("| query | results | carbonado {n} | carbonado {small} | graphite-web {small} | ratio at {small} |");
    println!("|---|---:|---:|---:|---:|---:|");
    let gwq = gw["queries"].as_array().cloned().unwrap_or_default();
    for (i, q) in qs.iter().enumerate() {
        let (tb, nb) = big.queries[i];
        let (ts, ns) = little.queries[i];
        let g = &gwq[i.min(gwq.len().saturating_sub(1))];
        let gt = g["median_s"].as_f64().unwrap_or(f64::NAN);
        let gn = g["results"].as_u64().unwrap_or(u64::MAX) as usize;
        if gn != ns {
            bail!("{}: graphite-web found {gn}, carbonado {ns}", q[0]);
        }
        println!(
            "| {} | {nb} / {ns} | {} | {} | {} | {:.0}x |",
            q[0].as_str().unwrap_or(""),
            ms(tb),
            ms(ts),
            ms(gt),
            gt / ts
        );
    }
    Ok(())
}

fn http_get(addr: &str, path: &str) -> Result<String> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok(body.to_string())
}

/// Series counted by `/tags/name` (every series carries `name`).
fn indexed(addr: &str) -> Result<u64> {
    let v: Value = serde_json::from_str(&http_get(addr, "/tags/name")?)?;
    Ok(v["values"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["count"].as_u64()).sum())
        .unwrap_or(0))
}

fn e2e(args: &[String]) -> Result<()> {
    let [file, n, line, http] = args else {
        bail!("e2e <series file> <n> <line addr> <http addr>");
    };
    let n: usize = n.parse()?;
    let names = read_series(file, n)?;
    let before = indexed(http)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let t = Instant::now();
    let mut s = BufWriter::new(TcpStream::connect(line)?);
    for name in &names {
        writeln!(s, "{name} 1 {now}")?;
    }
    s.flush()?;
    drop(s);
    let sent = t.elapsed().as_secs_f64();
    let want = before + n as u64;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let got = indexed(http)?;
        if got >= want {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {got} of {want} series indexed after an hour");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let total = t.elapsed().as_secs_f64();
    println!(
        "end to end over the line receiver: {n} new tagged series sent in {sent:.2} s, all files created and indexed in {total:.2} s: {:.0} series/s",
        n as f64 / total
    );
    Ok(())
}

fn gen(args: &[String]) -> Result<()> {
    let [n, file, qfile] = args else {
        bail!("gen <n> <series file> <queries file>");
    };
    let n: u64 = n.parse()?;
    // A prime step visits every index once when it does not divide n (checked), spreading any prefix.
    let step = 999_983u64;
    if n % step == 0 {
        bail!("n must not be a multiple of {step}");
    }
    let mut out = BufWriter::new(std::fs::File::create(file)?);
    for i in 0..n {
        writeln!(out, "{}", series((i * step) % n))?;
    }
    out.flush()?;
    std::fs::write(qfile, serde_json::to_string_pretty(&queries())?)?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") => gen(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("e2e") => e2e(&args[1..]),
        _ => bail!("usage: bench_tags gen|run|e2e ..."),
    }
}
