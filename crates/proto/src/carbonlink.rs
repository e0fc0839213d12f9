//! Carbonlink, the cache query protocol between graphite-web and carbon-cache (port 7002):
//! a length-framed pickled dict each way. Server side: [`parse_request`] and
//! [`Response::encode`] (byte-identical to carbon's `pickle.dumps(result, protocol=2)`).
//! Client side: [`Request::encode`] (the dict graphite-web sends, as protocol 2) and
//! [`parse_response`].

use crate::pickle::{self, decode, encode, PickleError, Value};

/// A carbonlink request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `{'type': 'cache-query', 'metric': M}`.
    CacheQuery {
        /// Metric name (tag-normalised by the caller).
        metric: String,
    },
    /// `{'type': 'cache-query-bulk', 'metrics': [M, ...]}`.
    CacheQueryBulk {
        /// Metric names.
        metrics: Vec<String>,
    },
    /// `{'type': 'get-metadata', 'metric': M, 'key': K}`.
    GetMetadata {
        /// Metric name.
        metric: String,
        /// Metadata key (carbon supports only `aggregationMethod`).
        key: String,
    },
    /// `{'type': 'set-metadata', 'metric': M, 'key': K, 'value': V}`.
    SetMetadata {
        /// Metric name.
        metric: String,
        /// Metadata key.
        key: String,
        /// New value, as sent.
        value: Value,
    },
    /// Any other `type`; carbon answers `{'error': 'Invalid request type "<type>"'}`.
    Invalid {
        /// The type as Python's `str()` would print it.
        request_type: String,
    },
}

