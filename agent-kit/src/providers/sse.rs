//! Server-sent events, as the Anthropic and OpenAI APIs stream answers:
//! lines of `field: value`, an event ending at a blank line; `data` lines
//! joined with newlines; comments (`:`) and other fields ignored. Bytes are
//! split into lines before decoding, so a chunk boundary inside a UTF-8
//! character is harmless. (Small and fixed by the HTML standard; a crate
//! for it would need reqwest's stream feature for the same few lines.)

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event` field (`message_start`, …); empty when none was sent.
    pub name: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    name: String,
    data: Vec<String>,
}

impl Decoder {
    /// Feeds bytes; returns the events they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(event) = self.line(line) {
                out.push(event);
            }
        }
        out
    }

    /// The event left open when the stream ended without a blank line.
    pub fn finish(&mut self) -> Vec<Event> {
        let rest = std::mem::take(&mut self.buf);
        let mut out = Vec::new();
        let line = String::from_utf8_lossy(&rest)
            .trim_end_matches('\r')
            .to_owned();
        if !line.is_empty() {
            out.extend(self.line(&line));
        }
        out.extend(self.line(""));
        out
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            if self.data.is_empty() {
                self.name.clear();
                return None;
            }
            return Some(Event {
                name: std::mem::take(&mut self.name),
                data: std::mem::take(&mut self.data).join("\n"),
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = value.to_owned(),
            "data" => self.data.push(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_decode_the_same() {
        let stream = "event: message_start\r\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\ndata: one\ndata: two é\n\ndata: [DONE]";
        let whole = {
            let mut d = Decoder::default();
            let mut e = d.push(stream.as_bytes());
            e.extend(d.finish());
            e
        };
        assert_eq!(
            whole,
            vec![
                Event {
                    name: "message_start".into(),
                    data: "{\"a\":1}".into()
                },
                Event {
                    name: String::new(),
                    data: "one\ntwo é".into()
                },
                Event {
                    name: String::new(),
                    data: "[DONE]".into()
                },
            ]
        );
        // Byte by byte, through the two bytes of é.
        let mut d = Decoder::default();
        let mut e = Vec::new();
        for b in stream.as_bytes() {
            e.extend(d.push(&[*b]));
        }
        e.extend(d.finish());
        assert_eq!(e, whole);
    }
}
