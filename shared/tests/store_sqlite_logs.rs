//! What the SQLite store writes to the log: its operations and outcomes, never a secret. Alone
//! in its own test binary, because tracing caches per call site whether anyone listens, and a
//! concurrent test without a subscriber could make this one miss lines.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use twostep::adapters::sqlite::SqliteStore;
use twostep::conformance;
use twostep::ports::Store;
use twostep::testing::logs::LogCapture;

#[test]
fn logs_hold_no_secrets() {
    let capture = LogCapture::new();

    // The store logs on the calling task, so a current-thread runtime under a scoped
    // subscriber sees every line.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&capture.dispatch(), || {
        runtime.block_on(async {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
            conformance::commit_login_happy_path(&store).await;
            conformance::commit_login_refuses_replay(&store).await;
            conformance::commit_enrollment_refuses_stale_device(&store).await;
            conformance::users_duplicate_email(&store).await;
        });
    });

    let text = capture.text();
    for expected in ["commit_login", "step_replayed", "conflict"] {
        assert!(
            text.contains(expected),
            "{expected} missing from the log: {text}"
        );
    }
    capture.assert_absent(["sealed-", "$argon2id", "code-hash-"]);
}
