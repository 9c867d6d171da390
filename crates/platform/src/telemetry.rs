//! Structured logs via tracing: JSON lines in production, readable lines
//! locally. Field names are dotted and carry units (`duration_ms`).
//!
//! JSON lines are batched: each event is appended to a shared buffer that
//! reaches stderr when it holds [`BATCH_BYTES`] or every [`FLUSH_EVERY`],
//! and when the service stops ([`flush`]). One `write` per batch instead of
//! one per request line is what keeps the access log off the hot path (the
//! gateway's nginx buffers its access log the same way). A process killed
//! outright loses at most the last [`FLUSH_EVERY`] of lines.
//!
//! The JSON line itself is written by [`JsonLine`] rather than the
//! subscriber's serde-based formatter: the same fields
//! (`timestamp`, `level`, the event's fields, the fields of the spans it
//! happened in, `target`), at a fraction of the cost, since every request
//! writes one. Every line written while a request is served carries its
//! `request.id` — errors deep in a handler included — taken from the
//! task-local id the conventions middleware scopes around the request
//! (`crate::request_id`), so no span has to be made per request.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Mutex, Once, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

use crate::settings::{LogFormat, LogSettings};

/// A batch is written out once it holds this many bytes.
pub const BATCH_BYTES: usize = 32 * 1024;
/// A partly filled batch is written out at least this often.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

static BATCH: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static FLUSHER: Once = Once::new();

/// Writes out whatever log lines are waiting.
pub fn flush() {
    let mut batch = BATCH.lock().unwrap_or_else(PoisonError::into_inner);
    write_out(&mut batch);
}

fn write_out(batch: &mut Vec<u8>) {
    if !batch.is_empty() {
        // Nothing sensible is left to do when stderr itself fails.
        let _ = std::io::stderr().lock().write_all(batch);
        batch.clear();
    }
}

/// The `MakeWriter` of batched lines.
#[derive(Debug, Clone, Copy)]
struct Batched;

impl<'a> MakeWriter<'a> for Batched {
    type Writer = Batched;

    fn make_writer(&'a self) -> Self::Writer {
        Batched
    }
}

impl Write for Batched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut batch = BATCH.lock().unwrap_or_else(PoisonError::into_inner);
        batch.extend_from_slice(buf);
        if batch.len() >= BATCH_BYTES {
            write_out(&mut batch);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the global subscriber once; later calls (tests building several
/// apps in one process) are no-ops.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match settings.format {
        LogFormat::Json => {
            FLUSHER.call_once(|| {
                let spawned = std::thread::Builder::new()
                    .name("log-flush".into())
                    .spawn(|| {
                        loop {
                            std::thread::sleep(FLUSH_EVERY);
                            flush();
                        }
                    });
                if let Err(e) = spawned {
                    eprintln!("log lines will wait for a full batch: {e}");
                }
            });
            builder
                .with_writer(Batched)
                .fmt_fields(JsonFieldsFormat)
                .event_format(JsonLine)
                .try_init()
        }
        LogFormat::Pretty => builder.with_writer(std::io::stderr).compact().try_init(),
    };
}

/// One JSON object per event: `{"timestamp":"2026-01-02T03:04:05.678901Z",
/// "level":"INFO", <the event's fields>, "target":"..."}`.
#[derive(Debug, Clone, Copy)]
pub struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = String::with_capacity(320);
        line.push_str("{\"timestamp\":\"");
        timestamp(&mut line, SystemTime::now());
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push('"');
        let mut fields = JsonFields {
            line: &mut line,
            has_request_id: false,
        };
        event.record(&mut fields);
        let mut has_request_id = fields.has_request_id;
        // The spans' fields, recorded as JSON fragments by `JsonFieldsFormat`.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(recorded) = extensions.get::<FormattedFields<N>>() {
                    has_request_id |= recorded.contains(REQUEST_ID_KEY);
                    line.push_str(recorded);
                }
            }
        }
        if !has_request_id && let Some(id) = crate::request_id::current() {
            line.push_str(",\"request.id\":");
            json_string(&mut line, &id);
        }
        line.push_str(",\"target\":");
        json_string(&mut line, meta.target());
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// The key the request id is logged under, as it appears in a line.
const REQUEST_ID_KEY: &str = "\"request.id\"";

