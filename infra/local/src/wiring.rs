//! Builds the App on the embedded adapters inside the data folder.
//!
//! Layout of the data folder: `twostep.db` (SQLite), `outbox/` (mail as `.eml` files),
//! `secret.key` (the AES-256-GCM key that seals TOTP secrets, mode 0600).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use twostep::adapters::local_sealer::LocalSealer;
use twostep::adapters::outbox::OutboxMailer;
use twostep::adapters::sqlite::SqliteStore;
use twostep::config::Config;
use twostep::flow::App;
use twostep::ports::{Clock, OsRandom, Random, SystemClock};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data folder could not be created.
    #[error("cannot create data folder {path}: {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A setting is wrong.
    #[error("{0}")]
    Config(String),
    /// An adapter could not start.
    #[error("{0}")]
    Adapter(String),
}

/// The App and where its files are.
pub struct Local {
    /// The wired use cases.
    pub app: Arc<App>,
    /// Where mail lands.
    pub outbox: PathBuf,
    /// The SQLite store (also used for housekeeping).
    pub store: Arc<SqliteStore>,
}

/// Opens (creating if needed) the data folder and wires the App.
///
/// # Errors
/// [`StartError`] naming what failed.
pub fn open(data_dir: &Path) -> Result<Local, StartError> {
    // Settings first, so that a bad setting leaves no empty data folder behind.
    let config = Config::from_vars(|name| std::env::var(name).ok())
        .map_err(|e| StartError::Config(e.to_string()))?;
    let clock: Arc<dyn Clock> = match crate::clock::from_env() {
        Ok(Some(clock)) => Arc::from(clock),
        Ok(None) => Arc::new(SystemClock),
        Err(e) => return Err(StartError::Config(e)),
    };
    let rng: Arc<dyn Random> = Arc::new(OsRandom);
    std::fs::create_dir_all(data_dir).map_err(|source| StartError::DataDir {
        path: data_dir.to_owned(),
        source,
    })?;

    let database = data_dir.join("twostep.db");
    let key_file = data_dir.join("secret.key");
    // A new key beside an existing database would make every enrolled secret unreadable.
    if database.exists() && !key_file.exists() {
        return Err(StartError::Adapter(format!(
            "{} exists but its key {} is missing: restore the key file, or move the database \
             away to start over (every user then enrolls again)",
            database.display(),
            key_file.display()
        )));
    }
    let sealer = LocalSealer::open_or_create(&key_file, rng.clone())
        .map_err(|e| StartError::Adapter(e.to_string()))?;
    let store = Arc::new(
        SqliteStore::open(&database).map_err(|e| StartError::Adapter(format!("store: {e}")))?,
    );
    let outbox = data_dir.join("outbox");
    let sender = std::env::var("TWOSTEP_SENDER_EMAIL")
        .unwrap_or_else(|_| "Twostep <no-reply@twostep.localhost>".to_owned());
    let mailer = OutboxMailer::new(outbox.clone(), sender, clock.clone(), rng.clone())
        .map_err(|e| StartError::Adapter(format!("outbox: {e}")))?;

    let app = App::new(
        store.clone(),
        Arc::new(mailer),
        Arc::new(sealer),
        clock,
        rng,
        config,
    )
    .map_err(|e| StartError::Adapter(e.to_string()))?;
    Ok(Local {
        app: Arc::new(app),
        outbox,
        store,
    })
}
