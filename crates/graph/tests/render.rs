//! Renderer behaviour on fixed data: sizes, colors at known pixels, text in SVG, layouts.

mod common;

use common::*;
use graph::{line_scene, render_line, render_pie, Format, GraphError, Limits, Params, Slice};

fn png(series: &[query::series::Series], pairs: &[(&str, &str)]) -> Vec<u8> {
    render_line(
        series,
        &Params::from_pairs(pairs),
        Format::Png,
        chrono_tz::UTC,
    )
    .expect("render")
}

fn svg(series: &[query::series::Series], pairs: &[(&str, &str)]) -> String {
    let b = render_line(
        series,
        &Params::from_pairs(pairs),
        Format::Svg,
        chrono_tz::UTC,
    )
    .expect("render");
    String::from_utf8(b).expect("utf8")
}

#[test]
fn png_has_requested_dimensions_and_defaults() {
    let s = [constant("a", 1.0)];
    let p = png(&s, &[("width", "400"), ("height", "123")]);
    let pm = tiny_skia::Pixmap::decode_png(&p).expect("png");
    assert_eq!((pm.width(), pm.height()), (400, 123));
    let p = png(&s, &[]);
    let pm = tiny_skia::Pixmap::decode_png(&p).expect("png");
    assert_eq!((pm.width(), pm.height()), (330, 250));
    // white background by default, at a corner nothing else paints
    assert_eq!(pixel(&p, 0, 0), [255, 255, 255, 255]);
}

#[test]
fn series_color_at_known_pixel() {
    // graphOnly: the area is the whole image, so value 5 of 0..10 lies on the middle row
    let s = [constant("a", 5.0)];
    let p = png(
        &s,
        &[
            ("graphOnly", "true"),
            ("width", "200"),
            ("height", "100"),
            ("yMin", "0"),
            ("yMax", "10"),
            ("lineWidth", "3"),
            ("colorList", "#ff0000"),
            ("bgcolor", "000000"),
        ],
    );
    assert!(
        near(pixel(&p, 100, 50), [255, 0, 0, 255], 10),
        "{:?}",
        pixel(&p, 100, 50)
    );
    assert!(near(pixel(&p, 100, 20), [0, 0, 0, 255], 0));
    assert!(near(pixel(&p, 100, 80), [0, 0, 0, 255], 0));
}

#[test]
fn named_colors_are_graphites() {
    let s = [constant("a", 5.0), constant("b", 2.0)];
    let p = png(
        &s,
        &[
            ("graphOnly", "1"),
            ("width", "200"),
            ("height", "100"),
            ("yMin", "0"),
            ("yMax", "10"),
            ("lineWidth", "4"),
            ("colorList", "red,blue"),
        ],
    );
    assert!(
        near(pixel(&p, 100, 50), [200, 0, 50, 255], 10),
        "{:?}",
        pixel(&p, 100, 50)
    );
    assert!(
        near(pixel(&p, 100, 80), [100, 100, 255, 255], 10),
        "{:?}",
        pixel(&p, 100, 80)
    );
}

#[test]
fn color_function_and_alpha_take_effect() {
    let mut a = constant("a", 5.0);
    a.options.color = Some("00ff00".into());
    a.options.line_width = Some(6.0);
    let p = png(
        &[a],
        &[
            ("graphOnly", "1"),
            ("width", "200"),
            ("height", "100"),
            ("yMin", "0"),
            ("yMax", "10"),
        ],
    );
    assert!(
        near(pixel(&p, 100, 50), [0, 255, 0, 255], 10),
        "{:?}",
        pixel(&p, 100, 50)
    );
    // 4 px away from the center: only a 6 px line covers it
    assert!(
        near(pixel(&p, 100, 52), [0, 255, 0, 255], 10),
        "{:?}",
        pixel(&p, 100, 52)
    );
}

