//! Logging with `tracing`: human-readable lines by default, one JSON
//! object per line with `--log-json` (or `log_format = "json"`), and a copy
//! of every line for `ikegw log` clients (a broadcast channel the control
//! server subscribes to).

use std::fmt::Write as _;
use std::sync::OnceLock;

use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// Lines buffered for slow `ikegw log` clients before they lose some.
const LOG_BACKLOG: usize = 1024;

static LOG_TX: OnceLock<broadcast::Sender<String>> = OnceLock::new();

/// A receiver of formatted log lines (for `ikegw log`).
pub(crate) fn subscribe() -> broadcast::Receiver<String> {
    LOG_TX
        .get_or_init(|| broadcast::channel(LOG_BACKLOG).0)
        .subscribe()
}

/// Sends each event, with its span context, to the broadcast channel.
struct Broadcast(broadcast::Sender<String>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S> Layer<S> for Broadcast
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if self.0.receiver_count() == 0 {
            return;
        }
        let mut f = Fields(format!("{:>5}", event.metadata().level()));
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                let _ = write!(f.0, " {}", span.name());
                if let Some(ext) = span
                    .extensions()
                    .get::<tracing_subscriber::fmt::FormattedFields<
                        tracing_subscriber::fmt::format::DefaultFields,
                    >>()
                {
                    let _ = write!(f.0, "{{{ext}}}");
                }
                f.0.push(':');
            }
        }
        event.record(&mut f);
        let _ = self.0.send(f.0);
    }
}

/// Installs the global subscriber. `level` is a tracing filter
/// (`info`, `gateway=debug`); `RUST_LOG` overrides it. A second call (tests
/// running several daemons in one process) keeps the first subscriber.
pub(crate) fn init(json: bool, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let tx = LOG_TX
        .get_or_init(|| broadcast::channel(LOG_BACKLOG).0)
        .clone();
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(Broadcast(tx));
    let _ = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
}
