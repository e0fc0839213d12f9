use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;

fn touch(root: &Path, rel: &str) {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(p, b"").unwrap();
}

fn paths(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| format!("{}{}", n.path, if n.is_leaf { "" } else { "/" }))
        .collect()
}

fn find(idx: &NameIndex, q: &str) -> Vec<String> {
    paths(&idx.find(q, 10_000).unwrap())
}

fn sample_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    for rel in [
        "servers/web01/cpu/user.wsp",
        "servers/web01/cpu/system.wsp",
        "servers/web02/cpu/user.wsp",
        "servers/db01/cpu/user.wsp",
        "servers/db01.wsp",
        "servers/.hidden/x.wsp",
        "servers/.secret.wsp",
        "servers/notes.txt",
        "servers/dotted.name.wsp",
        "servers/web01/disk.wsp.gz",
        "_tagged/abc/def/hash.wsp",
        "stats/_tagged/x.wsp",
    ] {
        touch(r, rel);
    }
    fs::create_dir_all(r.join("servers/empty")).unwrap();
    dir
}

#[test]
fn load_and_find_basics() {
    let dir = sample_tree();
    let (idx, stats) = NameIndex::load(dir.path()).unwrap();
    assert_eq!(stats.leaves, 6);
    assert_eq!(stats.skipped_names, 1);
    assert_eq!(find(&idx, "*"), vec!["servers/", "stats/"]);
    assert_eq!(
        find(&idx, "servers.*"),
        vec![
            "servers.db01/",
            "servers.db01",
            "servers.empty/",
            "servers.web01/",
            "servers.web02/"
        ]
    );
    assert_eq!(
        find(&idx, "servers.db01"),
        vec!["servers.db01/", "servers.db01"]
    );
    assert_eq!(
        find(&idx, "servers.*.cpu.user"),
        vec![
            "servers.db01.cpu.user",
            "servers.web01.cpu.user",
            "servers.web02.cpu.user"
        ]
    );
    // Sorted by node name first.
    assert_eq!(
        find(&idx, "servers.web01.cpu.*"),
        vec!["servers.web01.cpu.system", "servers.web01.cpu.user"]
    );
    assert_eq!(
        find(&idx, "servers.web0[!1].cpu.{user,system}"),
        vec!["servers.web02.cpu.user"]
    );
    assert_eq!(
        find(&idx, "servers.{web*,db01}.cpu"),
        vec![
            "servers.db01.cpu/",
            "servers.web01.cpu/",
            "servers.web02.cpu/"
        ]
    );
    assert_eq!(
        find(&idx, "servers..web01.cpu.user"),
        vec!["servers.web01.cpu.user"]
    );
    assert_eq!(find(&idx, "stats._tagged.x"), vec!["stats._tagged.x"]);
    assert!(find(&idx, "_tagged.*").is_empty());
    assert!(find(&idx, "servers.dotted").is_empty());
    assert!(find(&idx, "servers.web01.cpu.user;dc=a").is_empty());
    assert!(find(&idx, "nope.*").is_empty());
    // graphite-web drops backslashes, so an "escaped" star is still a wildcard.
    assert_eq!(
        find(&idx, "serv\\*ers.db01.cpu.user"),
        vec!["servers.db01.cpu.user"]
    );
    assert_eq!(
        find(&idx, "serv\\ers.db01.cpu.user"),
        vec!["servers.db01.cpu.user"]
    );
}

#[test]
fn globstar() {
    let dir = sample_tree();
    let (idx, _) = NameIndex::load(dir.path()).unwrap();
    assert_eq!(
        find(&idx, "servers.**.user"),
        vec![
            "servers.db01.cpu.user",
            "servers.web01.cpu.user",
            "servers.web02.cpu.user"
        ]
    );
    let all = find(&idx, "servers.web01.**");
    assert_eq!(
        all,
        vec![
            "servers.web01.cpu/",
            "servers.web01.cpu.system",
            "servers.web01.cpu.user"
        ]
    );
    let leaves: Vec<Node> = idx
        .find("**", 100)
        .unwrap()
        .into_iter()
        .filter(|n| n.is_leaf)
        .collect();
    assert_eq!(leaves.len(), idx.leaf_count());
}

#[test]
fn limit_is_enforced() {
    let dir = sample_tree();
    let (idx, _) = NameIndex::load(dir.path()).unwrap();
    assert_eq!(idx.find("servers.*", 5).unwrap().len(), 5);
    assert!(matches!(
        idx.find("servers.*", 4),
        Err(IndexError::TooManyMatches { limit: 4, .. })
    ));
    assert!(matches!(
        idx.find(&"{a,b,c,d}".repeat(10), 10),
        Err(IndexError::TooManyVariants { .. })
    ));
    assert!(matches!(
        idx.find(&"a.".repeat(2000), 10),
        Err(IndexError::QueryTooLong { .. })
    ));
}

#[test]
fn symlinks_followed_without_looping() {
    let dir = sample_tree();
    let r = dir.path();
    symlink(r.join("servers/web01"), r.join("servers/alias")).unwrap();
    symlink(r.join("servers"), r.join("servers/web02/loop")).unwrap();
    symlink(
        r.join("servers/web01/cpu/user.wsp"),
        r.join("servers/db01/cpu/linked.wsp"),
    )
    .unwrap();
    symlink(r.join("missing"), r.join("servers/broken")).unwrap();
    symlink(r.join("missing.wsp"), r.join("servers/broken2.wsp")).unwrap();
    let (idx, stats) = NameIndex::load(r).unwrap();
    assert_eq!(stats.symlink_loops, 1);
    assert_eq!(
        find(&idx, "servers.alias.cpu.*"),
        vec!["servers.alias.cpu.system", "servers.alias.cpu.user"]
    );
    assert_eq!(
        find(&idx, "servers.web02.loop"),
        vec!["servers.web02.loop/"]
    );
    assert!(find(&idx, "servers.web02.loop.*").is_empty());
    assert_eq!(
        find(&idx, "servers.db01.cpu.linked"),
        vec!["servers.db01.cpu.linked"]
    );
    assert!(find(&idx, "servers.broken*").is_empty());
}

