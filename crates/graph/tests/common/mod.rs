//! Fixed data shared by the renderer tests.
#![allow(dead_code)]

use query::series::Series;

/// Epoch of the fixed data's end.
pub const END: i64 = 1_700_003_600;

/// A minutely series over the two hours before [`END`].
pub fn series(name: &str, f: impl Fn(usize) -> Option<f64>) -> Series {
    Series::new(
        name.to_string(),
        END - 7200,
        END,
        60,
        (0..120).map(f).collect(),
    )
}

/// A constant series.
pub fn constant(name: &str, v: f64) -> Series {
    series(name, |_| Some(v))
}

/// Pixel (r, g, b, a) of a rendered PNG.
pub fn pixel(png: &[u8], x: u32, y: u32) -> [u8; 4] {
    let pm = tiny_skia::Pixmap::decode_png(png).expect("decode png");
    let c = pm.pixel(x, y).expect("pixel in range").demultiply();
    [c.red(), c.green(), c.blue(), c.alpha()]
}

/// Whether two colors are within `tol` per channel.
pub fn near(a: [u8; 4], b: [u8; 4], tol: i32) -> bool {
    a.iter()
        .zip(b.iter())
        .all(|(x, y)| (i32::from(*x) - i32::from(*y)).abs() <= tol)
}
