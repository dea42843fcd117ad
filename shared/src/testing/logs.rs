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
            assert!(
                !contains_secret(&text, secret),
                "{secret:?} reached the log: {text}"
            );
        }
    }
}

impl Default for LogCapture {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `secret` appears in `text`.
///
/// A secret made only of digits (an emailed or TOTP code) counts only where it stands alone,
/// not inside a longer word or number: six digits turn up by chance in a log's timestamps
/// (`…:39.077569Z`) and hexadecimal ids often enough to fail a suite now and then, while a
/// leaked code stands between quotes, spaces, `=` or `:`. Any other secret counts anywhere.
#[must_use]
pub fn contains_secret(text: &str, secret: &str) -> bool {
    if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_digit()) {
        return !secret.is_empty() && text.contains(secret);
    }
    let bytes = text.as_bytes();
    let joined = |at: Option<&u8>| at.is_some_and(u8::is_ascii_alphanumeric);
    text.match_indices(secret).any(|(start, _)| {
        let before = start.checked_sub(1).and_then(|i| bytes.get(i));
        let after = bytes.get(start + secret.len());
        !joined(before) && !joined(after)
    })
}

#[cfg(test)]
mod tests {
    use super::contains_secret;

    #[test]
    fn a_code_counts_where_it_stands_alone() {
        for text in [
            "code=123456",
            "{\"code\":\"123456\"}",
            "code: 123456 ok",
            "123456",
            "tried 123456.",
        ] {
            assert!(contains_secret(text, "123456"), "{text}");
        }
    }

    #[test]
    fn a_code_inside_a_timestamp_or_id_does_not_count() {
        for text in [
            "2026-12-03T16:38:39.123456Z INFO",
            "request_id=ab123456cd",
            "acc_1234567",
            "9123456",
        ] {
            assert!(!contains_secret(text, "123456"), "{text}");
        }
    }

    #[test]
    fn other_secrets_count_anywhere() {
        assert!(contains_secret("token=xTOKENx", "TOKEN"));
        assert!(contains_secret("pw hunter2hunter2", "hunter2"));
        assert!(!contains_secret("nothing here", "TOKEN"));
        assert!(!contains_secret("anything", ""));
    }
}
