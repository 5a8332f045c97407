//! Structured logs with `tracing`: JSON lines on Lambda and in CI, pretty in a terminal.
//! Every line written while a request is handled carries its `request_id`:
//! the formatter reads it from the request's task-local (set by
//! HTTP layer, `http::RequestContext`), so a request pays nothing for it unless it logs.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::{
    fmt::{
        format::{self, FormatEvent, FormatFields, Writer},
        FmtContext,
    },
    registry::LookupSpan,
    EnvFilter,
};

use crate::{request_id::CURRENT_REQUEST_ID, settings::LogFormat};

/// The MCP SDK's own logs: silenced (see [`init`]).
pub const QUIET_RMCP: &str = "rmcp=off";

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter)
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // The MCP SDK logs a server that cannot be reached at ERROR, with its
        // URL (which may hold a token); our code reports it, classified.
        .add_directive(QUIET_RMCP.parse().expect("a valid directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .map_event_format(WithRequestId)
            .try_init(),
        LogFormat::Pretty => builder.compact().map_event_format(WithRequestId).try_init(),
    };
}

/// An event format that adds the current request's id to each line: as the
/// first field of a JSON object, or as a prefix of a text line. The id is
/// one the HTTP layer accepted (letters, digits, `-`, `_`), so it needs no
/// escaping.
#[derive(Debug, Clone)]
pub struct WithRequestId<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithRequestId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N> + IsJson,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Ok(id) = CURRENT_REQUEST_ID.try_with(Clone::clone) else {
            return self.0.format_event(ctx, writer, event);
        };
        if !self.0.is_json() {
            write!(writer, "request_id={id} ")?;
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"request_id\":\"{id}\",{rest}"),
            None => writer.write_str(&line),
        }
    }
}

/// Whether an event format writes JSON objects.
pub trait IsJson {
    fn is_json(&self) -> bool;
}

impl<T> IsJson for format::Format<format::Json, T> {
    fn is_json(&self) -> bool {
        true
    }
}

impl<T> IsJson for format::Format<format::Compact, T> {
    fn is_json(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lines").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    #[tokio::test]
    async fn a_line_logged_while_a_request_is_handled_names_the_request() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .map_event_format(WithRequestId)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        CURRENT_REQUEST_ID
            .scope("req-1".to_owned(), async {
                tracing::warn!(answer = 42, "inside");
            })
            .await;
        tracing::warn!("outside");
        let text = String::from_utf8(lines.0.lock().expect("lines").clone()).expect("utf-8");
        let parsed: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0]["request_id"], "req-1");
        assert_eq!(parsed[0]["answer"], 42);
        assert_eq!(parsed[0]["message"], "inside");
        assert!(parsed[1].get("request_id").is_none());
    }
}
