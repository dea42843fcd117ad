//! Clocks for trying date-bound rules (forced logout, code expiry) without waiting.
//!
//! - `TWOSTEP_CLOCK_OFFSET_SECONDS=3600` runs the server an hour ahead of the system clock.
//! - `TWOSTEP_TEST_CLOCK_FILE=path` reads the time (RFC 3339) from that file on every use, so a
//!   test can move the server's clock while it runs. Testing only.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use twostep::ports::{Clock, SystemClock};

/// The system clock plus an offset.
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock(Duration);

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + self.0
    }
}

/// A clock read from a file.
#[derive(Debug, Clone)]
pub struct FileClock(PathBuf);

impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        // A missing or half-written file falls back to the system time for that one read.
        std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|text| DateTime::parse_from_rfc3339(text.trim()).ok())
            .map_or_else(|| SystemClock.now(), |at| at.with_timezone(&Utc))
    }
}

/// The clock the environment asks for: `None` for the system clock.
///
/// # Errors
/// A message naming the variable when its value is unusable.
pub fn from_env() -> Result<Option<Box<dyn Clock>>, String> {
    if let Ok(path) = std::env::var("TWOSTEP_TEST_CLOCK_FILE") {
        tracing::warn!(path = %path, "clock read from a file: for tests only");
        return Ok(Some(Box::new(FileClock(PathBuf::from(path)))));
    }
    let Ok(raw) = std::env::var("TWOSTEP_CLOCK_OFFSET_SECONDS") else {
        return Ok(None);
    };
    let secs: i64 = raw.trim().parse().map_err(|_| {
        "environment variable TWOSTEP_CLOCK_OFFSET_SECONDS must be a whole number of seconds"
            .to_owned()
    })?;
    Ok(Some(Box::new(OffsetClock(Duration::seconds(secs)))))
}
