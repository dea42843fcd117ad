//! The KMS sealer against moto's KMS: round trip, context binding, tampering, redaction.
#![cfg(feature = "aws")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use twostep::adapters::kms::KmsSealer;
use twostep::domain::ids::{AccountId, UserId};
use twostep::domain::model::SealedSecret;
use twostep::domain::secret::TotpKey;
use twostep::ports::{SealContext, SealError, SecretSealer};
use twostep::testing::logs::LogCapture;
use twostep::testing::moto;

const KEY: [u8; 20] = *b"12345678901234567890";

/// A sealer under a fresh symmetric key, and that key's id.
async fn sealer() -> (KmsSealer, String) {
    let config = moto::sdk_config().await;
    let client = aws_sdk_kms::Client::new(&config);
    let created = client.create_key().send().await.expect("CreateKey");
    let key_id = created.key_metadata().unwrap().key_id().to_owned();
    (KmsSealer::new(client, key_id.clone()), key_id)
}

fn ids() -> (AccountId, UserId) {
    (
        AccountId::from_raw("acc-kms-1"),
        UserId::from_raw("usr-kms-1"),
    )
}

#[tokio::test]
async fn seals_and_unseals_a_key() {
    let (sealer, _) = sealer().await;
    let (account, user) = ids();
    let ctx = SealContext::totp(&account, &user);

    let sealed = sealer.seal(&TotpKey::from_bytes(KEY), ctx).await.unwrap();
    assert!(sealed.0.starts_with("kms1:"), "format prefix missing");
    let blob = BASE64.decode(sealed.0.trim_start_matches("kms1:")).unwrap();
    assert!(
        !blob.windows(KEY.len()).any(|w| w == KEY),
        "the key is in the ciphertext"
    );

    let opened = sealer.unseal(&sealed, ctx).await.unwrap();
    assert_eq!(opened.expose(), &KEY);

    // Two seals of one key differ: KMS draws a fresh IV each time.
    let again = sealer.seal(&TotpKey::from_bytes(KEY), ctx).await.unwrap();
    assert_ne!(again.0, sealed.0);
}

#[tokio::test]
async fn another_user_or_account_is_refused() {
    let (sealer, _) = sealer().await;
    let (account, user) = ids();
    let sealed = sealer
        .seal(
            &TotpKey::from_bytes(KEY),
            SealContext::totp(&account, &user),
        )
        .await
        .unwrap();

    let other_user = UserId::from_raw("usr-kms-2");
    let moved = sealer
        .unseal(&sealed, SealContext::totp(&account, &other_user))
        .await;
    assert!(matches!(moved, Err(SealError::Refused)), "{moved:?}");

    let other_account = AccountId::from_raw("acc-kms-2");
    let moved = sealer
        .unseal(&sealed, SealContext::totp(&other_account, &user))
        .await;
    assert!(matches!(moved, Err(SealError::Refused)), "{moved:?}");

    let other_purpose = SealContext {
        purpose: "recovery",
        ..SealContext::totp(&account, &user)
    };
    let moved = sealer.unseal(&sealed, other_purpose).await;
    assert!(matches!(moved, Err(SealError::Refused)), "{moved:?}");
}

#[tokio::test]
async fn an_altered_ciphertext_is_refused() {
    let (sealer, _) = sealer().await;
    let (account, user) = ids();
    let ctx = SealContext::totp(&account, &user);
    let sealed = sealer.seal(&TotpKey::from_bytes(KEY), ctx).await.unwrap();
    let blob = BASE64.decode(sealed.0.trim_start_matches("kms1:")).unwrap();

    // Flip one bit in the last byte (the authentication tag) and in the middle (the encrypted
    // key), and cut the blob short.
    let last = blob.len() - 1;
    let middle = blob.len() - 20;
    for altered in [
        flip(&blob, last),
        flip(&blob, middle),
        blob[..last].to_vec(),
    ] {
        let altered = SealedSecret(format!("kms1:{}", BASE64.encode(altered)));
        let opened = sealer.unseal(&altered, ctx).await;
        assert!(matches!(opened, Err(SealError::Refused)), "{opened:?}");
    }
}

#[tokio::test]
async fn other_formats_are_refused_without_asking_kms() {
    let (sealer, _) = sealer().await;
    let (account, user) = ids();
    let ctx = SealContext::totp(&account, &user);
    let sealed = sealer.seal(&TotpKey::from_bytes(KEY), ctx).await.unwrap();
    let bare = sealed.0.trim_start_matches("kms1:").to_owned();

    for bad in [bare.clone(), format!("kms2:{bare}"), "kms1:%%%".to_owned()] {
        let opened = sealer.unseal(&SealedSecret(bad), ctx).await;
        assert!(matches!(opened, Err(SealError::Refused)), "{opened:?}");
    }
}

