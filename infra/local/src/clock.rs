//! A system clock shifted by a fixed offset, for trying date-bound rules (forced logout, code
//! expiry) without waiting: `TWOSTEP_CLOCK_OFFSET_SECONDS=3600` runs the server an hour ahead.

use chrono::{DateTime, Duration, Utc};
use twostep::ports::{Clock, SystemClock};

/// The system clock plus an offset.
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock(Duration);

impl OffsetClock {
    /// Reads `TWOSTEP_CLOCK_OFFSET_SECONDS`; `Ok(None)` when unset.
    ///
    /// # Errors
    /// A message naming the variable when it is not a whole number of seconds.
    pub fn from_env() -> Result<Option<Self>, String> {
        let Ok(raw) = std::env::var("TWOSTEP_CLOCK_OFFSET_SECONDS") else {
            return Ok(None);
        };
        let secs: i64 = raw.trim().parse().map_err(|_| {
            "environment variable TWOSTEP_CLOCK_OFFSET_SECONDS must be a whole number of seconds"
                .to_owned()
        })?;
        Ok(Some(Self(Duration::seconds(secs))))
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + self.0
    }
}
