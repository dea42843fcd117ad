//! Captures what the code under test logs, so that a test can read it back: which lines were
//! written, and that no secret is among them.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::Dispatch;
use tracing::subscriber::DefaultGuard;

/// A log sink the test can read back.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A TRACE-level, plain-text (no ANSI) `fmt` subscriber writing into a buffer.
///
/// [`LogCapture::start`] installs it as the thread's default until [`LogCapture::stop`] or the
/// capture is dropped; that covers an `async` test on a current-thread runtime (what
/// `#[tokio::test]` gives), across its `.await` points. [`LogCapture::new`] installs nothing:
/// hand [`LogCapture::dispatch`] to `WithSubscriber::with_subscriber` or
/// `tracing::dispatcher::with_default` instead.
pub struct LogCapture {
    sink: Sink,
    dispatch: Dispatch,
    guard: Option<DefaultGuard>,
    // `tracing` caches each callsite's interest for the whole process. While a single
    // dispatcher exists, a test on another thread that reaches a callsite first caches it
    // against that thread's default, which has no subscriber, as "never", and the capture
    // would miss that line. With a second live dispatcher, registering a callsite asks every
    // registered dispatcher instead; creating the capturing one last re-asks the callsites
    // already registered. So the anchor is made first and lives as long as the capture.
    _anchor: Dispatch,
}

impl LogCapture {
    /// A capture that is not installed anywhere yet; see [`LogCapture::dispatch`].
    #[must_use]
    pub fn new() -> Self {
        let anchor = Dispatch::new(tracing_subscriber::registry());
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        Self {
            sink,
            dispatch: Dispatch::new(subscriber),
            guard: None,
            _anchor: anchor,
        }
    }

    /// A capture installed as this thread's default subscriber until [`LogCapture::stop`] or
    /// the capture is dropped.
    #[must_use]
    pub fn start() -> Self {
        let mut capture = Self::new();
        capture.guard = Some(tracing::dispatcher::set_default(&capture.dispatch));
        capture
    }

    /// The capturing dispatcher, for `with_subscriber` or `dispatcher::with_default`.
    #[must_use]
    pub fn dispatch(&self) -> Dispatch {
        self.dispatch.clone()
    }

    /// Stops being the thread's default (if [`LogCapture::start`] made it so); what was
    /// captured stays readable.
    pub fn stop(&mut self) {
        self.guard = None;
    }

    /// Everything captured so far.
    ///
    /// # Panics
    /// When the log is not UTF-8.
    #[must_use]
    pub fn text(&self) -> String {
        let bytes = self
            .sink
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8(bytes).expect("the captured log is UTF-8")
    }

    /// Asserts that none of `secrets` appears anywhere in the captured log.
    ///
    /// # Panics
    /// When one does; the message names it and shows the log.
    #[track_caller]
    pub fn assert_absent<S: AsRef<str>>(&self, secrets: impl IntoIterator<Item = S>) {
        let text = self.text();
        for secret in secrets {
            let secret = secret.as_ref();
            assert!(!text.contains(secret), "{secret:?} reached the log: {text}");
        }
    }
}

impl Default for LogCapture {
    fn default() -> Self {
        Self::new()
    }
}