/// Records fields as `,"name":value` fragments of a JSON object.
struct JsonFields<'a> {
    line: &'a mut String,
    /// Whether a `request.id` field was among them.
    has_request_id: bool,
}

impl JsonFields<'_> {
    fn key(&mut self, field: &Field) {
        self.has_request_id |= field.name() == "request.id";
        self.line.push(',');
        json_string(self.line, field.name());
        self.line.push(':');
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        json_string(self.line, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            let _ = write!(self.line, "{value}");
        } else {
            self.line.push_str("null");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.line.push_str(if value { "true" } else { "false" });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(field);
        json_string(self.line, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.key(field);
        json_string(self.line, &format!("{value:?}"));
    }
}

/// Span fields as JSON fragments, so that [`JsonLine`] can copy them into
/// a line as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonFieldsFormat;

impl<'w> FormatFields<'w> for JsonFieldsFormat {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        let mut line = String::new();
        fields.record(&mut JsonFields {
            line: &mut line,
            has_request_id: false,
        });
        writer.write_str(&line)
    }
}

/// Appends `text` as a JSON string literal. Only ASCII bytes need
/// escaping, so the scan is over bytes and the runs between them are
/// copied whole.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1F => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escaped);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

thread_local! {
    /// The last second formatted on this thread: `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends `at` as RFC 3339 UTC with microseconds.
fn timestamp(out: &mut String, at: SystemTime) {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != secs {
            let (y, m, d) = civil_from_days(secs / 86_400);
            let rest = secs % 86_400;
            cached.1.clear();
            let _ = write!(
                cached.1,
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
                rest / 3600,
                rest / 60 % 60,
                rest % 60
            );
            cached.0 = secs;
        }
        out.push_str(&cached.1);
    });
    let _ = write!(out, ".{:06}Z", since.subsec_micros());
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use proptest::prelude::*;

    /// Lines written by a subscriber set up as `init` sets up JSON logs.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn json_lines(emit: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFieldsFormat)
            .event_format(JsonLine)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn every_line_of_a_request_carries_its_id_and_the_fields_of_its_spans() {
        let lines = json_lines(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(crate::request_id::scope("req-1".into(), async {
                let span = tracing::info_span!("write", review.id = 7_i64);
                let _entered = span.enter();
                tracing::error!(error = "boom", "internal error");
            }));
            tracing::info!("outside any request");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["request.id"], "req-1");
        assert_eq!(lines[0]["review.id"], 7);
        assert_eq!(lines[0]["error"], "boom");
        assert!(lines[1].get("request.id").is_none(), "{}", lines[1]);
    }

    #[test]
    fn an_explicit_request_id_is_not_written_twice() {
        let lines = json_lines(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(crate::request_id::scope("req-2".into(), async {
                tracing::info!(request.id = "req-2", "request");
            }));
        });
        let text = lines[0].to_string();
        assert_eq!(text.matches("request.id").count(), 1, "{text}");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let at = UNIX_EPOCH + Duration::new(1_795_000_000, 123_456_000);
        let mut out = String::new();
        timestamp(&mut out, at);
        let parsed =
            time::OffsetDateTime::parse(&out, &time::format_description::well_known::Rfc3339)
                .expect("RFC 3339");
        assert_eq!(parsed.unix_timestamp(), 1_795_000_000);
        assert_eq!(parsed.microsecond(), 123_456);
        assert!(out.ends_with('Z'), "{out}");
    }

    proptest! {
        #[test]
        fn every_second_formats_as_the_calendar_says(secs in 0u64..8_000_000_000) {
            let mut out = String::new();
            timestamp(&mut out, UNIX_EPOCH + Duration::from_secs(secs));
            let expected = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
                .expect("in range");
            let parsed = time::OffsetDateTime::parse(
                &out,
                &time::format_description::well_known::Rfc3339,
            )
            .expect("RFC 3339");
            prop_assert_eq!(parsed, expected);
        }

        #[test]
        fn any_text_is_a_valid_json_string(text in any::<String>()) {
            let mut out = String::new();
            json_string(&mut out, &text);
            let back: String = serde_json::from_str(&out).expect("valid JSON");
            prop_assert_eq!(back, text);
        }
    }
}
