//! `include` paths: shell-style wildcards in the file name, expanded in sorted order.

use std::path::{Path, PathBuf};

use regex::Regex;

/// Expands `*`, `?` and `[...]` in the last path component; a plain path is returned as is.
pub fn expand(path: &Path) -> std::result::Result<Vec<PathBuf>, String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains(['*', '?', '[']) {
        return Ok(vec![path.to_owned()]);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut re = String::from("^");
    for ch in name.chars() {
        match ch {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' | ']' => re.push(ch),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    let re = Regex::new(&re).map_err(|e| format!("bad include glob: {e}"))?;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| re.is_match(n) && !n.starts_with('.'))
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_matches_without_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.conf", "a.conf", ".h.conf", "c.txt", "a[1].conf"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let names = |p: &str| -> Vec<String> {
            expand(&dir.path().join(p))
                .unwrap()
                .iter()
                .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names("*.conf"), ["a.conf", "a[1].conf", "b.conf"]);
        assert_eq!(names("?.conf"), ["a.conf", "b.conf"]);
        assert_eq!(names("plain.conf"), ["plain.conf"]);
        assert!(names("nodir/*.conf").is_empty());
    }
}