#[test]
fn stacked_areas_stack() {
    let s = [constant("low", 2.0), constant("high", 3.0)];
    let p = png(
        &s,
        &[
            ("graphOnly", "1"),
            ("width", "200"),
            ("height", "100"),
            ("yMin", "0"),
            ("yMax", "10"),
            ("areaMode", "stacked"),
            ("colorList", "#ff0000,#0000ff"),
        ],
    );
    // value 1 -> y=90 is the first series, value 4 -> y=60 the second, value 7 -> background
    assert!(
        near(pixel(&p, 100, 90), [255, 0, 0, 255], 5),
        "{:?}",
        pixel(&p, 100, 90)
    );
    assert!(
        near(pixel(&p, 100, 60), [0, 0, 255, 255], 5),
        "{:?}",
        pixel(&p, 100, 60)
    );
    assert!(near(pixel(&p, 100, 30), [255, 255, 255, 255], 0));
}

#[test]
fn stacked_with_area_alpha_does_not_overlap() {
    let s = [constant("low", 2.0), constant("high", 3.0)];
    let p = png(
        &s,
        &[
            ("graphOnly", "1"),
            ("width", "200"),
            ("height", "100"),
            ("yMin", "0"),
            ("yMax", "10"),
            ("areaMode", "stacked"),
            ("areaAlpha", "0.5"),
            ("colorList", "#ff0000,#0000ff"),
            ("bgcolor", "ffffff"),
        ],
    );
    // half red over white; no blue blended in (graphite clips each area out of the next)
    assert!(
        near(pixel(&p, 100, 90), [255, 127, 127, 255], 6),
        "{:?}",
        pixel(&p, 100, 90)
    );
    assert!(
        near(pixel(&p, 100, 60), [127, 127, 255, 255], 6),
        "{:?}",
        pixel(&p, 100, 60)
    );
}

#[test]
fn svg_has_title_legend_and_axis_labels() {
    let s = [
        series("servers.web01.cpu", |i| Some(i as f64)),
        series("servers.web02.cpu", |i| Some(2.0 * i as f64)),
    ];
    let t = svg(&s, &[("title", "CPU & load"), ("vtitle", "percent")]);
    assert!(t.starts_with("<?xml"));
    assert!(t.contains(">CPU &amp; load</text>"), "{t}");
    assert!(t.contains(">servers.web01.cpu</text>"));
    assert!(t.contains(">servers.web02.cpu</text>"));
    assert!(t.contains(">percent</text>") && t.contains("rotate(270"));
    assert!(t.contains("<g class=\"legend\">") && t.contains("<g class=\"lines\">"));
    // the x axis of a two hour range is labelled every 20 minutes
    assert!(t.contains(">22:40</text>"), "{t}");
    assert!(t.contains(">250.0 </text>"), "{t}");
}

#[test]
fn unit_prefixed_labels() {
    let s = [series("bytes", |i| Some(i as f64 * 40_000.0))];
    let scene = line_scene(
        &s,
        &Params::from_pairs(&[]),
        chrono_tz::UTC,
        &Limits::default(),
    )
    .expect("scene");
    let labels: Vec<String> = scene.texts().map(|t| t.text.clone()).collect();
    assert!(labels.iter().any(|l| l == "4.0 M "), "{labels:?}");
    let scene = line_scene(
        &s,
        &Params::from_pairs(&[("yUnitSystem", "binary")]),
        chrono_tz::UTC,
        &Limits::default(),
    )
    .expect("scene");
    let labels: Vec<String> = scene.texts().map(|t| t.text.clone()).collect();
    assert!(labels.iter().any(|l| l.ends_with(" Mi ")), "{labels:?}");
}

#[test]
fn second_y_axis_labels_on_the_right() {
    let mut b = series("big", |i| Some(i as f64 * 100.0));
    b.options.second_y_axis = true;
    let s = [series("small", |i| Some(i as f64 / 10.0)), b];
    let scene = line_scene(
        &s,
        &Params::from_pairs(&[("width", "400")]),
        chrono_tz::UTC,
        &Limits::default(),
    )
    .expect("scene");
    let right: Vec<_> = scene
        .texts()
        .filter(|t| t.text.ends_with("k ") && t.x > 300.0)
        .collect();
    let left: Vec<_> = scene
        .texts()
        .filter(|t| t.text == "10.0 " && t.x < 60.0)
        .collect();
    assert!(
        !right.is_empty(),
        "{:?}",
        scene.texts().map(|t| (&t.text, t.x)).collect::<Vec<_>>()
    );
    assert!(!left.is_empty());
}

