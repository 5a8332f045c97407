//! Limits of the protocol, enforced where outputs are made (the executor) and
//! sized so that anything within them is accepted by the API: a node whose
//! output breaks them fails with a clear error instead of being lost later.

/// How deeply a node's output may nest (objects and arrays). Events wrap an
/// output in a few more levels, and JSON parsers (serde_json, the API's)
/// refuse past 128.
pub const MAX_OUTPUT_DEPTH: usize = 64;

/// A node output (or the run's output) larger than this, serialized, leaves
/// the executor as a blob: the event carries an [`crate::OutputRef`].
pub const MAX_INLINE_OUTPUT_BYTES: usize = 256 * 1024;

/// The largest output a node may produce at all (an `http` node may fetch 10 MiB).
pub const MAX_OUTPUT_BYTES: usize = 32 * 1024 * 1024;

/// The executor keeps an event batch under this many bytes.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// What the internal callback routes accept: within Lambda's 6 MB request
/// limit, and well above any batch the executor sends.
pub const INTERNAL_BODY_LIMIT: usize = 5 * 1024 * 1024;

/// Template rendering: the fuel (minijinja instructions) one rendering may
/// use, and the largest text it may produce.
pub const TEMPLATE_FUEL: u64 = 20_000_000;
pub const MAX_RENDERED_BYTES: usize = 4 * 1024 * 1024;

/// Why an output breaks the protocol's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputLimit {
    #[error("the output nests deeper than {MAX_OUTPUT_DEPTH} levels")]
    TooDeep,
    #[error("the output is {0} bytes, more than the {MAX_OUTPUT_BYTES} allowed")]
    TooLarge(usize),
}

/// The nesting depth of a value (a scalar is 0), counted up to `cap + 1`
/// without recursing further, so a value of any depth is measured safely.
pub fn depth(v: &serde_json::Value, cap: usize) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&serde_json::Value, usize)> = vec![(v, 0)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match v {
            serde_json::Value::Array(a) => Box::new(a.iter()),
            serde_json::Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        let d = d + 1;
        deepest = deepest.max(d);
        if d > cap {
            return deepest;
        }
        stack.extend(children.map(|c| (c, d)));
    }
    deepest
}

struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The serialized size of a value, in bytes.
pub fn json_size(v: &serde_json::Value) -> usize {
    let mut c = Counter(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// Checks an output against the limits; returns its serialized size.
pub fn check_output(v: &serde_json::Value) -> Result<usize, OutputLimit> {
    if depth(v, MAX_OUTPUT_DEPTH) > MAX_OUTPUT_DEPTH {
        return Err(OutputLimit::TooDeep);
    }
    let size = json_size(v);
    if size > MAX_OUTPUT_BYTES {
        return Err(OutputLimit::TooLarge(size));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn nested(levels: usize) -> Value {
        let mut v = json!("leaf");
        for i in 0..levels {
            v = json!({ "step": i, "prev": v });
        }
        v
    }

    #[test]
    fn depth_is_measured_without_recursion_and_capped() {
        assert_eq!(depth(&json!(1), 10), 0);
        assert_eq!(depth(&json!([[1], {"a": {}}]), 10), 3);
        assert_eq!(
            depth(&nested(MAX_OUTPUT_DEPTH), MAX_OUTPUT_DEPTH),
            MAX_OUTPUT_DEPTH
        );
        assert!(check_output(&nested(MAX_OUTPUT_DEPTH)).is_ok());
        assert_eq!(
            check_output(&nested(MAX_OUTPUT_DEPTH + 1)),
            Err(OutputLimit::TooDeep)
        );
        // Far deeper than any parser allows: measured, not overflowed.
        let mut deep = json!(0);
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(depth(&deep, 64), 65);
        std::mem::forget(deep); // dropping 100k levels recursively would overflow the test's stack
    }

    #[test]
    fn an_output_within_the_limits_survives_the_event_envelope() {
        // The deepest allowed output inside an event inside a batch parses.
        let batch = json!({ "events": [{ "seq": 1, "type": "node_succeeded", "output": nested(MAX_OUTPUT_DEPTH) }] });
        let text = batch.to_string();
        assert!(serde_json::from_str::<Value>(&text).is_ok());
        assert_eq!(json_size(&batch), text.len());
        let big = Value::String("x".repeat(MAX_OUTPUT_BYTES + 1));
        assert!(matches!(check_output(&big), Err(OutputLimit::TooLarge(_))));
    }
}
