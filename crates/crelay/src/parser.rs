//! Statement parser: tokens to [`Config`], with c-relay's checks on meaning.

use std::path::{Path, PathBuf};

use regex::Regex;
use ring::Destination;

use crate::config::*;
use crate::error::{Error, Pos, Result};
use crate::lexer::{tokenize, Token};

/// Nesting limit for `include`; c-relay has none and loops forever.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Parses configuration text; `include` paths are relative to `base_dir`.
pub fn parse_str(text: &str, file: &Path, base_dir: &Path) -> Result<Config> {
    let mut cfg = Config::default();
    parse_into(&mut cfg, text, file, base_dir, 0)?;
    Ok(cfg)
}

/// Reads and parses a configuration file. Relative `include` paths are resolved against the
/// current directory, as carbon-c-relay does (not against the including file's directory).
pub fn parse_file(path: &Path) -> Result<Config> {
    parse_file_in(path, Path::new("."))
}

/// [`parse_file`] with relative `include` paths resolved against `base_dir`.
pub fn parse_file_in(path: &Path, base_dir: &Path) -> Result<Config> {
    let mut cfg = Config::default();
    include_file(&mut cfg, path, base_dir, 0)?;
    Ok(cfg)
}

fn include_file(cfg: &mut Config, path: &Path, base: &Path, depth: usize) -> Result<()> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(Error::IncludeDepth(path.to_owned()));
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_into(cfg, &text, path, base, depth)
}

fn parse_into(cfg: &mut Config, text: &str, file: &Path, base: &Path, depth: usize) -> Result<()> {
    let tokens = tokenize(text, file)?;
    let mut p = Parser {
        toks: &tokens,
        i: 0,
        file,
    };
    while let Some(t) = p.peek() {
        let t = t.clone();
        if t.is_end() {
            // c-relay's grammar has no empty statement.
            return Err(at(&t.pos, "unexpected ';'"));
        }
        match t.text.as_str() {
            "cluster" if !t.quoted => p.cluster(cfg)?,
            "match" if !t.quoted => p.matcher(cfg)?,
            "rewrite" if !t.quoted => p.rewrite(cfg)?,
            "aggregate" if !t.quoted => p.aggregate(cfg)?,
            "statistics" if !t.quoted => p.statistics(cfg)?,
            "send" if !t.quoted => p.send_statistics(cfg)?,
            "listen" if !t.quoted => p.listen(cfg)?,
            "include" if !t.quoted => {
                p.next()?;
                let pat = p.word("a file or glob to include")?;
                p.end()?;
                let full = if Path::new(&pat.text).is_absolute() {
                    PathBuf::from(&pat.text)
                } else {
                    base.join(&pat.text)
                };
                let files = crate::glob::expand(&full).map_err(|m| at(&pat.pos, &m))?;
                if files.is_empty() {
                    return Err(at(
                        &pat.pos,
                        &format!("include {:?} matches no file", pat.text),
                    ));
                }
                for f in files {
                    include_file(cfg, &f, base, depth + 1)?;
                }
            }
            _ => {
                return Err(at(
                    &t.pos,
                    &format!("unexpected {:?}, expected a statement", t.text),
                ))
            }
        }
    }
    Ok(())
}

fn at(pos: &Pos, message: &str) -> Error {
    Error::At {
        pos: pos.clone(),
        message: message.to_owned(),
    }
}

