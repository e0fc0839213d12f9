//! The routing table of a parsed configuration, printed in the configuration language (what
//! `carbonado check-config` shows, as carbon-c-relay's `-t` prints its configuration back).

use std::fmt::Write;

use crate::config::{ClusterKind, Compression, Config, Rule, Target, TimestampAt, ValidateAction};

fn cluster_names(cfg: &Config, ids: &[usize]) -> String {
    ids.iter()
        .filter_map(|&i| cfg.clusters.get(i).map(|c| c.name.as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The clusters and rules of `cfg`, one statement each, in evaluation order.
pub fn routing_table(cfg: &Config) -> String {
    let mut o = String::new();
    for c in &cfg.clusters {
        let _ = write!(o, "cluster {}\n    {}", c.name, c.kind.keyword());
        if matches!(c.kind, ClusterKind::File { ip: true }) {
            o.push_str(" ip");
        }
        if c.kind.is_hash() && c.replication > 1 {
            let _ = write!(o, " replication {}", c.replication);
        }
        if c.useall {
            o.push_str(" useall");
        }
        o.push('\n');
        for s in &c.servers {
            let _ = write!(o, "        {}:{}", s.dest.host, s.dest.port);
            // The wrapping of the connection, in the configuration's own words.
            let c = match s.compression {
                Compression::Plain => "plain",
                Compression::Gzip => "gzip",
                Compression::Lz4 => "lz4",
                Compression::Snappy => "snappy",
            };
            if s.compression != Compression::Plain || s.ssl {
                let _ = write!(o, " transport {c}{}", if s.ssl { " ssl" } else { "" });
            }
            o.push('\n');
        }
        o.push_str("    ;\n");
    }
    for r in &cfg.rules {
        match r {
            Rule::Match {
                patterns,
                validate,
                route_using,
                target,
                stop,
            } => {
                o.push_str("match");
                for p in patterns {
                    let _ = write!(o, "\n    {}", p.text());
                }
                if let Some(v) = validate {
                    let action = match v.action {
                        ValidateAction::Log => "log",
                        ValidateAction::Drop => "drop",
                    };
                    let _ = write!(o, "\n    validate {} else {action}", v.pattern.text());
                }
                if let Some(u) = route_using {
                    let _ = write!(o, "\n    route using {u}");
                }
                match target {
                    Some(Target::Blackhole) => o.push_str("\n    send to blackhole"),
                    Some(Target::Clusters(ids)) => {
                        let _ = write!(o, "\n    send to {}", cluster_names(cfg, ids));
                    }
                    None => {}
                }
                if *stop {
                    o.push_str("\n    stop");
                }
                o.push_str("\n    ;\n");
            }
            Rule::Rewrite {
                pattern,
                replacement,
            } => {
                let _ = writeln!(
                    o,
                    "rewrite {}\n    into {}\n    ;",
                    pattern.text(),
                    replacement
                );
            }
            Rule::Aggregate(a) => {
                o.push_str("aggregate");
                for p in &a.patterns {
                    let _ = write!(o, "\n        {}", p.text());
                }
                let at = match a.timestamp {
                    TimestampAt::Start => "start",
                    TimestampAt::Middle => "middle",
                    TimestampAt::End => "end",
                };
                let _ = write!(
                    o,
                    "\n    every {} seconds\n    expire after {} seconds\n    timestamp at {at} of bucket",
                    a.interval, a.expire
                );
                for (c, name) in &a.computes {
                    let _ = write!(o, "\n    compute {} write to\n        {name}", c.name());
                }
                if let Some(ids) = &a.send_to {
                    let _ = write!(o, "\n    send to {}", cluster_names(cfg, ids));
                }
                if a.stop {
                    o.push_str("\n    stop");
                }
                o.push_str("\n    ;\n");
            }
            Rule::Statistics { .. } => o.push_str("statistics\n    ;\n"),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn prints_clusters_and_rules_in_order() {
        let text = "cluster a carbon_ch replication 2 10.0.0.1:2003 10.0.0.2:2003;\n\
                    cluster b forward 10.0.0.3:2003;\n\
                    rewrite ^x\\.(.*) into y.\\1;\n\
                    aggregate ^y\\.([^.]+)\\.req every 60 seconds expire after 90 seconds \
                    compute sum write to agg.\\1.req send to b stop;\n\
                    match ^y send to a stop;\n\
                    match * send to blackhole;\n";
        let cfg = crate::parse_str(text, Path::new("<t>"), Path::new(".")).unwrap();
        let t = routing_table(&cfg);
        let want = [
            "cluster a\n    carbon_ch replication 2\n        10.0.0.1:2003\n        10.0.0.2:2003\n    ;",
            "cluster b\n    forward\n        10.0.0.3:2003\n    ;",
            "rewrite ^x\\.(.*)\n    into y.\\1\n    ;",
            "compute sum write to\n        agg.\\1.req\n    send to b\n    stop\n    ;",
            "match\n    ^y\n    send to a\n    stop\n    ;",
            "match\n    *\n    send to blackhole\n    stop\n    ;",
        ];
        let mut at = 0;
        for w in want {
            let i = t[at..]
                .find(w)
                .unwrap_or_else(|| panic!("{w:?} not in order in\n{t}"));
            at += i + w.len();
        }
    }
}
