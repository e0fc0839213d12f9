//! Every case of `vectors/protocols/carbonlink.json`: requests (protocol 2 and 5) parse into
//! the right [`Request`], our responses are byte-identical to carbon's, our protocol-2 requests
//! are byte-identical to Python's, and responses parse back.

mod common;

use common::{hex, num, unhex, vectors};
use proto::carbonlink::{parse_request, parse_response, Request, Response};
use proto::frame::{framed, split_frame, CARBONLINK_MAX_FRAME};
use proto::pickle::Value;

fn points(v: &serde_json::Value) -> Vec<(f64, f64)> {
    v.as_array()
        .expect("points")
        .iter()
        .map(|p| (num(&p[0]), num(&p[1])))
        .collect()
}

fn expected_request(j: &serde_json::Value) -> Request {
    let s = |k: &str| j[k].as_str().expect(k).to_owned();
    match j["type"].as_str().expect("type") {
        "cache-query" => Request::CacheQuery {
            metric: s("metric"),
        },
        "cache-query-bulk" => Request::CacheQueryBulk {
            metrics: j["metrics"]
                .as_array()
                .expect("metrics")
                .iter()
                .map(|m| m.as_str().expect("m").to_owned())
                .collect(),
        },
        "get-metadata" => Request::GetMetadata {
            metric: s("metric"),
            key: s("key"),
        },
        "set-metadata" => Request::SetMetadata {
            metric: s("metric"),
            key: s("key"),
            value: Value::Str(s("value")),
        },
        other => Request::Invalid {
            request_type: other.to_owned(),
        },
    }
}

fn expected_response(j: &serde_json::Value) -> Response {
    if let Some(p) = j.get("datapoints") {
        return Response::Datapoints(points(p));
    }
    if let Some(m) = j.get("datapointsByMetric") {
        // serde_json keeps the file's key order (preserve_order is off, so sort both sides).
        let mut by: Vec<(String, Vec<(f64, f64)>)> = m
            .as_object()
            .expect("obj")
            .iter()
            .map(|(k, v)| (k.clone(), points(v)))
            .collect();
        by.sort_by(|a, b| a.0.cmp(&b.0));
        return Response::DatapointsByMetric(by);
    }
    if let Some(e) = j.get("error") {
        return Response::Error(e.as_str().expect("error").to_owned());
    }
    if let Some(n) = j.get("new_value") {
        return Response::Metadata {
            old_value: Value::Str(j["old_value"].as_str().expect("old").to_owned()),
            new_value: Value::Str(n.as_str().expect("new").to_owned()),
        };
    }
    Response::Value(Value::Str(j["value"].as_str().expect("value").to_owned()))
}

#[test]
fn every_carbonlink_vector() {
    let v = vectors("carbonlink.json");
    let cases = v.as_array().expect("cases");
    assert_eq!(cases.len(), 10);
    for case in cases {
        let proto_version = case["request_protocol"].as_u64().expect("protocol");
        let frame = unhex(case["request_frame_hex"].as_str().expect("hex"));
        let (payload, _) = split_frame(&frame, CARBONLINK_MAX_FRAME)
            .expect("limit")
            .expect("frame");
        let req = parse_request(payload).expect("request parses");
        let want_req = expected_request(&case["request"]);
        assert_eq!(req, want_req);
        if proto_version == 2 && !matches!(want_req, Request::Invalid { .. }) {
            // Our client request is what Python writes with protocol 2.
            let ours = framed(&want_req.encode().expect("encode")).expect("frame");
            assert_eq!(
                hex(&ours),
                case["request_frame_hex"].as_str().expect("hex"),
                "{want_req:?}"
            );
        }

        let want_resp = expected_response(&case["response"]);
        let resp_hex = case["response_frame_hex"].as_str().expect("hex");
        let resp_frame = unhex(resp_hex);
        let (resp_payload, _) = split_frame(&resp_frame, CARBONLINK_MAX_FRAME)
            .expect("limit")
            .expect("frame");
        let mut parsed = parse_response(resp_payload).expect("response parses");
        if let Response::DatapointsByMetric(by) = &mut parsed {
            by.sort_by(|a, b| a.0.cmp(&b.0));
        }
        assert_eq!(parsed, want_resp);

        // Server side: build the response from the request like a cache would, byte for byte.
        let ours = match &req {
            Request::Invalid { request_type } => Response::invalid_type(request_type),
            _ => {
                let mut r = parse_response(resp_payload).expect("response");
                // Keep carbon's dict order for the bulk answer (it follows the request).
                if let (Response::DatapointsByMetric(by), Request::CacheQueryBulk { metrics }) =
                    (&mut r, &req)
                {
                    by.sort_by_key(|(k, _)| metrics.iter().position(|m| m == k));
                }
                r
            }
        };
        let bytes = framed(&ours.encode().expect("encode")).expect("frame");
        assert_eq!(hex(&bytes), resp_hex, "{ours:?}");
    }
}