#[tokio::test]
async fn a_plaintext_that_is_not_a_totp_key_is_refused() {
    let (sealer, key_id) = sealer().await;
    let (account, user) = ids();

    // Something sealed with the right key and context that is not 20 bytes long.
    let client = aws_sdk_kms::Client::new(&moto::sdk_config().await);
    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"short".to_vec()))
        .encryption_context("account_id", account.as_str())
        .encryption_context("user_id", user.as_str())
        .encryption_context("purpose", "totp")
        .send()
        .await
        .unwrap();
    let blob = encrypted.ciphertext_blob().unwrap().as_ref();
    let sealed = SealedSecret(format!("kms1:{}", BASE64.encode(blob)));

    let opened = sealer
        .unseal(&sealed, SealContext::totp(&account, &user))
        .await;
    assert!(matches!(opened, Err(SealError::Refused)), "{opened:?}");

    // The same call with 20 bytes opens: the refusal above is the length, not the framing.
    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(KEY.to_vec()))
        .encryption_context("account_id", account.as_str())
        .encryption_context("user_id", user.as_str())
        .encryption_context("purpose", "totp")
        .send()
        .await
        .unwrap();
    let blob = encrypted.ciphertext_blob().unwrap().as_ref();
    let sealed = SealedSecret(format!("kms1:{}", BASE64.encode(blob)));
    let opened = sealer
        .unseal(&sealed, SealContext::totp(&account, &user))
        .await
        .unwrap();
    assert_eq!(opened.expose(), &KEY);
}

#[tokio::test]
async fn a_missing_key_is_unavailable() {
    let config = moto::sdk_config().await;
    let sealer = KmsSealer::new(
        aws_sdk_kms::Client::new(&config),
        "alias/twostep-missing".to_owned(),
    );
    let (account, user) = ids();
    let sealed = sealer
        .seal(
            &TotpKey::from_bytes(KEY),
            SealContext::totp(&account, &user),
        )
        .await;
    match sealed {
        Err(SealError::Unavailable(detail)) => {
            assert!(detail.contains("NotFoundException"), "{detail}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn debug_shows_no_key_material() {
    let (sealer, key_id) = sealer().await;
    let (account, user) = ids();
    let ctx = SealContext::totp(&account, &user);
    let sealed = sealer.seal(&TotpKey::from_bytes(KEY), ctx).await.unwrap();
    let opened = sealer.unseal(&sealed, ctx).await.unwrap();

    let shown = format!("{sealer:?} {sealed:?} {opened:?}");
    assert!(shown.contains(&key_id), "{shown}");
    assert!(!shown.contains("12345678901234567890"), "{shown}");
    assert!(!shown.contains(&hex(&KEY)), "{shown}");
    assert!(
        !shown.contains(sealed.0.trim_start_matches("kms1:")),
        "{shown}"
    );
    assert!(!shown.contains("testing"), "credentials in Debug: {shown}");
}

#[tokio::test]
async fn logs_hold_neither_key_nor_ciphertext() {
    let (sealer, _) = sealer().await;
    let (account, user) = ids();
    let ctx = SealContext::totp(&account, &user);

    let mut capture = LogCapture::start();
    let sealed = sealer.seal(&TotpKey::from_bytes(KEY), ctx).await.unwrap();
    let opened = sealer.unseal(&sealed, ctx).await.unwrap();
    let other = UserId::from_raw("usr-kms-3");
    let refused = sealer
        .unseal(&sealed, SealContext::totp(&account, &other))
        .await;
    capture.stop();
    assert_eq!(opened.expose(), &KEY);
    assert!(matches!(refused, Err(SealError::Refused)), "{refused:?}");

    let logs = capture.text();
    assert!(logs.contains("KMS refused a sealed secret"), "{logs}");
    // The key, however it might be printed.
    capture.assert_absent([
        String::from_utf8(KEY.to_vec()).unwrap(),
        hex(&KEY),
        BASE64.encode(KEY),
    ]);

    // The SDK's own TRACE output prints request and response bodies, ciphertext included
    // (the plaintext it redacts); nothing else may.
    let blob = BASE64.decode(sealed.0.trim_start_matches("kms1:")).unwrap();
    let ciphertexts = [hex(&blob), BASE64.encode(&blob)];
    for line in logs.lines() {
        if ciphertexts.iter().any(|c| line.contains(c.as_str())) {
            assert!(
                line.contains(" TRACE ") && line.contains(" aws_smithy_runtime::"),
                "the ciphertext in a log line of ours: {line}"
            );
        }
    }
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x01;
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
