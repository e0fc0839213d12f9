//! Destinations are ring's `host:port[:instance]` [`Destination`]s; this adds where their spill
//! lives and how their connection is wrapped.

pub use ring::Destination;
use transport::tls::{ClientFiles, TlsConnector};
use transport::Compression;

/// How the connection to a destination is wrapped: compression, then TLS underneath.
#[derive(Clone, Default)]
pub struct Transport {
    /// Compression of the byte stream.
    pub compression: Compression,
    /// TLS: the files it was built from (to describe and compare it) and the connector.
    pub tls: Option<(ClientFiles, TlsConnector)>,
    /// Plaintext lines over UDP, one datagram per line (carbon-c-relay's `proto udp` servers);
    /// no compression or TLS then.
    pub udp: bool,
}

impl Transport {
    /// Plain TCP.
    pub fn plain() -> Self {
        Transport::default()
    }

    /// `compression`, over TLS when `tls` is given (its connector is built from the files).
    pub fn new(
        compression: Compression,
        tls: Option<ClientFiles>,
    ) -> Result<Self, transport::TransportError> {
        let tls = match tls {
            Some(files) => {
                let c = files.connector()?;
                Some((files, c))
            }
            None => None,
        };
        Ok(Transport {
            compression,
            tls,
            udp: false,
        })
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self)
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.udp {
            return f.write_str("udp");
        }
        f.write_str(self.compression.name())?;
        if self.tls.is_some() {
            f.write_str("+tls")?;
        }
        Ok(())
    }
}

/// A file-system-safe directory name for a destination's spill (`127_0_0_1:2004:a`).
pub fn spill_dir_name(d: &Destination) -> String {
    d.metric_key()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_dir_names_stay_inside_the_spill_root() {
        let d = Destination::parse("127.0.0.1:2004").unwrap();
        assert_eq!(spill_dir_name(&d), "127_0_0_1:2004:None");
        let d = Destination::parse("a/b:1:../x").unwrap();
        let n = spill_dir_name(&d);
        assert!(!n.contains('/') && !n.contains(".."), "{n}");
    }
}
