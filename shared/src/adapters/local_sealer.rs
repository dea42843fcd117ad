//! Local sealer: the embedded SecretSealer, AES-256-GCM under a 256-bit key kept in a file.
//!
//! A sealed secret is the standard, padded base64 of `1 || nonce || ciphertext || tag`: a format
//! version byte, a 96-bit nonce drawn from the injected randomness for every seal, and the
//! AES-GCM output with its 128-bit tag (NIST SP 800-38D). The associated data binds it to its
//! context, `twostep-v1 NUL purpose NUL account_id NUL user_id`, so a ciphertext copied to
//! another user or account, or altered in any byte, fails to open and is refused. Random nonces
//! are safe for up to 2^32 seals under one key (SP 800-38D section 8.3), far more TOTP keys than
//! a local install will ever seal.
//!
//! The key file holds the 32 raw key bytes and must be readable by its owner only (mode 0600,
//! Unix). On first use it is written under a temporary name, synced, then hard-linked into
//! place, so two processes that start together agree on one key and neither reads half a file.
//! Losing the file makes every sealed secret unreadable: users must enroll again.
//!
//! The workspace builds `aes-gcm` with its `zeroize` feature, so the AES key schedule built for
//! each call is wiped when dropped, like the key bytes themselves.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::domain::ids::hex;
use crate::domain::model::SealedSecret;
use crate::domain::secret::TotpKey;
use crate::ports::{Random, SealContext, SealError, SecretSealer};

/// Length of a sealing key: AES-256.
pub const KEY_LEN: usize = 32;

/// The format version byte that starts every sealed secret.
const VERSION: u8 = 1;

/// AES-GCM nonce length: 96 bits.
const NONCE_LEN: usize = 12;

/// Prefix of the associated data; a new format gets a new prefix.
const AAD_PREFIX: &str = "twostep-v1";

/// Permission bits that let anyone but the owner read or write a file.
const GROUP_OTHER_BITS: u32 = 0o077;

/// The sealing key; wiped on drop, never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
struct SealingKey([u8; KEY_LEN]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(_)")
    }
}

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or creating the file failed.
    #[error("cannot use key file {}: {source}", .path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The path is a folder or a special file.
    #[error("key file {} is not a regular file", .path.display())]
    NotAFile {
        /// The key file.
        path: PathBuf,
    },
    /// The file does not hold exactly one key.
    #[error("key file {} holds {len} bytes, not the {KEY_LEN} of a sealing key", .path.display())]
    WrongLength {
        /// The key file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },
    /// Group or others may read or write the file.
    #[error(
        "key file {} is open to other users (mode {mode:03o}); run `chmod 600 {}`",
        .path.display(),
        .path.display()
    )]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Seals TOTP keys with AES-256-GCM under a local key.
pub struct LocalSealer {
    key: SealingKey,
    rng: Arc<dyn Random>,
}

impl std::fmt::Debug for LocalSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSealer")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl LocalSealer {
    /// Opens the key in `key_file`, or creates the file (mode 0600, and its folder if missing)
    /// with a new key from `rng` when there is none. `rng` also draws every nonce.
    ///
    /// # Errors
    /// [`KeyFileError::TooOpen`] when group or others may read or write the file,
    /// [`KeyFileError::WrongLength`] when it does not hold exactly 32 bytes,
    /// [`KeyFileError::NotAFile`] when the path is a folder or a special file, and
    /// [`KeyFileError::Io`] when it cannot be read or created.
    pub fn open_or_create(key_file: &Path, rng: Arc<dyn Random>) -> Result<Self, KeyFileError> {
        let key = match read_key(key_file)? {
            Some(key) => key,
            None => create_key(key_file, &*rng)?,
        };
        Ok(Self { key, rng })
    }

    /// A sealer with the given key, for tests and tools that hold the key elsewhere.
    pub fn from_key_bytes(key: [u8; KEY_LEN], rng: Arc<dyn Random>) -> Self {
        Self {
            key: SealingKey(key),
            rng,
        }
    }

    /// The cipher for one call.
    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.key.0))
    }
}

