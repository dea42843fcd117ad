//! Adapters: the embedded implementations of the ports (SQLite store, outbox mailer, local
//! AES-256-GCM sealer). The AWS adapters live beside them.

#[cfg(feature = "aws")]
pub mod dynamodb;
#[cfg(feature = "aws")]
pub mod kms;
pub mod local_sealer;
pub mod outbox;
#[cfg(feature = "aws")]
pub mod ses;
pub mod sqlite;
