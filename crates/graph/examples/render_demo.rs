//! Writes a few graphs to a directory for looking at: `cargo run -p carbonado-graph --example render_demo -- OUTDIR`.

use graph::{render_line, Format, Params};
use query::series::Series;

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/graph-demo".into());
    let _ = std::fs::create_dir_all(&out);
    let mk = |name: &str, k: f64| {
        Series::new(
            name.to_string(),
            1_700_000_000 - 7200,
            1_700_003_600,
            60,
            (0..180)
                .map(|i| {
                    if i % 17 == 3 {
                        None
                    } else {
                        Some(((i as f64 * k) % 17.0) + k * 10.0)
                    }
                })
                .collect(),
        )
    };
    let series = vec![
        mk("test.servers.web01.cpu.user", 1.0),
        mk("test.servers.web02.cpu.user", 2.0),
    ];
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("basic", vec![("title", "CPU usage")]),
        (
            "stacked",
            vec![("areaMode", "stacked"), ("vtitle", "percent")],
        ),
        (
            "big",
            vec![
                ("width", "800"),
                ("height", "400"),
                ("bgcolor", "black"),
                ("fgcolor", "white"),
            ],
        ),
    ];
    for (name, pairs) in cases {
        let p = Params::from_pairs(&pairs);
        for (f, ext) in [(Format::Png, "png"), (Format::Svg, "svg")] {
            match render_line(&series, &p, f, chrono_tz::UTC) {
                Ok(b) => {
                    let _ = std::fs::write(format!("{out}/{name}.{ext}"), b);
                }
                Err(e) => eprintln!("{name}: {e}"),
            }
        }
    }
}