#[async_trait]
impl SecretSealer for LocalSealer {
    /// Encrypts `key` bound to `ctx`.
    ///
    /// # Errors
    /// [`SealError::Refused`] when a field of `ctx` holds a NUL, which would make the associated
    /// data ambiguous; [`SealError::Unavailable`] if AES-GCM fails, which it does not for a key
    /// of 20 bytes.
    async fn seal(&self, key: &TotpKey, ctx: SealContext<'_>) -> Result<SealedSecret, SealError> {
        let aad = associated_data(&ctx)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce);

        let payload = Payload {
            msg: key.expose(),
            aad: &aad,
        };
        let ciphertext = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| SealError::Unavailable("AES-GCM encryption failed".to_owned()))?;

        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(SealedSecret(BASE64.encode(sealed)))
    }

    /// Decrypts `sealed`, which must have been sealed under the same key and `ctx`.
    ///
    /// # Errors
    /// [`SealError::Refused`] for anything that does not open: not base64, too short, another
    /// format version, another key or context, any altered byte, or a plaintext that is not a
    /// 20-byte TOTP key.
    async fn unseal(
        &self,
        sealed: &SealedSecret,
        ctx: SealContext<'_>,
    ) -> Result<TotpKey, SealError> {
        let aad = associated_data(&ctx)?;
        let raw = BASE64
            .decode(sealed.0.as_bytes())
            .map_err(|_| SealError::Refused)?;
        let (&version, rest) = raw.split_first().ok_or(SealError::Refused)?;
        if version != VERSION {
            return Err(SealError::Refused);
        }
        let (nonce, ciphertext) = rest.split_at_checked(NONCE_LEN).ok_or(SealError::Refused)?;

        // `nonce` is NONCE_LEN bytes long, so `from_slice` cannot panic. A ciphertext shorter
        // than the tag fails to decrypt like any other bad one.
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        let plaintext = self
            .cipher()
            .decrypt(Nonce::from_slice(nonce), payload)
            .map(Zeroizing::new)
            .map_err(|_| SealError::Refused)?;
        TotpKey::from_slice(&plaintext).ok_or(SealError::Refused)
    }
}

/// The associated data for `ctx`: `twostep-v1 NUL purpose NUL account_id NUL user_id`.
fn associated_data(ctx: &SealContext<'_>) -> Result<Vec<u8>, SealError> {
    let fields = [
        AAD_PREFIX,
        ctx.purpose,
        ctx.account_id.as_str(),
        ctx.user_id.as_str(),
    ];

    // With a NUL inside a field, two different contexts could encode to the same bytes.
    if fields.iter().any(|field| field.contains('\0')) {
        return Err(SealError::Refused);
    }
    Ok(fields.join("\0").into_bytes())
}

/// The key in `path`, or `None` when there is no such file.
fn read_key(path: &Path) -> Result<Option<SealingKey>, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };

    // Check the file that was opened, not the path, which may have changed since.
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(KeyFileError::WrongLength {
            path: path.to_owned(),
            len: meta.len(),
        });
    }

    let mut key = SealingKey([0u8; KEY_LEN]);
    file.read_exact(&mut key.0).map_err(io)?;
    Ok(Some(key))
}

/// Writes a new key from `rng` to `path`, or reads the key another process put there first.
fn create_key(path: &Path, rng: &dyn Random) -> Result<SealingKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(io)?;

    let mut key = SealingKey([0u8; KEY_LEN]);
    rng.fill(&mut key.0);
    let mut suffix = [0u8; 8];
    rng.fill(&mut suffix);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", hex(&suffix)));

    let written = write_private(&tmp, &key.0);
    let linked = written.and_then(|()| fs::hard_link(&tmp, path));
    // The key file, if linked, is a second name for the same file; the temporary one goes
    // either way.
    let _ = fs::remove_file(&tmp);

    match linked {
        Ok(()) => {
            // Without this, a crash could lose the new name while secrets sealed under the key
            // are already stored.
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            tracing::info!(path = %path.display(), "created a new sealing key file");
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let theirs = read_key(path)?;
            theirs.ok_or_else(|| io(std::io::Error::from(ErrorKind::NotFound)))
        }
        Err(e) => Err(io(e)),
    }
}

