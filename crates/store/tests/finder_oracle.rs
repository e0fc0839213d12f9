//! The index answers find queries exactly like graphite-web's own `StandardFinder`, run on the same
//! tree of (empty) whisper files by Debian's graphite-web.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::{run_sys_python, Rng};
use store::NameIndex;

const FINDER: &str = r#"
import os, sys, json, warnings
warnings.simplefilter("ignore")
os.environ["GRAPHITE_STORAGE_DIR"] = sys.argv[1]
os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
import django; django.setup()
from graphite.finders.standard import StandardFinder
from graphite.finders.utils import FindQuery
finder = StandardFinder([sys.argv[2]])
out = []
for q in json.load(sys.stdin):
    out.append(sorted({(n.path, bool(n.is_leaf)) for n in finder.find_nodes(FindQuery(q, None, None))}))
print(json.dumps(out))
"#;

fn touch(root: &Path, rel: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, b"").unwrap();
}

fn build_tree(root: &Path, rng: &mut Rng) {
    for rel in [
        "servers/web01/cpu/user.wsp",
        "servers/web01/cpu/system.wsp",
        "servers/web01/disk/sda.wsp",
        "servers/web01/disk/sdb.wsp",
        "servers/web02/cpu/user.wsp",
        "servers/web-02/cpu/idle.wsp",
        "servers/db_1/cpu/user.wsp",
        "servers/db_1.wsp",
        "servers/UPPER/x.wsp",
        "servers/.hidden.wsp",
        "servers/notes.txt",
        "deep/a/b/c/d/e.wsp",
        "deep/a/b/c.wsp",
    ] {
        touch(root, rel);
    }
    fs::create_dir_all(root.join("servers/empty")).unwrap();
    fs::create_dir_all(root.join("servers/.hiddenempty")).unwrap();
    for name in [
        "a[b",
        "x{y}",
        "q?",
        "star*",
        "ünï",
        "comma,name",
        "br]ack",
        "dash-",
        "!bang",
        "^caret",
        "back\\slash",
        "sp ace",
        "a-c",
        "b",
        "z",
        "-",
        "]",
        "[",
        "{",
        "}",
        "a{b,c}",
        "tilde~",
        "amp&amp",
        "pipe|",
        "x",
    ] {
        touch(root, &format!("odd/{name}.wsp"));
    }
    let metrics = [
        "cpu/user",
        "cpu/system",
        "mem/free",
        "net/rx",
        "net/tx",
        "load",
    ];
    for h in 0..30 {
        for m in metrics {
            if rng.below(3) > 0 {
                touch(root, &format!("hosts/h{h}/{m}.wsp"));
            }
        }
    }
    fs::create_dir_all(root.join("links")).unwrap();
    symlink(root.join("servers/web01"), root.join("links/alias")).unwrap();
    symlink(
        root.join("servers/web02/cpu/user.wsp"),
        root.join("links/leaf.wsp"),
    )
    .unwrap();
}

