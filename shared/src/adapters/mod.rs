//! Adapters: the embedded implementations of the ports (SQLite store, outbox mailer, local
//! AES-256-GCM sealer). The AWS adapters live beside them.

pub mod local_sealer;
pub mod outbox;
pub mod sqlite;
