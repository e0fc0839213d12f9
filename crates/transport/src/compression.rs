//! The compression wrapping of a connection.

use crate::TransportError;

/// How the bytes of a connection are compressed (carbon-c-relay's `transport` keyword).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Compression {
    /// Uncompressed.
    #[default]
    Plain,
    /// One gzip member, sync-flushed after every write batch.
    Gzip,
    /// LZ4 frames (one complete frame per write batch, as carbon-c-relay sends them).
    Lz4,
    /// The snappy framing format (stream identifier, then compressed chunks).
    Snappy,
}

impl Compression {
    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Plain => "plain",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
            Compression::Snappy => "snappy",
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Compression {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "plain" | "none" => Ok(Compression::Plain),
            "gzip" => Ok(Compression::Gzip),
            "lz4" => Ok(Compression::Lz4),
            "snappy" => Ok(Compression::Snappy),
            other => Err(TransportError::UnknownCompression(other.into())),
        }
    }
}
