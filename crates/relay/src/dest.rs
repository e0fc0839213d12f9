//! Destination addresses in Graphite's `host:port[:instance]` form.

use crate::error::RelayError;
use std::fmt;

/// One destination: where to connect and the instance name placement hashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DestAddr {
    /// Host name or address, used verbatim (also in hashing).
    pub host: String,
    /// TCP port (the pickle port of a cache, or a line port with the line protocol).
    pub port: u16,
    /// Instance name; `None` when the destination has only two fields.
    pub instance: Option<String>,
}

impl DestAddr {
    /// Parses `host:port[:instance]` or `[v6addr]:port[:instance]` like carbon's parseDestination,
    /// but rejecting a missing port instead of misreading it.
    pub fn parse(s: &str) -> Result<DestAddr, RelayError> {
        let s = s.trim();
        let bad = |why| RelayError::Destination(s.to_string(), why);
        let (host, rest) = if let Some(v6) = s.strip_prefix('[') {
            let end = v6.rfind("]:").ok_or_else(|| bad("IPv6 address needs [addr]:port"))?;
            (&v6[..end], &v6[end + 2..])
        } else {
            s.split_once(':').ok_or_else(|| bad("missing :port"))?
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let (port, instance) = match rest.split_once(':') {
            Some((p, i)) => (p, Some(i.to_string())),
            None => (rest, None),
        };
        let port = port.parse::<u16>().map_err(|_| bad("port is not a number 0-65535"))?;
        Ok(DestAddr {
            host: host.to_string(),
            port,
            instance,
        })
    }

    /// carbon's self-metric name for the destination: `host:port:instance`, dots as `_`.
    pub fn metric_name(&self) -> String {
        format!(
            "{}:{}:{}",
            self.host,
            self.port,
            self.instance.as_deref().unwrap_or("None")
        )
        .replace('.', "_")
    }

    /// A file-system-safe directory name for the destination's spill.
    pub fn dir_name(&self) -> String {
        self.metric_name()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "_-:".contains(c) { c } else { '_' })
            .collect()
    }
}

impl fmt::Display for DestAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        match &self.instance {
            Some(i) => write!(f, ":{i}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_carbon_forms() {
        let d = DestAddr::parse(" 127.0.0.1:2004:a ").unwrap();
        assert_eq!((d.host.as_str(), d.port, d.instance.as_deref()), ("127.0.0.1", 2004, Some("a")));
        let d = DestAddr::parse("10.0.0.1:2004").unwrap();
        assert_eq!(d.instance, None);
        let d = DestAddr::parse("[::1]:2004:b").unwrap();
        assert_eq!((d.host.as_str(), d.port), ("::1", 2004));
        assert_eq!(d.to_string(), "[::1]:2004:b");
        assert_eq!(DestAddr::parse("h:1:a:b").unwrap().instance.as_deref(), Some("a:b"));
        for bad in ["2004", "localhost", "h:x", "[::1]", ":2004", "h:70000"] {
            assert!(DestAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn self_metric_and_dir_names() {
        let d = DestAddr::parse("127.0.0.1:2004").unwrap();
        assert_eq!(d.metric_name(), "127_0_0_1:2004:None");
        let d = DestAddr::parse("a/b:1:../x").unwrap();
        assert!(!d.dir_name().contains('/'));
        assert!(!d.dir_name().contains(".."));
    }
}
