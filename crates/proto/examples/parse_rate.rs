//! Prints the line parser's and pickle codec's rates: `cargo run --release -p carbonado-proto --example parse_rate`.
use std::time::Instant;
fn main() {
    let mut data = Vec::new();
    for i in 0..2_000_000u32 {
        data.extend_from_slice(
            format!(
                "servers.host{}.cpu.user {}.{} {}\n",
                i % 1000,
                i,
                i % 97,
                1_700_000_000 + i
            )
            .as_bytes(),
        );
    }
    for _ in 0..3 {
        let t = Instant::now();
        let mut framer = proto::line::LineFramer::default();
        let mut n = 0usize;
        for chunk in data.chunks(65536) {
            framer
                .feed(chunk, |l| {
                    if let Ok(p) = proto::line::parse_line(l) {
                        n += p.name.len();
                    }
                })
                .unwrap();
        }
        let el = t.elapsed();
        println!("lines: {:.2} M lines/s", 2.0 / el.as_secs_f64());
    }
    let batch: Vec<(String, f64, f64)> = (0..500)
        .map(|i| {
            (
                format!("servers.host{i}.cpu.user"),
                1.7e9 + i as f64,
                i as f64 * 0.5,
            )
        })
        .collect();
    let p = proto::pickle::encode_datapoints(&batch);
    for _ in 0..3 {
        let t = Instant::now();
        let mut pts = 0;
        for _ in 0..4000 {
            pts += proto::pickle::decode_datapoints(&p).unwrap().points.len();
        }
        let el = t.elapsed();
        println!(
            "pickle: {:.2} M points/s",
            pts as f64 / el.as_secs_f64() / 1e6
        );
    }
}
