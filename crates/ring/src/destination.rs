//! Destinations as written in carbon.conf (`host:port:instance`) and carbon-c-relay (`host:port=instance`).

use std::fmt;

use crate::error::{Error, Result};

/// One configured destination: where a relay sends, or a carbonlink / cluster peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Host or IP text exactly as configured (never resolved: it is part of the hash key).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Instance name; `Some("")` when the text ended in a bare `:` (carbon keeps that).
    pub instance: Option<String>,
}

impl Destination {
    /// Builds a destination from its parts.
    pub fn new(host: impl Into<String>, port: u16, instance: Option<&str>) -> Self {
        Destination {
            host: host.into(),
            port,
            instance: instance.map(str::to_owned),
        }
    }

    /// Parses one carbon destination the way `carbon.util.parseDestination` does, but
    /// rejects what carbon mis-parses (no port, junk port, empty host) with a typed error.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason| Error::InvalidDestination {
            input: text.to_owned(),
            reason,
        };
        let s = text.trim();
        let (host, rest) = if let Some(inner) = s.strip_prefix('[') {
            // carbon takes the text up to the *last* "]:" as the IPv6 address.
            let close = inner
                .rfind("]:")
                .ok_or_else(|| bad("missing \"]:port\" after IPv6 address"))?;
            (&inner[..close], &inner[close + 2..])
        } else {
            let colon = s.find(':').ok_or_else(|| bad("missing \":port\""))?;
            (&s[..colon], &s[colon + 1..])
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        if host.chars().any(char::is_whitespace) {
            return Err(bad("whitespace inside host"));
        }
        let (port_text, instance) = match rest.split_once(':') {
            Some((p, inst)) => (p, Some(inst.to_owned())),
            None => (rest, None),
        };
        let port = parse_port(port_text).ok_or_else(|| bad("port is not a number in 1..65535"))?;
        Ok(Destination {
            host: host.to_owned(),
            port,
            instance,
        })
    }

    /// Parses carbon-c-relay's server syntax `host[:port][=instance]` (`[v6]:port=inst` for IPv6);
    /// the port defaults to 2003 as in c-relay.
    pub fn parse_crelay(text: &str) -> Result<Self> {
        let bad = |reason| Error::InvalidDestination {
            input: text.to_owned(),
            reason,
        };
        let s = text.trim();
        let (addr, instance) = match s.split_once('=') {
            Some((a, i)) if !i.is_empty() => (a, Some(i.to_owned())),
            Some(_) => return Err(bad("empty instance after '='")),
            None => (s, None),
        };
        let (host, port_text) = if let Some(inner) = addr.strip_prefix('[') {
            let close = inner
                .find(']')
                .ok_or_else(|| bad("missing ']' after IPv6 address"))?;
            let after = &inner[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("junk after ']'")),
            };
            (&inner[..close], port)
        } else {
            match addr.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (addr, None),
            }
        };
        if host.is_empty() || host.chars().any(char::is_whitespace) {
            return Err(bad("empty host or whitespace inside host"));
        }
        let port = match port_text {
            Some(p) => parse_port(p).ok_or_else(|| bad("port is not a number in 1..65535"))?,
            None => 2003,
        };
        Ok(Destination {
            host: host.to_owned(),
            port,
            instance,
        })
    }

    /// The name carbon's relay client uses for this destination in self-metrics
    /// (`('%s:%d:%s' % destination).replace('.', '_')`): `127_0_0_1:2004:a`, `10_0_0_1:2004:None`.
    pub fn metric_key(&self) -> String {
        let inst = self.instance.as_deref().unwrap_or("None");
        format!("{}:{}:{}", self.host, self.port, inst).replace('.', "_")
    }
}

impl fmt::Display for Destination {
    /// `host:port[:instance]`, bracketing IPv6 hosts so that the text parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        if let Some(inst) = &self.instance {
            write!(f, ":{inst}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Destination {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Destination::parse(s)
    }
}

/// Python's int() accepts surrounding whitespace; so do we, but nothing else.
fn parse_port(text: &str) -> Option<u16> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) || t.len() > 5 {
        return None;
    }
    t.parse::<u16>().ok().filter(|p| *p != 0)
}

/// Parses a carbon.conf `DESTINATIONS` value: comma separated destinations.
pub fn parse_destinations(list: &str) -> Result<Vec<Destination>> {
    list.split(',').map(Destination::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carbon_forms() {
        let d = Destination::parse(" 127.0.0.1:2004:a ").unwrap();
        assert_eq!(d, Destination::new("127.0.0.1", 2004, Some("a")));
        assert_eq!(Destination::parse("10.0.0.1:2004").unwrap().instance, None);
        let v6 = Destination::parse("[::1]:2004:a").unwrap();
        assert_eq!(v6, Destination::new("::1", 2004, Some("a")));
        assert_eq!(v6.to_string(), "[::1]:2004:a");
        // instance keeps everything after the port, colons included; a trailing ':' gives "".
        assert_eq!(
            Destination::parse("h:1:a:b").unwrap().instance.as_deref(),
            Some("a:b")
        );
        assert_eq!(
            Destination::parse("h:1:").unwrap().instance.as_deref(),
            Some("")
        );
        assert_eq!(Destination::parse("h: 2004 ").unwrap().port, 2004);
    }

    #[test]
    fn rejects_what_carbon_misparses() {
        for bad in [
            "2004",
            "localhost",
            "[::1]",
            "::1:2004",
            ":2004",
            "h:",
            "h:abc",
            "h:70000",
            "h:0",
            "",
            "a b:1",
        ] {
            assert!(
                matches!(
                    Destination::parse(bad),
                    Err(Error::InvalidDestination { .. })
                ),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn metric_key_and_display() {
        assert_eq!(
            Destination::parse("127.0.0.1:2004:a").unwrap().metric_key(),
            "127_0_0_1:2004:a"
        );
        assert_eq!(
            Destination::parse("10.0.0.1:2004").unwrap().metric_key(),
            "10_0_0_1:2004:None"
        );
        assert_eq!(
            Destination::parse("10.0.0.1:2004").unwrap().to_string(),
            "10.0.0.1:2004"
        );
    }

    #[test]
    fn crelay_forms() {
        assert_eq!(
            Destination::parse_crelay("127.0.0.1:2004=a").unwrap(),
            Destination::new("127.0.0.1", 2004, Some("a"))
        );
        assert_eq!(
            Destination::parse_crelay("host").unwrap(),
            Destination::new("host", 2003, None)
        );
        assert_eq!(
            Destination::parse_crelay("[::1]:2204").unwrap(),
            Destination::new("::1", 2204, None)
        );
        assert!(Destination::parse_crelay("h:x").is_err());
        assert!(Destination::parse_crelay("h:1=").is_err());
    }

    #[test]
    fn list() {
        let v = parse_destinations("127.0.0.1:2004:a, 127.0.0.1:2104:b").unwrap();
        assert_eq!(v.len(), 2);
        assert!(parse_destinations("a:1,,b:2").is_err());
    }
}
