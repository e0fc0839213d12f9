//! Destinations are ring's `host:port[:instance]` [`Destination`]s; this adds where their spill lives.

pub use ring::Destination;

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