#[test]
fn insert_remove_contains() {
    let idx = NameIndex::new();
    assert!(idx.insert("a.b.c").unwrap());
    assert!(!idx.insert("a.b.c").unwrap());
    assert!(idx.insert("a.b").unwrap());
    assert!(idx.contains("a.b.c") && idx.contains("a.b") && !idx.contains("a"));
    assert_eq!(find(&idx, "a.*"), vec!["a.b/", "a.b"]);
    assert!(idx.remove("a.b"));
    assert!(!idx.remove("a.b"));
    assert_eq!(find(&idx, "a.*"), vec!["a.b/"]);
    assert!(idx.remove("a.b.c"));
    // The directory stays a branch: only its file went away.
    assert_eq!(find(&idx, "a.b"), vec!["a.b/"]);
    assert_eq!(idx.leaf_count(), 0);
    let too_deep = vec!["d"; 2000].join(".");
    for bad in [
        "",
        "a..b",
        ".a",
        "a/b",
        "a.b;t=v",
        "_tagged.x",
        "a.\0",
        too_deep.as_str(),
    ] {
        assert!(
            matches!(idx.insert(bad), Err(IndexError::InvalidName { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn reload_swaps_in_new_tree() {
    let dir = sample_tree();
    let idx = NameIndex::new();
    assert!(find(&idx, "*").is_empty());
    idx.reload(dir.path()).unwrap();
    assert_eq!(find(&idx, "*"), vec!["servers/", "stats/"]);
    assert!(NameIndex::load(&dir.path().join("nope")).is_err());
    assert!(NameIndex::load(&dir.path().join("servers/db01.wsp")).is_err());
}

#[test]
fn two_hundred_thousand_names() {
    let idx = NameIndex::new();
    for h in 0..2000 {
        for m in 0..100 {
            idx.insert(&format!("hosts.h{h:04}.m{m:02}")).unwrap();
        }
    }
    assert_eq!(idx.leaf_count(), 200_000);
    assert_eq!(find(&idx, "hosts.h1234.m42"), vec!["hosts.h1234.m42"]);
    let r = idx.find("hosts.*.m07", 1_000_000).unwrap();
    assert_eq!(r.len(), 2000);
    assert!(r.iter().all(|n| n.is_leaf && n.path.ends_with(".m07")));
    assert!(r.windows(2).all(|w| w[0].path < w[1].path));
    assert_eq!(
        idx.find("hosts.h0[0-4]??.m9{8,9}", 1_000_000)
            .unwrap()
            .len(),
        1000
    );
    assert_eq!(idx.find("hosts.*.*", 1_000_000).unwrap().len(), 200_000);
    assert!(idx.find("hosts.*.*", 199_999).is_err());
    assert_eq!(idx.leaves().len(), 200_000);
}

#[test]
fn concurrent_finds_and_inserts() {
    let idx = std::sync::Arc::new(NameIndex::new());
    std::thread::scope(|s| {
        let w = idx.clone();
        s.spawn(move || {
            for i in 0..5000 {
                w.insert(&format!("c.n{i}")).unwrap();
            }
        });
        for _ in 0..3 {
            let r = idx.clone();
            s.spawn(move || {
                let mut last = 0;
                for _ in 0..200 {
                    let n = r.find("c.*", 100_000).unwrap().len();
                    assert!(n >= last, "the index never shrinks here");
                    last = n;
                }
            });
        }
    });
    assert_eq!(idx.find("c.*", 100_000).unwrap().len(), 5000);
}

#[test]
fn inserts_during_reload_survive_the_swap() {
    let dir = sample_tree();
    let idx = std::sync::Arc::new(NameIndex::new());
    std::thread::scope(|s| {
        let writer = idx.clone();
        let root = dir.path().to_path_buf();
        let h = s.spawn(move || {
            // Like the cache: create the file, then index it.
            for i in 0..2000 {
                touch(&root, &format!("fresh/m{i}.wsp"));
                writer.insert(&format!("fresh.m{i}")).unwrap();
            }
        });
        for _ in 0..5 {
            idx.reload(dir.path()).unwrap();
        }
        h.join().unwrap();
    });
    assert_eq!(idx.find("fresh.*", 10_000).unwrap().len(), 2000);
    assert!(idx.contains("servers.db01"));
}

#[test]
fn runaway_globstar_queries_are_refused() {
    let idx = NameIndex::new();
    let deep = vec!["d"; 100].join(".");
    idx.insert(&format!("{deep}.leaf")).unwrap();
    assert_eq!(idx.find("**.leaf", 10).unwrap().len(), 1);
    // Each further `**` multiplies the work by the depth (here about 100^4 / 24 nodes): refused
    // instead of running for minutes. A small budget keeps the test quick.
    assert!(matches!(
        idx.find_with_budget("**.**.**.**.nope", 10, 100_000),
        Err(IndexError::QueryTooExpensive { limit: 100_000, .. })
    ));
    assert_eq!(
        idx.find_with_budget("**.leaf", 10, 100_000).unwrap().len(),
        1
    );
}
