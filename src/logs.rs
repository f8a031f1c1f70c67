//! Span fields in the JSON log format, written straight out.
//!
//! The JSON format formats a span's fields once, when the span opens, and
//! every request opens one. tracing-subscriber's `JsonFields` gathers them
//! into a map of JSON values and then serializes the map: about 6,000
//! instructions per request, 3 % of a BUY's. [`JsonSpanFields`] writes the
//! same object field by field, escaping as it goes. Keys keep the order
//! they were recorded in; a key recorded twice is written twice, and a
//! JSON reader keeps the later value, as `JsonFields` does.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::{
    field::RecordFields,
    fmt::{format::Writer, FormatFields, FormattedFields},
};

/// Formats span fields as one JSON object (see the module doc).
pub struct JsonSpanFields;

impl<'w> FormatFields<'w> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut object = Object::open(&mut writer);
        fields.record(&mut object);
        object.close()
    }

    /// Fields recorded after the span opened go into the same object.
    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let text = &mut current.fields;
        let mut object = if text.starts_with('{') && text.ends_with('}') {
            text.pop();
            let empty = text.len() == 1;
            Object::reopen(text, empty)
        } else {
            text.clear();
            Object::open(text)
        };
        fields.record(&mut object);
        object.close()
    }
}

/// A JSON object being written: each field visited becomes a member.
struct Object<'a> {
    out: &'a mut dyn Write,
    empty: bool,
    result: fmt::Result,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut dyn Write) -> Self {
        let result = out.write_char('{');
        Self {
            out,
            empty: true,
            result,
        }
    }

    fn reopen(out: &'a mut dyn Write, empty: bool) -> Self {
        Self {
            out,
            empty,
            result: Ok(()),
        }
    }

    fn close(self) -> fmt::Result {
        self.result?;
        self.out.write_char('}')
    }

    /// Writes `"name":` and then the value, unless an earlier write failed.
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut dyn Write) -> fmt::Result) {
        let name = field.name();
        // As `JsonFields`: `log` crate metadata is not a field of the span,
        // and a raw identifier is named without its `r#`.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = (|| {
            if !self.empty {
                self.out.write_char(',')?;
            }
            self.empty = false;
            quoted_str(self.out, name)?;
            self.out.write_char(':')?;
            value(self.out)
        })();
    }
}

impl Visit for Object<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |out| quoted_str(out, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |out| quoted(out, format_args!("{value:?}")));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes them as null.
        self.member(field, |out| match value.is_finite() {
            true => write!(out, "{value}"),
            false => out.write_str("null"),
        });
    }
}

/// Writes `text` as a JSON string, escaping as it goes.
fn quoted(out: &mut dyn Write, text: fmt::Arguments<'_>) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_fmt(text)?;
    out.write_char('"')
}

/// [`quoted`] for text at hand, without the formatting machinery.
fn quoted_str(out: &mut dyn Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_str(text)?;
    out.write_char('"')
}

/// Passes text on with JSON's string escapes applied.
struct Escaped<'a>(&'a mut dyn Write);

impl Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Every character JSON escapes is ASCII, so no byte of a longer
        // character is taken for one, and the text between escapes is
        // passed on whole.
        let mut plain = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                b if b < b' ' => "",
                _ => continue,
            };
            self.0.write_str(&s[plain..i])?;
            match escape {
                "" => write!(self.0, "\\u{b:04x}")?,
                escape => self.0.write_str(escape)?,
            }
            plain = i + 1;
        }
        self.0.write_str(&s[plain..])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracing::field::Empty;
    use tracing_subscriber::fmt::{format::JsonFields, MakeWriter};

    use super::*;

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// The `span` objects of two log lines: an event inside a span with
    /// awkward fields (two recorded after it opened), and one inside a
    /// span that opened with none and got one later.
    fn spans_of_two_lines<N>(fields: N) -> (Value, Value)
    where
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .fmt_fields(fields)
            .with_writer(lines.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = %"r-1",
                path = "/a \"quoted\" \\ path\n\twith\u{1}control\u{7f} and ünïcode",
                debug = ?("tuple", 1),
                signed = -7i64,
                unsigned = 7u64,
                yes = true,
                ratio = 0.25f64,
                nan = f64::NAN,
                r#type = "raw",
                later = Empty,
                also_later = Empty,
            );
            span.record("later", 42u64);
            span.record("also_later", "x\"y");
            span.in_scope(|| tracing::info!("inside"));
            let bare = tracing::info_span!("bare", later = Empty);
            bare.record("later", "now");
            bare.in_scope(|| tracing::info!("inside"));
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let mut spans = text.lines().map(|line| {
            let line: Value = serde_json::from_str(line).unwrap();
            line["span"].clone()
        });
        (spans.next().unwrap(), spans.next().unwrap())
    }

    #[test]
    fn spans_read_back_as_tracing_subscribers_json_fields_write_them() {
        let (ours, bare) = spans_of_two_lines(JsonSpanFields);
        let (theirs, bare_theirs) = spans_of_two_lines(JsonFields::new());
        assert_eq!((&ours, &bare), (&theirs, &bare_theirs));
        assert_eq!(
            ours["path"],
            "/a \"quoted\" \\ path\n\twith\u{1}control\u{7f} and ünïcode"
        );
        assert_eq!(ours["debug"], "(\"tuple\", 1)");
        assert_eq!(ours["later"], 42);
        assert_eq!(ours["also_later"], "x\"y");
        assert_eq!(ours["nan"], Value::Null);
        assert_eq!(ours["type"], "raw");
        assert_eq!(bare["later"], "now");
    }
}