fn patterns(rng: &mut Rng) -> Vec<String> {
    let mut out: Vec<String> = [
        "*",
        "servers",
        "servers.*",
        "servers.*.*",
        "servers.*.cpu.*",
        "servers.web0?.cpu.user",
        "servers.web0[12].*.*",
        "servers.{web01,db_1}.cpu.user",
        "servers.{web*,*1}",
        "servers.db_1",
        "servers.db_1.*",
        "servers.[!w]*",
        "servers.[a-d]*.cpu",
        "servers.*_1",
        "servers.UPPER.x",
        "servers.upper.x",
        "servers.empty",
        "servers.empty.*",
        "servers..web01.cpu.user",
        "servers.",
        "servers.web01.",
        "servers.notes",
        "servers.*notes*",
        "servers.web01.{cpu,disk}.{user,sd?}",
        "servers.{a,{web01,web02}}.cpu.user",
        "servers.**",
        "servers.**.user",
        "servers.web01.**",
        "servers.**.cpu.*",
        "deep.**",
        "deep.**.e",
        "deep.a.**.c",
        "hosts.**.rx",
        "**",
        "**.user",
        "**.alias",
        "links.**",
        "**.cpu.*",
        "**.alias.cpu.*",
        "odd.*",
        "odd.?",
        "odd.a[b",
        "odd.a[[]b",
        "odd.x{y}",
        "odd.{x{y},q?}",
        "odd.q?",
        "odd.star*",
        "odd.ü*",
        "odd.ünï",
        "odd.comma,name",
        "odd.{comma,name}",
        "odd.br]ack",
        "odd.*]*",
        "odd.[]]",
        "odd.[!]]",
        "odd.[]a]*",
        "odd.[",
        "odd.[[]",
        "odd.{",
        "odd.}",
        "odd.[{]",
        "odd.a{b,c}",
        "odd.a{b,c}*",
        "odd.a[{]b,c}",
        "odd.[a-c]",
        "odd.[a-c-e]*",
        "odd.[z-a]",
        "odd.[!z-a]",
        "odd.[-]",
        "odd.[!-]*",
        "odd.[^]*",
        "odd.[!^]*",
        "odd.*~",
        "odd.*&*",
        "odd.pipe|",
        "odd.sp ace",
        "odd.sp*",
        "odd.!bang",
        "odd.[!!]*",
        "odd.*slash",
        "odd.dash-",
        "odd.-",
        "odd.{-,z}",
        "odd.{}",
        "odd.x{}",
        "odd.{,x}",
        "odd.{{x}}",
        "links.*",
        "links.alias.cpu.*",
        "links.leaf",
        "links.*.*.user",
        "hosts.h1?.cpu.*",
        "hosts.h[0-2].*",
        "hosts.*.net.{rx,tx}",
        "hosts.h{1,2}*.load",
        "*.*.cpu.user",
        "{servers,hosts}.*.cpu",
        "nope",
        "nope.*",
        "",
        ".",
        "..",
        "*.",
        "servers.*.cpu.user.more",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let heads = [
        "servers",
        "hosts",
        "odd",
        "deep",
        "*",
        "{servers,odd}",
        "s*",
        "links",
        "h*",
        "?eep",
    ];
    let parts = [
        "*",
        "?",
        "??",
        "*1",
        "web*",
        "web0?",
        "[a-m]*",
        "[!s]*",
        "[]]*",
        "[!]]*",
        "{web01,db_1}",
        "{web*,*1}",
        "{a,{b,c}}",
        "h1?",
        "h[0-2]",
        "h{1,2}*",
        "cpu",
        "user",
        "load",
        "net",
        "rx",
        "[z-a]",
        "[!z-a]*",
        "*[",
        "a[b",
        "x{y}",
        "{x{y},q?}",
        "q?",
        "star*",
        "",
        "u*r",
        "*e*",
        "?*?",
        "[a-c-e]*",
        "[^]*",
        "ü*",
        "*,*",
        "a",
        "b",
        "c",
        "d",
        "e",
        "[!a-c]",
        "{cpu,mem}",
        "{}",
        "*x*",
        "[!]-a]*",
        "[]-a]",
    ];
    for _ in 0..400 {
        let depth = 1 + rng.below(5);
        let mut p = rng.pick(&heads).to_string();
        for _ in 0..depth {
            p.push('.');
            let part: &str = rng.pick(&parts);
            p.push_str(part);
        }
        out.push(p);
    }
    out
}

#[test]
fn find_matches_graphite_web_standard_finder() {
    let dir = tempfile::tempdir().unwrap();
    let whisper = dir.path().join("whisper");
    fs::create_dir_all(&whisper).unwrap();
    let mut rng = Rng::new(0x5eed_f1d0);
    build_tree(&whisper, &mut rng);
    let pats = patterns(&mut rng);
    let stdin = serde_json::to_string(&pats).unwrap();
    let stdout = run_sys_python(
        FINDER,
        &[dir.path().to_str().unwrap(), whisper.to_str().unwrap()],
        &stdin,
    );
    let expected: Vec<Vec<(String, bool)>> =
        serde_json::from_str(stdout.trim()).expect("finder output is JSON");
    assert_eq!(expected.len(), pats.len());
    let (index, _) = NameIndex::load(&whisper).unwrap();
    let mut failures = Vec::new();
    let mut non_empty = 0;
    for (pat, want) in pats.iter().zip(expected) {
        let want: BTreeSet<(String, bool)> = want.into_iter().collect();
        let got: BTreeSet<(String, bool)> = index
            .find(pat, 1_000_000)
            .unwrap()
            .into_iter()
            .map(|n| (n.path, n.is_leaf))
            .collect();
        non_empty += usize::from(!want.is_empty());
        if got != want {
            failures.push(format!(
                "{pat:?}\n  graphite-web: {want:?}\n  carbonado:    {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries differ:\n{}",
        failures.len(),
        pats.len(),
        failures.join("\n")
    );
    assert!(
        non_empty > 100,
        "too few queries matched anything ({non_empty}); the test tree is wrong"
    );
}
