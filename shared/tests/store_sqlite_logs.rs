//! What the SQLite store writes to the log: its operations and outcomes, never a secret. Alone
//! in its own test binary, because tracing caches per call site whether anyone listens, and a
//! concurrent test without a subscriber could make this one miss lines.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use twostep::adapters::sqlite::SqliteStore;
use twostep::conformance;
use twostep::ports::Store;

/// Collects everything written to the log.
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

#[test]
fn logs_hold_no_secrets() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();

    // The store logs on the calling task, so a current-thread runtime under a scoped
    // subscriber sees every line.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
            conformance::commit_login_happy_path(&store).await;
            conformance::commit_login_refuses_replay(&store).await;
            conformance::commit_enrollment_refuses_stale_device(&store).await;
            conformance::users_duplicate_email(&store).await;
        });
    });

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for expected in ["commit_login", "step_replayed", "conflict"] {
        assert!(
            text.contains(expected),
            "{expected} missing from the log: {text}"
        );
    }
    for secret in ["sealed-", "$argon2id", "code-hash-"] {
        assert!(!text.contains(secret), "{secret} reached the log");
    }
}
