//! The ports: what the flow needs from the outside world. Adapters implement them for the
//! embedded default (SQLite, outbox folder, local key) and for AWS (DynamoDB, SES, KMS).

mod clock;
mod mailer;
mod sealer;
mod store;

pub use clock::{Clock, FixedClock, OsRandom, Random, SeededRandom, SystemClock};
pub use mailer::{Mail, MailBody, MailError, MailKind, Mailer};
pub use sealer::{SealContext, SealError, SecretSealer};
pub use store::{Counter, EnrollmentCommit, LoginCommit, Store, StoreError, TotpFailures};