/// A request or response carbon would not process; carbon drops the connection on these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CarbonlinkError {
    /// Not a pickle this crate decodes safely.
    #[error(transparent)]
    Pickle(#[from] PickleError),
    /// The request or response is not a dict.
    #[error("carbonlink message is a {0}, not a dict")]
    NotADict(&'static str),
    /// A required key is missing (carbon raises KeyError).
    #[error("carbonlink message has no '{0}'")]
    MissingKey(&'static str),
    /// A field has a type we cannot use (e.g. a metric name that is not a str).
    #[error("carbonlink field '{0}' has an unexpected type")]
    BadField(&'static str),
    /// A response dict with none of the known keys.
    #[error("unknown carbonlink response")]
    UnknownResponse,
}

/// Decode a request payload (the bytes after the length prefix).
pub fn parse_request(payload: &[u8]) -> Result<Request, CarbonlinkError> {
    request_from_value(&decode(payload)?)
}

/// Interpret an already decoded request dict.
pub fn request_from_value(v: &Value) -> Result<Request, CarbonlinkError> {
    if !matches!(v, Value::Dict(_)) {
        return Err(CarbonlinkError::NotADict(v.type_name()));
    }
    let field = |k: &'static str| v.get(k).ok_or(CarbonlinkError::MissingKey(k));
    let text = |k: &'static str| -> Result<String, CarbonlinkError> {
        field(k)?
            .as_str()
            .map(str::to_owned)
            .ok_or(CarbonlinkError::BadField(k))
    };
    let ty = field("type")?;
    Ok(match ty.as_str() {
        Some("cache-query") => Request::CacheQuery {
            metric: text("metric")?,
        },
        Some("cache-query-bulk") => {
            let metrics = match field("metrics")? {
                Value::List(v) | Value::Tuple(v) | Value::Set(v) | Value::FrozenSet(v) => v
                    .iter()
                    .map(|m| m.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(CarbonlinkError::BadField("metrics"))?,
                _ => return Err(CarbonlinkError::BadField("metrics")),
            };
            Request::CacheQueryBulk { metrics }
        }
        Some("get-metadata") => Request::GetMetadata {
            metric: text("metric")?,
            key: text("key")?,
        },
        Some("set-metadata") => Request::SetMetadata {
            metric: text("metric")?,
            key: text("key")?,
            value: field("value")?.clone(),
        },
        _ => Request::Invalid {
            request_type: py_str(ty),
        },
    })
}

/// Python's `str()` of simple values, for the "Invalid request type" message.
fn py_str(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::None => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => "nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.into(),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
        Value::Float(f) => f.to_string(),
        other => format!("<{}>", other.type_name()),
    }
}

impl Request {
    /// The request as graphite-web builds it, as a Python dict.
    pub fn to_value(&self) -> Value {
        let s = Value::str;
        let entries = match self {
            Request::CacheQuery { metric } => {
                vec![
                    (s("type"), s("cache-query")),
                    (s("metric"), s(metric.as_str())),
                ]
            }
            Request::CacheQueryBulk { metrics } => vec![
                (s("type"), s("cache-query-bulk")),
                (
                    s("metrics"),
                    Value::List(metrics.iter().map(|m| s(m.as_str())).collect()),
                ),
            ],
            Request::GetMetadata { metric, key } => vec![
                (s("type"), s("get-metadata")),
                (s("metric"), s(metric.as_str())),
                (s("key"), s(key.as_str())),
            ],
            Request::SetMetadata { metric, key, value } => vec![
                (s("type"), s("set-metadata")),
                (s("metric"), s(metric.as_str())),
                (s("key"), s(key.as_str())),
                (s("value"), value.clone()),
            ],
            Request::Invalid { request_type } => vec![(s("type"), s(request_type.as_str()))],
        };
        Value::Dict(entries)
    }

    /// Pickle the request (protocol 2; carbon accepts any protocol). Payload only: frame it
    /// with [`crate::frame::write_frame`].
    pub fn encode(&self) -> Result<Vec<u8>, pickle::EncodeError> {
        encode(&self.to_value())
    }
}

/// A carbonlink response.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// `{'datapoints': [(ts, value), ...]}`, in cache order.
    Datapoints(Vec<(f64, f64)>),
    /// `{'datapointsByMetric': {M: [(ts, value), ...], ...}}`.
    DatapointsByMetric(Vec<(String, Vec<(f64, f64)>)>),
    /// `{'value': V}` (get-metadata).
    Value(Value),
    /// `{'old_value': old, 'new_value': new}` (set-metadata).
    Metadata {
        /// The value before.
        old_value: Value,
        /// The value set.
        new_value: Value,
    },
    /// `{'error': message}`.
    Error(String),
}

impl Response {
    /// carbon's answer to an unknown request type.
    pub fn invalid_type(request_type: &str) -> Response {
        Response::Error(format!("Invalid request type \"{request_type}\""))
    }

    /// The response as a Python dict.
    pub fn to_value(&self) -> Value {
        let s = Value::str;
        let points = |p: &[(f64, f64)]| {
            Value::List(
                p.iter()
                    .map(|&(t, v)| Value::Tuple(vec![Value::Float(t), Value::Float(v)]))
                    .collect(),
            )
        };
        Value::Dict(match self {
            Response::Datapoints(p) => vec![(s("datapoints"), points(p))],
            Response::DatapointsByMetric(m) => vec![(
                s("datapointsByMetric"),
                Value::Dict(
                    m.iter()
                        .map(|(name, p)| (s(name.as_str()), points(p)))
                        .collect(),
                ),
            )],
            Response::Value(v) => vec![(s("value"), v.clone())],
            Response::Metadata {
                old_value,
                new_value,
            } => vec![
                (s("old_value"), old_value.clone()),
                (s("new_value"), new_value.clone()),
            ],
            Response::Error(e) => vec![(s("error"), s(e.as_str()))],
        })
    }

    /// Pickle as carbon does (`pickle.dumps(result, protocol=2)`); payload only.
    pub fn encode(&self) -> Result<Vec<u8>, pickle::EncodeError> {
        encode(&self.to_value())
    }
}

/// Decode a response payload (client side).
pub fn parse_response(payload: &[u8]) -> Result<Response, CarbonlinkError> {
    response_from_value(&decode(payload)?)
}

fn points_from(v: &Value, field: &'static str) -> Result<Vec<(f64, f64)>, CarbonlinkError> {
    let items = v.as_seq().ok_or(CarbonlinkError::BadField(field))?;
    items
        .iter()
        .map(|p| match p.as_seq() {
            Some([t, v]) => Some((t.to_f64()?, v.to_f64()?)),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(CarbonlinkError::BadField(field))
}

/// Interpret an already decoded response dict.
pub fn response_from_value(v: &Value) -> Result<Response, CarbonlinkError> {
    if !matches!(v, Value::Dict(_)) {
        return Err(CarbonlinkError::NotADict(v.type_name()));
    }
    if let Some(e) = v.get("error") {
        return Ok(Response::Error(match e {
            Value::Str(s) => s.clone(),
            other => py_str(other),
        }));
    }
    if let Some(p) = v.get("datapoints") {
        return Ok(Response::Datapoints(points_from(p, "datapoints")?));
    }
    if let Some(m) = v.get("datapointsByMetric") {
        let Value::Dict(entries) = m else {
            return Err(CarbonlinkError::BadField("datapointsByMetric"));
        };
        let by = entries
            .iter()
            .map(|(k, p)| {
                let name = k
                    .as_str()
                    .ok_or(CarbonlinkError::BadField("datapointsByMetric"))?;
                Ok((name.to_owned(), points_from(p, "datapointsByMetric")?))
            })
            .collect::<Result<Vec<_>, CarbonlinkError>>()?;
        return Ok(Response::DatapointsByMetric(by));
    }
    if let (Some(old), Some(new)) = (v.get("old_value"), v.get("new_value")) {
        return Ok(Response::Metadata {
            old_value: old.clone(),
            new_value: new.clone(),
        });
    }
    if let Some(val) = v.get("value") {
        return Ok(Response::Value(val.clone()));
    }
    Err(CarbonlinkError::UnknownResponse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_type_and_wrong_shapes() {
        let v = Value::Dict(vec![(Value::str("metric"), Value::str("a"))]);
        assert_eq!(
            request_from_value(&v),
            Err(CarbonlinkError::MissingKey("type"))
        );
        assert_eq!(
            request_from_value(&Value::List(vec![])),
            Err(CarbonlinkError::NotADict("list"))
        );
        let v = Value::Dict(vec![(Value::str("type"), Value::Int(3))]);
        assert_eq!(
            request_from_value(&v),
            Ok(Request::Invalid {
                request_type: "3".into()
            })
        );
    }

    #[test]
    fn request_round_trip() {
        let r = Request::CacheQueryBulk {
            metrics: vec!["a".into(), "b".into()],
        };
        assert_eq!(parse_request(&r.encode().unwrap()), Ok(r));
    }
}
