//! Opaque identifiers for accounts, users and devices, made from injected randomness.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ports::Random;

macro_rules! id_type {
    ($name:ident, $prefix:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random identifier (128 bits from `rng`).
            pub fn generate(rng: &dyn Random) -> Self {
                let mut bytes = [0u8; 16];
                rng.fill(&mut bytes);
                Self(format!("{}{}", $prefix, hex(&bytes)))
            }

            /// Wraps an identifier read back from storage or a request path.
            pub fn from_raw(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    AccountId,
    "acc_",
    "Identifies an account (a customer of the product)."
);
id_type!(
    UserId,
    "usr_",
    "Identifies a user (an agent or an admin) of one account."
);
id_type!(
    DeviceId,
    "dev_",
    "Identifies one enrolled authenticator device of a user."
);
id_type!(EventId, "evt_", "Identifies one audit event.");

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}
