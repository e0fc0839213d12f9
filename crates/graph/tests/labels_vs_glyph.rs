//! Y-axis labels and unit prefixes compared with graphite-web's own glyph.py (Debian's
//! graphite-web, run with CARBONADO_SYS_PYTHON, default /usr/bin/python3). Fails when it is missing.

use graph::ticks::{Axis, AxisSettings};
use std::process::Command;

const CASES: &[(f64, f64, &str)] = &[
    (0.0, 26.0, "si"),
    (0.0, 4000.0, "si"),
    (0.0, 4194304.0, "binary"),
    (0.0, 4000.0, "none"),
    (-3.0, 7.0, "si"),
    (0.001, 0.0042, "si"),
    (1.0, 1.2, "si"),
    (5.0, 5.0, "si"),
    (0.0, 0.0, "si"),
    (-250.0, -10.0, "si"),
    (12.5, 987654321.0, "si"),
    (3.0, 1e13, "binary"),
    (0.2, 0.9, "si"),
    (99.0, 101.0, "si"),
    (1e-7, 3e-6, "si"),
    (42.0, 6_000_000.0, "none"),
    (1000.0, 2500.0, "si"),
    (1_000_000.0, 1_200_000.0, "si"),
    (2048.0, 5000.0, "binary"),
];

fn python() -> String {
    std::env::var("CARBONADO_SYS_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

#[test]
fn labels_match_graphite_web() {
    let mut script = String::from(
        "import os, sys, json\nos.environ['DJANGO_SETTINGS_MODULE']='graphite.settings'\n\
         os.environ.setdefault('GRAPHITE_STORAGE_DIR', sys.argv[1])\nos.makedirs(sys.argv[1]+'/log/webapp', exist_ok=True)\n\
         import warnings; warnings.simplefilter('ignore')\nimport django; django.setup()\nfrom graphite.render import glyph\nout=[]\n",
    );
    for (lo, hi, sys) in CASES {
        script.push_str(&format!(
            "t=glyph._LinearAxisTics({lo:?},{hi:?},unitSystem='{sys}'); t.applySettings(); t.chooseStep(divisors=[4,5,6],binary='{sys}'=='binary'); t.chooseLimits()\nout.append([t.makeLabel(v) for v in t.getLabelValues()])\n"
        ));
    }
    script.push_str("print(json.dumps(out))\n");
    let tmp = tempfile::tempdir().expect("tmp");
    let out = Command::new(python())
        .arg("-c")
        .arg(&script)
        .arg(tmp.path())
        .output()
        .expect("graphite-web's python must be installed (CARBONADO_SYS_PYTHON)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().expect("output");
    let want: Vec<Vec<String>> = serde_json::from_str(line).expect("json from python");
    assert_eq!(want.len(), CASES.len());
    for ((lo, hi, sys), want) in CASES.iter().zip(want) {
        let mut a =
            Axis::new(*lo, *hi, sys, None, &AxisSettings::default(), &[4, 5, 6]).expect("axis");
        let got: Vec<String> = a
            .label_values()
            .expect("values")
            .iter()
            .map(|v| a.label(*v))
            .collect();
        assert_eq!(got, want, "range {lo}..{hi} {sys}");
    }
}