struct Parser<'a> {
    toks: &'a [Token],
    i: usize,
    file: &'a Path,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.i)
    }

    fn eof_pos(&self) -> Pos {
        self.toks.last().map_or_else(
            || Pos {
                file: self.file.to_owned(),
                line: 1,
                col: 1,
            },
            |t| t.pos.clone(),
        )
    }

    fn next(&mut self) -> Result<&'a Token> {
        let t = self
            .toks
            .get(self.i)
            .ok_or_else(|| at(&self.eof_pos(), "unexpected end of file, missing ';'"))?;
        self.i += 1;
        Ok(t)
    }

    fn peek_is(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is(kw))
    }

    fn expect(&mut self, kw: &str) -> Result<&'a Token> {
        let t = self.next()?;
        if t.is(kw) {
            Ok(t)
        } else {
            Err(at(&t.pos, &format!("expected '{kw}', found {:?}", t.text)))
        }
    }

    fn word(&mut self, what: &str) -> Result<&'a Token> {
        let t = self.next()?;
        if t.is_end() {
            return Err(at(&t.pos, &format!("expected {what}, found ';'")));
        }
        Ok(t)
    }

    fn number(&mut self, what: &str) -> Result<(u32, &'a Token)> {
        let t = self.word(what)?;
        match t.text.parse::<u32>() {
            Ok(n) if !t.quoted => Ok((n, t)),
            _ => Err(at(&t.pos, &format!("expected {what}, found {:?}", t.text))),
        }
    }

    fn end(&mut self) -> Result<()> {
        let t = self.next()?;
        if t.is_end() {
            Ok(())
        } else {
            Err(at(
                &t.pos,
                &format!("unexpected {:?}, expected ';'", t.text),
            ))
        }
    }

    fn cluster(&mut self, cfg: &mut Config) -> Result<()> {
        let kw = self.next()?;
        let name = self.word("a cluster name")?;
        if name.is("blackhole") {
            return Err(at(&name.pos, "cluster name 'blackhole' is reserved"));
        }
        if cfg.cluster(&name.text).is_some() {
            return Err(at(
                &name.pos,
                &format!("cluster '{}' already defined", name.text),
            ));
        }
        let kt = self.word("a cluster type")?;
        let kind = match (kt.quoted, kt.text.as_str()) {
            (false, "forward") => ClusterKind::Forward,
            (false, "any_of") => ClusterKind::AnyOf,
            (false, "failover") => ClusterKind::Failover,
            (false, "carbon_ch") => ClusterKind::CarbonCh,
            (false, "fnv1a_ch") => ClusterKind::Fnv1aCh,
            (false, "jump_fnv1a_ch") => ClusterKind::JumpFnv1aCh,
            (false, "file") => {
                let ip = self.peek_is("ip");
                if ip {
                    self.next()?;
                }
                ClusterKind::File { ip }
            }
            _ => return Err(at(&kt.pos, &format!("unknown cluster type {:?}", kt.text))),
        };
        let mut c = Cluster {
            name: name.text.clone(),
            kind,
            replication: 1,
            dynamic: false,
            useall: false,
            servers: Vec::new(),
            pos: kw.pos.clone(),
        };
        let mut repl_tok = None;
        if kind.is_hash() {
            if self.peek_is("replication") {
                self.next()?;
                let (n, t) = self.number("a replication count")?;
                if !(1..=255).contains(&n) {
                    return Err(at(&t.pos, "replication count must be between 1 and 255"));
                }
                c.replication = n as usize;
                repl_tok = Some(t);
            }
            if self.peek_is("dynamic") {
                self.next()?;
                c.dynamic = true;
            }
        } else if matches!(
            kind,
            ClusterKind::Forward | ClusterKind::AnyOf | ClusterKind::Failover
        ) && self.peek_is("useall")
        {
            self.next()?;
            c.useall = true;
        }
        loop {
            let t = self.next()?;
            if t.is_end() {
                break;
            }
            if let ClusterKind::File { .. } = kind {
                c.servers.push(Server {
                    dest: Destination::new(t.text.clone(), 0, None),
                    proto: Proto::Tcp,
                    compression: Compression::Plain,
                    ssl: false,
                });
                continue;
            }
            let dest =
                Destination::parse_crelay(&t.text).map_err(|e| at(&t.pos, &e.to_string()))?;
            let mut s = Server {
                dest,
                proto: Proto::Tcp,
                compression: Compression::Plain,
                ssl: false,
            };
            loop {
                if self.peek_is("proto") {
                    self.next()?;
                    let v = self.word("udp or tcp")?;
                    s.proto = match v.text.as_str() {
                        "udp" => Proto::Udp,
                        "tcp" => Proto::Tcp,
                        _ => return Err(at(&v.pos, &format!("unknown protocol {:?}", v.text))),
                    };
                } else if self.peek_is("type") {
                    self.next()?;
                    let v = self.word("linemode")?;
                    if !v.is("linemode") {
                        return Err(at(&v.pos, &format!("unknown type {:?}", v.text)));
                    }
                } else if self.peek_is("transport") {
                    self.next()?;
                    let v = self.word("a transport")?;
                    s.compression = compression_of(v)?;
                    if self.peek_is("ssl") {
                        self.next()?;
                        s.ssl = true;
                    }
                } else {
                    break;
                }
            }
            check_shared(cfg, &c, &s, &t.pos)?;
            c.servers.push(s);
        }
        if c.servers.is_empty() {
            return Err(at(
                &name.pos,
                &format!("cluster '{}' has no servers", c.name),
            ));
        }
        if let Some(t) = repl_tok {
            if c.replication > c.servers.len() {
                return Err(at(
                    &t.pos,
                    &format!(
                        "replication count {} is larger than the number of servers ({})",
                        c.replication,
                        c.servers.len()
                    ),
                ));
            }
        }
        cfg.clusters.push(c);
        Ok(())
    }

    fn patterns(&mut self, stop_words: &[&str]) -> Result<Vec<Pattern>> {
        let mut pats = Vec::new();
        while let Some(t) = self.peek() {
            if t.is_end() || stop_words.iter().any(|w| t.is(w)) {
                break;
            }
            self.next()?;
            pats.push(pattern(t)?);
        }
        if pats.is_empty() {
            let pos = self
                .peek()
                .map_or_else(|| self.eof_pos(), |t| t.pos.clone());
            return Err(at(&pos, "expected an expression"));
        }
        Ok(pats)
    }

    fn clusters(&mut self, cfg: &Config, allow_blackhole: bool) -> Result<Target> {
        let mut ids = Vec::new();
        while let Some(t) = self.peek() {
            if t.is_end() || t.is("stop") {
                break;
            }
            self.next()?;
            if t.is("blackhole") && allow_blackhole {
                if !ids.is_empty() || !self.peek().is_some_and(|n| n.is_end() || n.is("stop")) {
                    return Err(at(
                        &t.pos,
                        "blackhole cannot be combined with other clusters",
                    ));
                }
                return Ok(Target::Blackhole);
            }
            match cfg.clusters.iter().position(|c| c.name == t.text) {
                Some(i) => ids.push(i),
                None => return Err(at(&t.pos, &format!("unknown cluster '{}'", t.text))),
            }
        }
        if ids.is_empty() {
            let pos = self
                .peek()
                .map_or_else(|| self.eof_pos(), |t| t.pos.clone());
            return Err(at(&pos, "expected a cluster name"));
        }
        Ok(Target::Clusters(ids))
    }

    fn matcher(&mut self, cfg: &mut Config) -> Result<()> {
        let kw = self.next()?;
        let patterns = self.patterns(&["validate", "route", "send"])?;
        if patterns.iter().any(|p| matches!(p, Pattern::All)) && patterns.len() > 1 {
            return Err(at(&kw.pos, "'*' cannot be combined with other expressions"));
        }
        let mut validate = None;
        if self.peek_is("validate") {
            self.next()?;
            let t = self.word("a validation expression")?;
            let pat = pattern(t)?;
            self.expect("else")?;
            let a = self.word("log or drop")?;
            let action = match a.text.as_str() {
                "log" => ValidateAction::Log,
                "drop" => ValidateAction::Drop,
                _ => {
                    return Err(at(
                        &a.pos,
                        &format!("expected log or drop, found {:?}", a.text),
                    ))
                }
            };
            validate = Some(Validate {
                pattern: pat,
                action,
            });
        }
        let mut route_using = None;
        if self.peek_is("route") {
            self.next()?;
            self.expect("using")?;
            route_using = Some(self.word("a hash key replacement")?.text.clone());
        }
        let mut target = None;
        if self.peek_is("send") {
            self.next()?;
            self.expect("to")?;
            target = Some(self.clusters(cfg, true)?);
        }
        let mut stop = false;
        if self.peek_is("stop") {
            self.next()?;
            stop = true;
        }
        if target.is_none() && validate.is_none() {
            let pos = self
                .peek()
                .map_or_else(|| self.eof_pos(), |t| t.pos.clone());
            return Err(at(&pos, "expected 'send to' (or 'validate')"));
        }
        self.end()?;
        // A blackhole always stops; a rule without destinations never does.
        match target {
            Some(Target::Blackhole) => stop = true,
            None => stop = false,
            Some(Target::Clusters(_)) => {}
        }
        cfg.rules.push(Rule::Match {
            patterns,
            validate,
            route_using,
            target,
            stop,
        });
        Ok(())
    }

    fn rewrite(&mut self, cfg: &mut Config) -> Result<()> {
        self.next()?;
        let t = self.word("a rewrite expression")?;
        if t.is("*") {
            return Err(at(&t.pos, "rewrite needs a regular expression, not '*'"));
        }
        let pat = pattern(t)?;
        self.expect("into")?;
        let r = self.word("a replacement")?;
        self.end()?;
        cfg.rules.push(Rule::Rewrite {
            pattern: pat,
            replacement: r.text.clone(),
        });
        Ok(())
    }

    fn aggregate(&mut self, cfg: &mut Config) -> Result<()> {
        self.next()?;
        let patterns = self.patterns(&["every"])?;
        if patterns.iter().any(|p| matches!(p, Pattern::All)) {
            return Err(at(&self.eof_pos(), "aggregate needs regular expressions"));
        }
        self.expect("every")?;
        let (interval, it) = self.number("an interval in seconds")?;
        self.expect("seconds")?;
        self.expect("expire")?;
        self.expect("after")?;
        let (expire, et) = self.number("an expiry in seconds")?;
        self.expect("seconds")?;
        if interval == 0 {
            return Err(at(&it.pos, "interval must be > 0"));
        }
        if expire <= interval {
            return Err(at(&et.pos, "expire must be greater than interval"));
        }
        let mut timestamp = TimestampAt::End;
        if self.peek_is("timestamp") {
            self.next()?;
            self.expect("at")?;
            let w = self.word("start, middle or end")?;
            timestamp = match w.text.as_str() {
                "start" => TimestampAt::Start,
                "middle" => TimestampAt::Middle,
                "end" => TimestampAt::End,
                _ => {
                    return Err(at(
                        &w.pos,
                        &format!("expected start, middle or end, found {:?}", w.text),
                    ))
                }
            };
            self.expect("of")?;
            self.expect("bucket")?;
        }
        let mut computes = Vec::new();
        while self.peek_is("compute") {
            self.next()?;
            let m = self.word("an aggregation method")?;
            let method = compute(m)?;
            self.expect("write")?;
            self.expect("to")?;
            let out = self.word("an output metric")?;
            computes.push((method, out.text.clone()));
        }
        if computes.is_empty() {
            let pos = self
                .peek()
                .map_or_else(|| self.eof_pos(), |t| t.pos.clone());
            return Err(at(&pos, "expected 'compute'"));
        }
        let mut send_to = None;
        if self.peek_is("send") {
            self.next()?;
            self.expect("to")?;
            match self.clusters(cfg, false)? {
                Target::Clusters(ids) => send_to = Some(ids),
                Target::Blackhole => {}
            }
        }
        let mut stop = false;
        // c-relay only knows `stop` as a keyword after `send to`.
        if send_to.is_some() && self.peek_is("stop") {
            self.next()?;
            stop = true;
        }
        self.end()?;
        cfg.rules.push(Rule::Aggregate(Aggregate {
            patterns,
            interval,
            expire,
            timestamp,
            computes,
            send_to,
            stop,
        }));
        Ok(())
    }

    fn statistics(&mut self, cfg: &mut Config) -> Result<()> {
        self.next()?;
        let (mut interval, mut reset_counters, mut prefix, mut send_to, mut stop) =
            (None, false, None, None, false);
        if self.peek_is("submit") {
            self.next()?;
            self.expect("every")?;
            let (n, t) = self.number("an interval in seconds")?;
            if n == 0 {
                return Err(at(&t.pos, "interval must be > 0"));
            }
            self.expect("seconds")?;
            interval = Some(n);
        }
        if self.peek_is("reset") {
            self.next()?;
            self.expect("counters")?;
            self.expect("after")?;
            self.expect("interval")?;
            reset_counters = true;
        }
        if self.peek_is("prefix") {
            self.next()?;
            self.expect("with")?;
            prefix = Some(self.word("a prefix")?.text.clone());
        }
        if self.peek_is("send") {
            self.next()?;
            self.expect("to")?;
            if let Target::Clusters(ids) = self.clusters(cfg, false)? {
                send_to = Some(ids);
            }
        }
        if self.peek_is("stop") {
            self.next()?;
            stop = true;
        }
        self.end()?;
        self.push_statistics(
            cfg,
            Rule::Statistics {
                interval,
                reset_counters,
                prefix,
                send_to,
                stop,
            },
        )
    }

    fn send_statistics(&mut self, cfg: &mut Config) -> Result<()> {
        self.next()?;
        self.expect("statistics")?;
        self.expect("to")?;
        let send_to = match self.clusters(cfg, false)? {
            Target::Clusters(ids) => Some(ids),
            Target::Blackhole => None,
        };
        let stop = self.peek_is("stop");
        if stop {
            self.next()?;
        }
        self.end()?;
        self.push_statistics(
            cfg,
            Rule::Statistics {
                interval: None,
                reset_counters: false,
                prefix: None,
                send_to,
                stop,
            },
        )
    }

    /// c-relay allows one statistics destination list in the whole configuration.
    fn push_statistics(&self, cfg: &mut Config, rule: Rule) -> Result<()> {
        let has_dest = |r: &Rule| {
            matches!(
                r,
                Rule::Statistics {
                    send_to: Some(_),
                    ..
                }
            )
        };
        if has_dest(&rule) && cfg.rules.iter().any(has_dest) {
            let pos = self
                .toks
                .get(self.i.saturating_sub(1))
                .map_or_else(|| self.eof_pos(), |t| t.pos.clone());
            return Err(at(
                &pos,
                "duplicate 'statistics send to' not allowed, use multiple destinations instead",
            ));
        }
        cfg.rules.push(rule);
        Ok(())
    }

    fn listen(&mut self, cfg: &mut Config) -> Result<()> {
        self.next()?;
        self.expect("type")?;
        let ty = self.word("linemode")?;
        if !ty.is("linemode") {
            return Err(at(&ty.pos, &format!("unknown listener type {:?}", ty.text)));
        }
        let mut compression = Compression::Plain;
        let mut ssl_pem = None;
        if self.peek_is("transport") {
            self.next()?;
            compression = compression_of(self.word("a transport")?)?;
            if self.peek_is("ssl") {
                self.next()?;
                ssl_pem = Some(self.word("a PEM certificate path")?.text.clone());
            }
        }
        let mut any = false;
        loop {
            let t = self.next()?;
            if t.is_end() {
                break;
            }
            self.expect("proto")?;
            let p = self.word("udp, tcp or unix")?;
            let proto = match p.text.as_str() {
                "udp" => Proto::Udp,
                "tcp" => Proto::Tcp,
                "unix" => Proto::Unix,
                _ => return Err(at(&p.pos, &format!("unknown protocol {:?}", p.text))),
            };
            if proto == Proto::Udp && (compression != Compression::Plain || ssl_pem.is_some()) {
                return Err(at(
                    &p.pos,
                    "cannot use UDP transport for compressed/encrypted stream",
                ));
            }
            let (address, port) = if proto == Proto::Unix {
                (Some(t.text.clone()), 0)
            } else {
                listen_addr(&t.text)
                    .ok_or_else(|| at(&t.pos, &format!("invalid listen address {:?}", t.text)))?
            };
            cfg.listeners.push(Listener {
                address,
                port,
                proto,
                compression,
                ssl_pem: ssl_pem.clone(),
            });
            any = true;
        }
        if !any {
            return Err(at(&ty.pos, "listen needs at least one address"));
        }
        Ok(())
    }
}

