//! `/functions` and `/functions/<name>`: the function library's metadata in graphite-web's JSON shape.

use crate::error::WebError;
use crate::params::Params;

/// `/functions[?grouped=1|group=G|type=pie]` as JSON text.
pub fn list(params: &Params) -> Result<String, WebError> {
    let _ = params;
    Err(WebError::Internal("function metadata not wired yet".into()))
}

/// `/functions/<name>` as JSON text; unknown names are [`WebError::NotFound`].
pub fn one(name: &str, params: &Params) -> Result<String, WebError> {
    let _ = params;
    Err(WebError::NotFound(format!("Function not found: {name}")))
}
