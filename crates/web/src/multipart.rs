//! `multipart/form-data` request bodies read into form fields, as Django's `request.POST` does.
//!
//! carbon's tagger (`TimeSeriesDatabase.tag`) posts `/tags/tagMultiSeries` through urllib3's
//! `request(fields=...)`, which encodes the form as multipart; graphite-web reads it like any
//! other form. File parts (with a `filename`) go to Django's `request.FILES` and are skipped here.
//! The body is already bounded by the server's body limit, so this only slices it.

/// The boundary of a `multipart/form-data` content type, if that is what it is.
pub fn boundary(content_type: &str) -> Option<&str> {
    let mut parts = content_type.split(';');
    let kind = parts.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
            .filter(|b| !b.is_empty())
    })
}

/// The non-file fields of a multipart body, in order; a malformed tail is ignored.
pub fn fields(boundary: &str, body: &[u8]) -> Vec<(String, String)> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut out = Vec::new();
    let Some(first) = find(body, delim, 0) else {
        return out;
    };
    let mut pos = first + delim.len();
    loop {
        if body[pos..].starts_with(b"--") {
            break;
        }
        let start = skip_crlf(body, pos);
        // A part runs until the next CRLF + delimiter.
        let Some(next) = find_part_end(body, delim, start) else {
            break;
        };
        if let Some(field) = part(&body[start..next]) {
            out.push(field);
        }
        pos = next + 2 + delim.len();
    }
    out
}

fn skip_crlf(body: &[u8], pos: usize) -> usize {
    if body[pos..].starts_with(b"\r\n") {
        pos + 2
    } else {
        pos
    }
}

fn find_part_end(body: &[u8], delim: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let i = find(body, delim, at)?;
        let after = &body[i + delim.len()..];
        // A delimiter line is CRLF, the boundary, then CRLF or the closing `--`.
        let ends_line = after.starts_with(b"\r\n") || after.starts_with(b"--");
        if i >= from + 2 && &body[i - 2..i] == b"\r\n" && ends_line {
            return Some(i - 2);
        }
        at = i + 1;
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// One part: its `name` from `Content-Disposition` and its value, unless it is a file.
fn part(raw: &[u8]) -> Option<(String, String)> {
    let split = find(raw, b"\r\n\r\n", 0)?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let value = &raw[split + 4..];
    let disposition = head.split("\r\n").find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(v)
    })?;
    let mut name = None;
    for p in disposition.split(';').skip(1) {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v.to_string()),
            "filename" => return None,
            _ => {}
        }
    }
    Some((name?, String::from_utf8_lossy(value).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_urllib3_fields() {
        let ct = "multipart/form-data; boundary=ab12";
        let b = boundary(ct).unwrap();
        let body = b"--ab12\r\nContent-Disposition: form-data; name=\"path\"\r\n\r\na.b;x=1\r\n\
                     --ab12\r\nContent-Disposition: form-data; name=\"path\"\r\n\r\nc\r\n--ab12x;y=2\r\n\
                     --ab12\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\nzz\r\n\
                     --ab12--\r\n";
        assert_eq!(
            fields(b, body),
            [
                ("path".to_string(), "a.b;x=1".to_string()),
                ("path".to_string(), "c\r\n--ab12x;y=2".to_string()),
            ]
        );
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        assert!(fields(
            b,
            b"--ab12\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nno end"
        )
        .is_empty());
    }
}