fn compression_of(t: &Token) -> Result<Compression> {
    Ok(match t.text.as_str() {
        "plain" => Compression::Plain,
        "gzip" => Compression::Gzip,
        "lz4" => Compression::Lz4,
        "snappy" => Compression::Snappy,
        _ => return Err(at(&t.pos, &format!("unknown transport {:?}", t.text))),
    })
}

fn compute(t: &Token) -> Result<Compute> {
    Ok(match t.text.as_str() {
        "sum" | "summary" => Compute::Sum,
        "count" | "cnt" => Compute::Count,
        "max" | "maximum" => Compute::Max,
        "min" | "minimum" => Compute::Min,
        "average" | "avg" => Compute::Average,
        "median" => Compute::Median,
        "variance" => Compute::Variance,
        "stddev" => Compute::Stddev,
        other => match other.strip_prefix("percentile") {
            Some(n) if (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()) => {
                match n.parse::<u8>() {
                    Ok(p @ 1..=99) => Compute::Percentile(p),
                    _ => {
                        return Err(at(
                            &t.pos,
                            "percentile<x>: value x must be between 1 and 99",
                        ))
                    }
                }
            }
            _ => return Err(at(&t.pos, &format!("unknown aggregation method {other:?}"))),
        },
    })
}

fn pattern(t: &Token) -> Result<Pattern> {
    if t.is("*") {
        return Ok(Pattern::All);
    }
    let regex = crate::ere::translate(&t.text)
        .and_then(|rust| Regex::new(&rust).map_err(|e| e.to_string()))
        .map_err(|e| at(&t.pos, &format!("invalid expression {:?}: {e}", t.text)))?;
    Ok(Pattern::Regex {
        text: t.text.clone(),
        regex,
    })
}