#[test]
fn draw_as_infinite_draws_full_height_lines() {
    let mut ev = series("deploy", |i| Some(if i == 60 { 1.0 } else { 0.0 }));
    ev.options.draw_as_infinite = true;
    let p = png(
        &[constant("a", 1.0), ev],
        &[
            ("graphOnly", "1"),
            ("width", "240"),
            ("height", "100"),
            ("yMin", "0"),
            ("yMax", "10"),
            ("colorList", "#000000,#ff0000"),
            ("lineWidth", "3"),
        ],
    );
    let pm = tiny_skia::Pixmap::decode_png(&p).expect("png");
    let red_cols = (0..240).filter(|x| {
        let c = pm.pixel(*x, 10).expect("px").demultiply();
        c.red() > 200 && c.green() < 60
    });
    assert!(red_cols.count() >= 2);
}

#[test]
fn no_data_and_legend_limits() {
    let t = String::from_utf8(
        render_line(&[], &Params::default(), Format::Svg, chrono_tz::UTC).expect("r"),
    )
    .expect("u");
    assert!(t.contains(">No Data</text>"));
    // more than 10 series hide the legend unless asked
    let many: Vec<_> = (0..11)
        .map(|i| constant(&format!("s{i}"), i as f64))
        .collect();
    assert!(!svg(&many, &[]).contains("class=\"legend\""));
    assert!(svg(&many, &[("hideLegend", "false")]).contains("class=\"legend\""));
    let dup = [constant("same", 1.0), constant("same", 2.0)];
    assert_eq!(
        svg(&dup, &[("uniqueLegend", "1")])
            .matches(">same</text>")
            .count(),
        1
    );
}

#[test]
fn bad_parameters_are_typed_errors() {
    let s = [constant("a", 1.0)];
    let bad = |pairs: &[(&str, &str)]| {
        render_line(&s, &Params::from_pairs(pairs), Format::Png, chrono_tz::UTC)
    };
    assert!(matches!(
        bad(&[("width", "0")]),
        Err(GraphError::BadParam(_))
    ));
    assert!(matches!(
        bad(&[("width", "100000")]),
        Err(GraphError::BadParam(_))
    ));
    assert!(matches!(
        bad(&[("width", "8000"), ("height", "8000")]),
        Err(GraphError::TooLarge(_))
    ));
    assert!(matches!(
        bad(&[("colorList", "nocolor")]),
        Err(GraphError::BadParam(_))
    ));
    assert!(matches!(
        bad(&[("areaMode", "sideways")]),
        Err(GraphError::BadParam(_))
    ));
    assert!(matches!(
        bad(&[("yMin", "abc")]),
        Err(GraphError::BadParam(_))
    ));
    assert!(matches!(
        bad(&[("yMin", "5"), ("yMax", "1")]),
        Err(GraphError::Layout(_))
    ));
    assert!(matches!(
        bad(&[("width", "20"), ("height", "20"), ("title", "x")]),
        Err(GraphError::Layout(_))
    ));
    let lim = Limits {
        max_series: 1,
        ..Limits::default()
    };
    let two = [constant("a", 1.0), constant("b", 1.0)];
    assert!(matches!(
        line_scene(&two, &Params::default(), chrono_tz::UTC, &lim),
        Err(GraphError::TooLarge(_))
    ));
}

