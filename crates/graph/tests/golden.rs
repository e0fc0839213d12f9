//! Golden images: fixed data rendered to PNG and compared with tests/golden/*.png within a
//! small tolerance (antialiasing may differ by a shade between tiny-skia versions).
//! Regenerate after an intended change with:
//!   GRAPH_GOLDEN_UPDATE=1 CARGO_TARGET_DIR=/work/target-graph cargo test -p carbonado-graph --test golden

mod common;

use common::*;
use graph::{render_line, render_pie, Format, Params, Slice};
use query::series::Series;
use std::path::PathBuf;

fn data() -> Vec<Series> {
    vec![
        series("servers.web01.cpu", |i| {
            if i % 23 == 5 {
                None
            } else {
                Some(((i * 7) % 31) as f64 + 10.0)
            }
        }),
        series("servers.web02.cpu", |i| {
            Some(((i * 3) % 17) as f64 + 20.0 + (i / 40) as f64 * 4.0)
        }),
        series("servers.db01.cpu", |i| {
            Some((i as f64 / 8.0).sin() * 8.0 + 15.0)
        }),
    ]
}

/// A named graph: its series and request parameters.
type Case = (&'static str, Vec<Series>, Vec<(&'static str, &'static str)>);

fn cases() -> Vec<Case> {
    let d = data();
    let mut second = d.clone();
    second[2] = series("requests", |i| Some(1000.0 * i as f64 + 5000.0));
    second[2].options.second_y_axis = true;
    let mut styled = d.clone();
    styled[0].options.color = Some("orange".into());
    styled[1].options.dashed = Some(5.0);
    styled[2].options.line_width = Some(3.0);
    vec![
        (
            "line",
            d.clone(),
            vec![("title", "CPU"), ("vtitle", "percent")],
        ),
        (
            "stacked",
            d.clone(),
            vec![("areaMode", "stacked"), ("areaAlpha", "0.6")],
        ),
        ("second_axis", second, vec![("width", "420")]),
        (
            "dark_staircase",
            d.clone(),
            vec![
                ("bgcolor", "black"),
                ("fgcolor", "white"),
                ("lineMode", "staircase"),
                ("minorY", "2"),
            ],
        ),
        (
            "styled",
            styled,
            vec![("yMin", "0"), ("yMax", "50"), ("hideLegend", "true")],
        ),
    ]
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

/// Share of pixels whose channels differ by more than 48 (text edges may move a shade).
fn differing(a: &tiny_skia::Pixmap, b: &tiny_skia::Pixmap) -> f64 {
    let n = a.pixels().len().max(1);
    let bad = a
        .pixels()
        .iter()
        .zip(b.pixels())
        .filter(|(x, y)| {
            let (x, y) = (x.demultiply(), y.demultiply());
            [
                (x.red(), y.red()),
                (x.green(), y.green()),
                (x.blue(), y.blue()),
            ]
            .iter()
            .any(|(p, q)| (i32::from(*p) - i32::from(*q)).abs() > 48)
        })
        .count();
    bad as f64 / n as f64
}

fn check(name: &str, png: Vec<u8>) {
    let path = golden_dir().join(format!("{name}.png"));
    if std::env::var_os("GRAPH_GOLDEN_UPDATE").is_some() {
        std::fs::create_dir_all(golden_dir()).expect("mkdir");
        std::fs::write(&path, &png).expect("write golden");
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "missing golden {}: {e} (see the module doc to regenerate)",
            path.display()
        )
    });
    let want = tiny_skia::Pixmap::decode_png(&want).expect("golden png");
    let got = tiny_skia::Pixmap::decode_png(&png).expect("our png");
    assert_eq!(
        (got.width(), got.height()),
        (want.width(), want.height()),
        "{name}: size"
    );
    let d = differing(&got, &want);
    if d > 0.002 {
        let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/golden-diff");
        let _ = std::fs::create_dir_all(&out);
        let _ = std::fs::write(out.join(format!("{name}.png")), &png);
        panic!(
            "{name}: {:.3}% of pixels differ from the golden image",
            d * 100.0
        );
    }
}

#[test]
fn line_graphs_match_golden_images() {
    for (name, series, pairs) in cases() {
        let png = render_line(
            &series,
            &Params::from_pairs(&pairs),
            Format::Png,
            chrono_tz::UTC,
        )
        .expect("render");
        check(name, png);
    }
}

#[test]
fn pie_matches_golden_image() {
    let slices = [
        Slice {
            name: "web01".into(),
            value: 40.0,
        },
        Slice {
            name: "web02".into(),
            value: 25.0,
        },
        Slice {
            name: "db01".into(),
            value: 35.0,
        },
    ];
    let png = render_pie(
        &slices,
        &Params::from_pairs(&[("title", "share")]),
        Format::Png,
    )
    .expect("pie");
    check("pie", png);
}

#[test]
fn golden_comparison_detects_a_change() {
    // the tolerance must not hide a different color
    let (_, series, pairs) = cases().remove(0);
    let mut p = pairs.clone();
    p.push(("colorList", "black,black,black"));
    let png = render_line(
        &series,
        &Params::from_pairs(&p),
        Format::Png,
        chrono_tz::UTC,
    )
    .expect("render");
    let want = std::fs::read(golden_dir().join("line.png")).expect("golden line.png");
    let a = tiny_skia::Pixmap::decode_png(&png).expect("png");
    let b = tiny_skia::Pixmap::decode_png(&want).expect("png");
    assert!(differing(&a, &b) > 0.002);
}