/// `[interface:]port` or `port` (IPv6 interfaces in brackets).
fn listen_addr(s: &str) -> Option<(Option<String>, u16)> {
    let port_of = |p: &str| p.parse::<u16>().ok().filter(|&p| p > 0);
    if let Some(inner) = s.strip_prefix('[') {
        let (host, rest) = inner.split_once(']')?;
        return Some((Some(host.to_owned()), port_of(rest.strip_prefix(':')?)?));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((Some(h.to_owned()), port_of(p)?)),
        Some(_) => None,
        None => Some((None, port_of(s)?)),
    }
}

/// An any_of/failover cluster shares one queue over its servers, so c-relay refuses to put a
/// server that is already defined anywhere (same address, port and protocol) into one; the
/// other way round (an any_of server reused by a later forward or hash cluster) is accepted.
fn check_shared(cfg: &Config, c: &Cluster, s: &Server, pos: &Pos) -> Result<()> {
    if !matches!(c.kind, ClusterKind::AnyOf | ClusterKind::Failover) {
        return Ok(());
    }
    let same =
        |o: &Server| o.dest.host == s.dest.host && o.dest.port == s.dest.port && o.proto == s.proto;
    if cfg
        .clusters
        .iter()
        .flat_map(|o| o.servers.iter())
        .chain(c.servers.iter())
        .any(same)
    {
        return Err(at(
            pos,
            &format!(
                "cannot share server {}:{} with any_of/failover cluster '{}'",
                s.dest.host, s.dest.port, c.name
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        parse_str(text, Path::new("t.conf"), Path::new("."))
    }

    #[test]
    fn clusters_rules_and_listeners() {
        let cfg = parse(
            "cluster c carbon_ch replication 2 dynamic 10.0.0.1:2004=a 10.0.0.2=b proto udp;\n\
             cluster f forward useall 10.0.0.9 transport lz4 ssl;\n\
             match ^a ^b validate ^[0-9]+ else log route using x.\\1 send to c f stop;\n\
             rewrite ^(x) into y\\1;\n\
             listen type linemode transport gzip ssl /etc/cert.pem 2003 proto tcp [::1]:2004 proto tcp;\n",
        )
        .unwrap();
        let c = cfg.cluster("c").unwrap();
        assert_eq!(
            (c.kind, c.replication, c.dynamic),
            (ClusterKind::CarbonCh, 2, true)
        );
        assert_eq!(c.servers[1].dest.port, 2003);
        assert_eq!(c.servers[1].dest.instance.as_deref(), Some("b"));
        assert_eq!(c.servers[1].proto, Proto::Udp);
        let f = cfg.cluster("f").unwrap();
        assert!(f.useall && f.servers[0].ssl && f.servers[0].compression == Compression::Lz4);
        let Rule::Match {
            patterns,
            validate,
            route_using,
            target,
            stop,
        } = &cfg.rules[0]
        else {
            panic!()
        };
        assert_eq!(patterns.len(), 2);
        assert_eq!(validate.as_ref().unwrap().action, ValidateAction::Log);
        assert_eq!(route_using.as_deref(), Some("x.\\1"));
        assert_eq!(target, &Some(Target::Clusters(vec![0, 1])));
        assert!(*stop);
        assert_eq!(cfg.listeners.len(), 2);
        assert_eq!(cfg.listeners[1].address.as_deref(), Some("::1"));
        assert_eq!(cfg.listeners[0].ssl_pem.as_deref(), Some("/etc/cert.pem"));
    }

    #[test]
    fn default_listeners_only_without_listen() {
        let cfg = parse("cluster a forward 1.2.3.4;\n").unwrap();
        let l = cfg.effective_listeners(2003);
        assert_eq!(
            l.iter().map(|l| l.proto).collect::<Vec<_>>(),
            [Proto::Tcp, Proto::Udp, Proto::Unix]
        );
        assert_eq!(l[2].address.as_deref(), Some("/tmp/.s.carbon-c-relay.2003"));
        let cfg = parse("listen type linemode 2004 proto udp;\n").unwrap();
        assert_eq!(cfg.effective_listeners(2003).len(), 1);
        assert_eq!(cfg.listeners[0].port, 2004);
    }

    #[test]
    fn errors_point_at_the_token() {
        let e =
            parse("cluster a forward 1.2.3.4;\n\nmatch ^x\n  send to\n     nosuch;\n").unwrap_err();
        assert_eq!(e.to_string(), "t.conf:5:6: unknown cluster 'nosuch'");
        let e = parse("cluster a forward 1.2.3.4;\nmatch ^x send to a").unwrap_err();
        assert!(e.to_string().contains("missing ';'"), "{e}");
        let e = parse("match \"unterminated\n").unwrap_err();
        assert_eq!(e.pos().map(|p| (p.line, p.col)), Some((1, 7)));
    }

    #[test]
    fn includes_globs_and_loops() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("inc")).unwrap();
        std::fs::write(d.join("inc/20-b.conf"), "match ^b send to a;\n").unwrap();
        std::fs::write(d.join("inc/10-a.conf"), "cluster a forward 1.2.3.4;\n").unwrap();
        std::fs::write(d.join("inc/.hidden.conf"), "garbage\n").unwrap();
        std::fs::write(
            d.join("main.conf"),
            "include inc/*.conf;\nmatch * send to a;\n",
        )
        .unwrap();
        let cfg = parse_file_in(&d.join("main.conf"), d).unwrap();
        assert_eq!((cfg.clusters.len(), cfg.rules.len()), (1, 2));
        std::fs::write(d.join("loop.conf"), "include loop.conf;\n").unwrap();
        assert!(matches!(
            parse_file_in(&d.join("loop.conf"), d),
            Err(Error::IncludeDepth(_))
        ));
        std::fs::write(d.join("none.conf"), "include nothing/*.conf;\n").unwrap();
        let e = parse_file_in(&d.join("none.conf"), d).unwrap_err();
        assert!(e.to_string().contains("matches no file"), "{e}");
    }
}