/// Creates `path` (never an existing file) readable by its owner only and writes `bytes`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;
    use crate::domain::ids::{AccountId, UserId};
    use crate::ports::SeededRandom;

    fn sealer(seed: u64) -> LocalSealer {
        LocalSealer::from_key_bytes([seed as u8; KEY_LEN], Arc::new(SeededRandom::new(seed)))
    }

    fn ids() -> (AccountId, UserId, AccountId, UserId) {
        (
            AccountId::from_raw("acc_one"),
            UserId::from_raw("usr_one"),
            AccountId::from_raw("acc_two"),
            UserId::from_raw("usr_two"),
        )
    }

    const KEY: &[u8; 20] = b"12345678901234567890";

    #[tokio::test]
    async fn round_trip() {
        let (acc, usr, _, _) = ids();
        let sealer = sealer(1);
        let ctx = SealContext::totp(&acc, &usr);
        let sealed = sealer.seal(&TotpKey::from_bytes(*KEY), ctx).await.unwrap();

        let raw = BASE64.decode(&sealed.0).unwrap();
        assert_eq!(raw[0], VERSION);
        assert_eq!(raw.len(), 1 + NONCE_LEN + KEY.len() + 16);
        assert!(!sealed.0.contains("1234567890"));
        assert_eq!(sealer.unseal(&sealed, ctx).await.unwrap().expose(), KEY);
    }

    #[tokio::test]
    async fn each_seal_draws_a_new_nonce() {
        let (acc, usr, _, _) = ids();
        let sealer = sealer(1);
        let ctx = SealContext::totp(&acc, &usr);
        let first = sealer.seal(&TotpKey::from_bytes(*KEY), ctx).await.unwrap();
        let second = sealer.seal(&TotpKey::from_bytes(*KEY), ctx).await.unwrap();
        assert_ne!(first.0, second.0);
    }

    #[tokio::test]
    async fn another_users_or_accounts_context_is_refused() {
        let (acc, usr, other_acc, other_usr) = ids();
        let sealer = sealer(2);
        let sealed = sealer
            .seal(&TotpKey::from_bytes(*KEY), SealContext::totp(&acc, &usr))
            .await
            .unwrap();

        for ctx in [
            SealContext::totp(&acc, &other_usr),
            SealContext::totp(&other_acc, &usr),
            SealContext {
                account_id: &acc,
                user_id: &usr,
                purpose: "backup",
            },
        ] {
            let refused = sealer.unseal(&sealed, ctx).await;
            assert!(
                matches!(refused, Err(SealError::Refused)),
                "{ctx:?}: {refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_context_field_with_a_nul_is_refused() {
        let (acc, _, _, _) = ids();
        let tricky = UserId::from_raw("usr_one\0totp");
        let sealed = sealer(2)
            .seal(&TotpKey::from_bytes(*KEY), SealContext::totp(&acc, &tricky))
            .await;
        assert!(matches!(sealed, Err(SealError::Refused)));
    }

    #[tokio::test]
    async fn any_flipped_byte_is_refused() {
        let (acc, usr, _, _) = ids();
        let sealer = sealer(3);
        let ctx = SealContext::totp(&acc, &usr);
        let sealed = sealer.seal(&TotpKey::from_bytes(*KEY), ctx).await.unwrap();
        let raw = BASE64.decode(&sealed.0).unwrap();

        for i in 0..raw.len() {
            let mut altered = raw.clone();
            altered[i] ^= 0x01;
            let altered = SealedSecret(BASE64.encode(&altered));
            let refused = sealer.unseal(&altered, ctx).await;
            assert!(
                matches!(refused, Err(SealError::Refused)),
                "byte {i}: {refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn malformed_or_foreign_ciphertexts_are_refused() {
        let (acc, usr, _, _) = ids();
        let ctx = SealContext::totp(&acc, &usr);
        let sealed = sealer(4)
            .seal(&TotpKey::from_bytes(*KEY), ctx)
            .await
            .unwrap();
        let raw = BASE64.decode(&sealed.0).unwrap();

        let cases = [
            "not base64!".to_owned(),
            String::new(),
            BASE64.encode([VERSION]),
            BASE64.encode(&raw[..1 + NONCE_LEN + 8]),
        ];
        for case in cases {
            let refused = sealer(4).unseal(&SealedSecret(case.clone()), ctx).await;
            assert!(matches!(refused, Err(SealError::Refused)), "{case:?}");
        }

        // Another key.
        assert!(matches!(
            sealer(5).unseal(&sealed, ctx).await,
            Err(SealError::Refused)
        ));
    }

    #[tokio::test]
    async fn a_plaintext_that_is_not_a_totp_key_is_refused() {
        let (acc, usr, _, _) = ids();
        let ctx = SealContext::totp(&acc, &usr);
        let sealer = sealer(6);

        // Seal 16 bytes by hand, as a buggy or foreign writer might.
        let aad = associated_data(&ctx).unwrap();
        let nonce = [7u8; NONCE_LEN];
        let payload = Payload {
            msg: &[1u8; 16][..],
            aad: &aad,
        };
        let ciphertext = sealer
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap();
        let sealed = SealedSecret(BASE64.encode([&[VERSION][..], &nonce, &ciphertext].concat()));

        assert!(matches!(
            sealer.unseal(&sealed, ctx).await,
            Err(SealError::Refused)
        ));
    }

    #[tokio::test]
    async fn the_key_file_is_private_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data").join("sealing.key");
        let (acc, usr, _, _) = ids();
        let ctx = SealContext::totp(&acc, &usr);

        let first = LocalSealer::open_or_create(&path, Arc::new(SeededRandom::new(8))).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), KEY_LEN as u64);
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
        let sealed = first.seal(&TotpKey::from_bytes(*KEY), ctx).await.unwrap();

        // Another seed: the second open must read the key, not make one.
        let second = LocalSealer::open_or_create(&path, Arc::new(SeededRandom::new(9))).unwrap();
        assert_eq!(second.unseal(&sealed, ctx).await.unwrap().expose(), KEY);
    }

    #[test]
    fn a_key_file_open_to_others_is_refused_with_a_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sealing.key");
        fs::write(&path, [0u8; KEY_LEN]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

        let err = LocalSealer::open_or_create(&path, Arc::new(SeededRandom::new(1))).unwrap_err();
        assert!(
            matches!(err, KeyFileError::TooOpen { mode: 0o644, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
        assert_eq!(
            fs::read(&path).unwrap(),
            [0u8; KEY_LEN],
            "the file is left alone"
        );
    }

    #[test]
    fn a_key_file_of_the_wrong_length_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sealing.key");
        fs::write(&path, [0u8; 16]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

        let err = LocalSealer::open_or_create(&path, Arc::new(SeededRandom::new(1))).unwrap_err();
        assert!(
            matches!(err, KeyFileError::WrongLength { len: 16, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_folder_is_not_a_key_file() {
        let tmp = tempfile::tempdir().unwrap();
        let err =
            LocalSealer::open_or_create(tmp.path(), Arc::new(SeededRandom::new(1))).unwrap_err();
        assert!(matches!(err, KeyFileError::NotAFile { .. }), "{err:?}");
    }

    #[test]
    fn debug_never_prints_the_key() {
        let sealer = LocalSealer::from_key_bytes([0xab; KEY_LEN], Arc::new(SeededRandom::new(1)));
        let printed = format!("{sealer:?}");
        assert_eq!(printed, "LocalSealer { key: SealingKey(_), .. }");
        assert!(!printed.to_lowercase().contains("ab, ab") && !printed.contains("171"));
    }
}
