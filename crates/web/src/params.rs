//! Request parameters merged the way Django's `QueryDict` does for graphite-web:
//! the query string first, then the form body appended (single values: last wins; lists: concatenated).

/// An ordered multimap of request parameters.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a query string and an optional `application/x-www-form-urlencoded` body.
    pub fn parse(query: Option<&str>, body: Option<&[u8]>) -> Self {
        let mut pairs = Vec::new();
        if let Some(q) = query {
            pairs.extend(
                form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
            );
        }
        if let Some(b) = body {
            pairs.extend(form_urlencoded::parse(b).map(|(k, v)| (k.into_owned(), v.into_owned())));
        }
        Params { pairs }
    }

    /// Builds from explicit pairs (tests, internal callers).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        it: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Params {
            pairs: it.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }

    /// Appends pairs read from another body encoding (multipart forms).
    pub fn extend(&mut self, pairs: impl IntoIterator<Item = (String, String)>) {
        self.pairs.extend(pairs);
    }

    /// The last value given for `key` (Django's `QueryDict.get`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given for `key`, in order (`getlist`).
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `key` was given at all, even empty.
    pub fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// Whether `key` was given with a non-empty value.
    pub fn truthy(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| !v.is_empty())
    }

    /// All pairs in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// A canonical text of the parameters, independent of order, for cache keys
    /// (keys starting with `_` are ignored, as graphite-web's `hashRequest` does).
    pub fn canonical(&self) -> String {
        let mut keys: Vec<&str> = self
            .pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !k.starts_with('_'))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut parts: Vec<String> = keys
            .iter()
            .map(|k| format!("{}={}", k, self.get_all(k).join("&")))
            .collect();
        parts.sort();
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::Params;

    #[test]
    fn post_appends_to_get() {
        let p = Params::parse(
            Some("target=a&format=json&x="),
            Some(b"target=b%2Bc&format=raw&t=a+b"),
        );
        assert_eq!(p.get_all("target"), vec!["a", "b+c"]);
        assert_eq!(p.get("format"), Some("raw"));
        assert_eq!(p.get("t"), Some("a b"));
        assert!(p.has("x"));
        assert!(!p.truthy("x"));
        assert!(!p.has("y"));
    }

    #[test]
    fn canonical_is_order_independent() {
        let a = Params::parse(Some("b=2&a=1&_=9"), None);
        let b = Params::parse(Some("a=1&b=2&_=3"), None);
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.canonical(), "a=1,b=2");
    }
}
