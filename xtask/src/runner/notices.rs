//! Captures the NOTICE/WARNING messages the server sends while a future runs. sqlx has no notice
//! callback: it emits each one as a tracing event (target `sqlx::postgres::notice`), so we install
//! a small tracing layer and file events under the capture span they happened in.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, OnceLock,
    },
};

use tracing::{
    field::{Field, Visit},
    span, Event, Instrument, Metadata, Subscriber,
};
use tracing_subscriber::{layer::Context, prelude::*, registry::LookupSpan, Layer};

const NOTICE_TARGET: &str = "sqlx::postgres::notice";
const SPAN_NAME: &str = "xtask_notice_capture";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `WARNING`, `NOTICE`, `INFO`…, from the tracing level sqlx mapped the severity to.
    pub severity: &'static str,
    pub message: String,
}

fn sink() -> &'static Mutex<HashMap<u64, Vec<Notice>>> {
    static SINK: OnceLock<Mutex<HashMap<u64, Vec<Notice>>>> = OnceLock::new();
    SINK.get_or_init(Default::default)
}

/// Runs `fut` and returns what it produced together with the notices the server sent meanwhile.
pub async fn capture<F: Future>(fut: F) -> (F::Output, Vec<Notice>) {
    install();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let key = NEXT.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!(SPAN_NAME, capture = key);
    let out = fut.instrument(span).await;
    let notices = sink().lock().map(|mut s| s.remove(&key).unwrap_or_default()).unwrap_or_default();
    (out, notices)
}

/// Installs the capture layer as the global subscriber once. If the process already has a global
/// subscriber, notices are simply not captured.
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(NoticeLayer));
    });
}

struct CaptureKey(u64);

struct NoticeLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for NoticeLayer {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        // Only our span and sqlx's notices are of interest; everything else stays disabled (cheap).
        if meta.target() == NOTICE_TARGET || meta.name() == SPAN_NAME {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        meta.target() == NOTICE_TARGET || meta.name() == SPAN_NAME
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != SPAN_NAME {
            return;
        }
        let mut visitor = KeyVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(key), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(CaptureKey(key));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != NOTICE_TARGET {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some(key) = scope.into_iter().find_map(|s| s.extensions().get::<CaptureKey>().map(|k| k.0)) else {
            return;
        };
        let mut visitor = MessageVisitor(String::new());
        event.record(&mut visitor);
        let severity = match *event.metadata().level() {
            tracing::Level::ERROR => "ERROR",
            tracing::Level::WARN => "WARNING",
            tracing::Level::INFO => "NOTICE",
            tracing::Level::DEBUG => "DEBUG",
            tracing::Level::TRACE => "INFO",
        };
        if let Ok(mut sink) = sink().lock() {
            sink.entry(key).or_default().push(Notice { severity, message: visitor.0 });
        }
    }
}

struct KeyVisitor(Option<u64>);

impl Visit for KeyVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "capture" {
            self.0 = Some(value);
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && self.0.is_empty() {
            self.0 = format!("{value:?}").trim_matches('"').to_string();
        }
    }
}
