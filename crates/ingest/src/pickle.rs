//! Pickle frames of carbon datapoints, decoded by proto's restricted unpickler (no globals, no objects).

pub use proto::pickle::PickleError;

/// One decoded element: `Some((metric, timestamp, value))`, or `None` for an element carbon would skip.
pub type Entry = Option<(String, f64, f64)>;

/// Decodes one frame payload (without its length prefix) into datapoints.
///
/// Where carbon would raise mid-frame and drop the connection (a `bytes` name, an int too large for a
/// float), the elements before it are kept, the offending element is reported as skipped, and the
/// connection stays open: a sender's bug costs the rest of that frame only.
pub fn decode_frame(payload: &[u8]) -> Result<Vec<Entry>, PickleError> {
    let batch = proto::pickle::decode_datapoints(payload)?;
    let mut out: Vec<Entry> = Vec::with_capacity(batch.points.len() + batch.skipped + 1);
    out.extend(
        batch
            .points
            .into_iter()
            .map(|p| Some((p.name, p.timestamp, p.value))),
    );
    out.extend(std::iter::repeat_n(
        None,
        batch.skipped + usize::from(batch.abort.is_some()),
    ));
    Ok(out)
}
