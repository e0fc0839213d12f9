//! The cleansing carbon-c-relay applies to every received line before any rule sees it.
//!
//! Observed behaviour of 3.7.3 (see tests/crelay_cleanse.rs): leading whitespace is skipped
//! (also whitespace after a name made only of dots, so `. 5 1` routes metric `5`);
//! the metric name ends at the first space or tab; in it, empty path components are dropped
//! (`..a..b.` becomes `a.b`) and every byte outside `[0-9A-Za-z._:#-]` becomes `_` (a two-byte
//! UTF-8 character gives `__`), except after the first `;`, where tags keep their characters (only `..` is still collapsed);
//! the rest of the line has its whitespace runs collapsed to single spaces and is otherwise
//! passed on unchecked. A line without any whitespace after the name is dropped.

/// Cleanses one received line (without its newline): `(metric, data)`, or None when c-relay drops it.
pub fn cleanse(line: &str) -> Option<(String, String)> {
    let bytes = line.as_bytes();
    let is_space = |b: u8| b == b' ' || b == b'\t';
    let mut i = 0;
    while bytes.get(i).is_some_and(|&b| is_space(b)) {
        i += 1;
    }
    let mut name: Vec<u8> = Vec::with_capacity(bytes.len().min(1024));
    let mut in_tags = false;
    while let Some(&b) = bytes.get(i) {
        if is_space(b) {
            // A name made only of dots vanished: c-relay keeps looking for one.
            if name.is_empty() {
                i += 1;
                continue;
            }
            break;
        }
        i += 1;
        if in_tags {
            if !(b == b'.' && name.last() == Some(&b'.')) {
                name.push(b);
            }
        } else if b == b';' {
            // A dot right before the tags stays, unlike a trailing one.
            in_tags = true;
            name.push(b);
        } else if b == b'.' {
            if !name.is_empty() && name.last() != Some(&b'.') {
                name.push(b);
            }
        } else if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'#') {
            name.push(b);
        } else {
            name.push(b'_');
        }
    }
    if !in_tags {
        while name.last() == Some(&b'.') {
            name.pop();
        }
    }
    // No separator after the name: nothing that looks like a metric line.
    if i >= bytes.len() {
        return None;
    }
    let data = line
        .get(i..)
        .unwrap_or("")
        .split([' ', '\t'])
        .filter(|f| !f.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let name = String::from_utf8(name)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Some((name, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_cases() {
        let c = |l: &str| cleanse(l).map(|(n, d)| format!("{n} {d}"));
        assert_eq!(
            c("..a..b.  1   1700000000").as_deref(),
            Some("a.b 1 1700000000")
        );
        assert_eq!(c("a.b@c$d 1 1").as_deref(), Some("a.b_c_d 1 1"));
        assert_eq!(
            c("tag.x;k=v@w;z=1 2 1").as_deref(),
            Some("tag.x;k=v@w;z=1 2 1")
        );
        assert_eq!(c("utf.\u{e9}.x 4 1").as_deref(), Some("utf.__.x 4 1"));
        assert_eq!(c("sp\tace 3 1").as_deref(), Some("sp ace 3 1"));
        assert_eq!(c("emptyval ").as_deref(), Some("emptyval "));
        assert_eq!(c("noval"), None);
    }
}