#[test]
fn pie_slices_and_labels() {
    let slices = [
        Slice {
            name: "a".into(),
            value: 3.0,
        },
        Slice {
            name: "b".into(),
            value: 1.0,
        },
    ];
    let p = render_pie(
        &slices,
        &Params::from_pairs(&[("colorList", "#ff0000,#0000ff"), ("hideLegend", "1")]),
        Format::Png,
    )
    .expect("pie");
    // starts at 12 o'clock clockwise: 75% red covers the right and bottom, 25% blue the upper left
    assert!(
        near(pixel(&p, 165 + 60, 125), [255, 0, 0, 255], 5),
        "{:?}",
        pixel(&p, 225, 125)
    );
    assert!(
        near(pixel(&p, 165 - 50, 125 - 50), [0, 0, 255, 255], 5),
        "{:?}",
        pixel(&p, 115, 75)
    );
    let t = String::from_utf8(render_pie(&slices, &Params::default(), Format::Svg).expect("pie"))
        .expect("utf8");
    assert!(
        t.contains(">%75.00</text>") && t.contains(">%25.00</text>"),
        "{t}"
    );
    assert!(t.contains(">a</text>"));
}

#[test]
fn staircase_and_connected_modes_draw() {
    let s = [series("gappy", |i| {
        if i % 10 < 3 {
            None
        } else {
            Some((i % 7) as f64)
        }
    })];
    for mode in ["staircase", "connected", "slope"] {
        let t = svg(&s, &[("lineMode", mode)]);
        assert!(t.contains("stroke=\"#6464ff\""), "{mode}");
    }
    let stair = svg(&s, &[("lineMode", "staircase")]);
    let conn = svg(&s, &[("lineMode", "connected")]);
    // connected bridges the gaps: fewer subpaths
    assert!(conn.matches('M').count() < stair.matches('M').count());
}

#[test]
fn hostile_text_is_escaped_and_bounded() {
    let s = [constant("<script>alert(1)</script>", 1.0)];
    let t = svg(&s, &[("title", "\"><x>")]);
    assert!(!t.contains("<script>alert") && !t.contains("<x>"));
    assert!(render_line(
        &s,
        &Params::from_pairs(&[("xFormat", "%Q%")]),
        Format::Png,
        chrono_tz::UTC
    )
    .is_ok());
    assert!(render_line(
        &s,
        &Params::from_pairs(&[("fontSize", "1000")]),
        Format::Png,
        chrono_tz::UTC
    )
    .is_err());
}

#[test]
fn extreme_values_render_without_panic() {
    let s = [
        series("huge", |i| Some(if i % 2 == 0 { 1e300 } else { -1e300 })),
        series("inf", |i| {
            Some(if i % 3 == 0 { f64::INFINITY } else { f64::NAN })
        }),
        series("tiny", |i| Some(i as f64 * 1e-300)),
    ];
    for pairs in [
        vec![],
        vec![("areaMode", "stacked")],
        vec![("logBase", "10")],
        vec![("lineMode", "staircase"), ("drawNullAsZero", "true")],
        vec![("yMin", "-1e308"), ("yMax", "1e308")],
    ] {
        for f in [Format::Png, Format::Svg] {
            // an error is fine (log scale of negatives); a panic is not
            let _ = render_line(&s, &Params::from_pairs(&pairs), f, chrono_tz::UTC);
        }
    }
    let one = [query::series::Series::new(
        "one".to_string(),
        0,
        60,
        60,
        vec![Some(1.0)],
    )];
    assert!(render_line(&one, &Params::default(), Format::Png, chrono_tz::UTC).is_ok());
}

#[test]
fn svg_carries_graphites_metadata_script() {
    let s = [series("a.b", |i| Some(i as f64))];
    let t = svg(&s, &[]);
    let start = t.find("metadata = ").expect("metadata script") + "metadata = ".len();
    let end = t[start..].find('\n').expect("line end") + start;
    let v: serde_json::Value = serde_json::from_str(&t[start..end]).expect("json");
    assert_eq!(v["series"][0]["name"], "a.b");
    assert_eq!(v["series"][0]["step"], 60);
    assert_eq!(v["y"]["labels"][0], "0 ");
    assert!(t.trim_end().ends_with("</svg>"));
}
