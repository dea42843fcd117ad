//! Outbox-folder mailer (to be written).
