//! Outbox mailer: the embedded Mailer, which writes each message as an `.eml` file in a folder.
//!
//! One message is one RFC 5322 file: `From`, `To`, `Subject` (RFC 2047 encoded words when it is
//! not plain ASCII), `Date` from the injected clock, `Message-ID`, and a `multipart/alternative`
//! body with a `text/plain` and a `text/html` part, both UTF-8 with CRLF line endings. A part is
//! sent `8bit`, so a person (or a test) can read the code in the file as it is, unless one of its
//! lines is longer than the 998 octets RFC 5322 allows; then that part is sent in base64.
//!
//! File names sort by time and never repeat:
//! `20260102T030405.000000Z-verification_code-1a2b3c4d.eml` (UTC, the message kind, 32 random
//! bits from the injected randomness). The file is written and synced under a dot-prefixed
//! `.tmp` name in the same folder, then hard-linked to its final name, which fails rather than
//! overwrite a file that holds another message; a reader that lists `*.eml` never sees half a
//! file. Each message logs one `info` line with the file, the recipient and the kind, never the
//! bodies.
//!
//! Limitation: publishing needs a filesystem with hard links (every local Unix filesystem has
//! them); on one without, `send` answers [`MailError::Unavailable`].

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};

use crate::domain::ids::hex;
use crate::ports::{Clock, Mail, MailError, Mailer, Random};

/// Longest line RFC 5322 (section 2.1.1) allows, without its CRLF.
const MAX_LINE_OCTETS: usize = 998;

/// Input bytes per RFC 2047 encoded word: 52 base64 characters, so that a word stays under the
/// 75 characters RFC 2047 allows and the first line under the 78 RFC 5322 recommends.
const ENCODED_WORD_BYTES: usize = 39;

/// How many fresh names `send` tries before giving up on a folder full of collisions.
const NAME_ATTEMPTS: usize = 8;

/// Writes each message as an `.eml` file into a folder.
pub struct OutboxMailer {
    dir: PathBuf,
    from: String,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Random>,
}

impl std::fmt::Debug for OutboxMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMailer")
            .field("dir", &self.dir)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl OutboxMailer {
    /// A mailer that writes into `dir`, creating the folder if it is missing, with `from` as
    /// the `From` header (`no-reply@example.com` or `Twostep <no-reply@example.com>`). `clock`
    /// dates the messages and `rng` makes their names and ids.
    ///
    /// # Errors
    /// [`MailError::Unavailable`] when `from` is not a printable ASCII address or the folder
    /// cannot be created.
    pub fn new(
        dir: PathBuf,
        from: String,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
    ) -> Result<Self, MailError> {
        // A non-ASCII display name would need RFC 2047 encoding of its own; a control character
        // would let the value break out of its header.
        let printable = from.chars().all(|c| c.is_ascii() && !c.is_ascii_control());
        if !printable || !from.contains('@') {
            return Err(MailError::Unavailable(format!(
                "sender {from:?} must be a printable ASCII address such as no-reply@example.com"
            )));
        }

        fs::create_dir_all(&dir).map_err(|e| {
            MailError::Unavailable(format!(
                "cannot create outbox folder {}: {e}",
                dir.display()
            ))
        })?;
        Ok(Self {
            dir,
            from,
            clock,
            rng,
        })
    }

    /// The folder the messages are written into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The whole message as it goes into the file.
    fn render(&self, mail: &Mail, now: DateTime<Utc>) -> String {
        let boundary = format!("twostep-{}", hex(&random_bytes::<12>(&*self.rng)));
        let message_id = format!(
            "<{}.{}@{}>",
            now.format("%Y%m%d%H%M%S"),
            hex(&random_bytes::<8>(&*self.rng)),
            sender_domain(&self.from)
        );

        let mut out = String::new();
        push_header(&mut out, "From", &self.from);
        push_header(&mut out, "To", &one_line(mail.to.as_str()));
        push_header(&mut out, "Subject", &encode_subject(&mail.subject));
        push_header(&mut out, "Date", &now.to_rfc2822());
        push_header(&mut out, "Message-ID", &message_id);
        push_header(&mut out, "MIME-Version", "1.0");
        push_header(&mut out, "X-Twostep-Kind", mail.kind.as_str());
        push_header(
            &mut out,
            "Content-Type",
            &format!("multipart/alternative;\r\n boundary=\"{boundary}\""),
        );
        out.push_str("\r\n");

        push_part(&mut out, &boundary, "text/plain", &mail.text.0);
        push_part(&mut out, &boundary, "text/html", &mail.html.0);
        // Writing to a String cannot fail.
        let _ = write!(out, "--{boundary}--\r\n");
        out
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let now = self.clock.now();
        let message = self.render(mail, now);
        let stem = format!(
            "{}-{}",
            now.format("%Y%m%dT%H%M%S%.6fZ"),
            mail.kind.as_str()
        );

        let dir = self.dir.clone();
        let rng = Arc::clone(&self.rng);
        let path =
            tokio::task::spawn_blocking(move || publish(&dir, &stem, message.as_bytes(), &*rng))
                .await
                .map_err(|e| MailError::Unavailable(format!("outbox writer stopped: {e}")))?
                .map_err(MailError::Unavailable)?;

        let file = path
            .file_name()
            .map(|name| name.to_string_lossy())
            .unwrap_or_default();
        tracing::info!(
            file = %file,
            path = %path.display(),
            to = %mail.to,
            kind = mail.kind.as_str(),
            "mail written to outbox"
        );
        Ok(())
    }
}

/// Writes `message` into `dir` under a fresh name that starts with `stem`; returns its path.
fn publish(dir: &Path, stem: &str, message: &[u8], rng: &dyn Random) -> Result<PathBuf, String> {
    let tmp = dir.join(format!(".{stem}-{}.tmp", hex(&random_bytes::<8>(rng))));
    let written = write_synced(&tmp, message);
    let published = written.and_then(|()| link_fresh_name(&tmp, dir, stem, rng));

    // The final name, if any, is a second link to the same file; the temporary one goes either
    // way. Failing to remove it leaves a stray `.tmp` file, not a broken message.
    let _ = fs::remove_file(&tmp);
    published
}

/// Creates `path` (never an existing file), writes `bytes` and flushes them to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// Links `tmp` to `<stem>-<8 hex>.eml` in `dir`, drawing another name if that one is taken.
fn link_fresh_name(
    tmp: &Path,
    dir: &Path,
    stem: &str,
    rng: &dyn Random,
) -> Result<PathBuf, String> {
    for _ in 0..NAME_ATTEMPTS {
        let path = dir.join(format!("{stem}-{}.eml", hex(&random_bytes::<4>(rng))));
        match fs::hard_link(tmp, &path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot publish {}: {e}", path.display())),
        }
    }
    Err(format!(
        "no free file name for {stem} in {} after {NAME_ATTEMPTS} tries",
        dir.display()
    ))
}

/// `N` bytes from `rng`.
fn random_bytes<const N: usize>(rng: &dyn Random) -> [u8; N] {
    let mut bytes = [0u8; N];
    rng.fill(&mut bytes);
    bytes
}

/// Appends `name: value` and its CRLF.
fn push_header(out: &mut String, name: &str, value: &str) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{name}: {value}\r\n");
}

/// Appends the delimiter and one body part of `media_type` holding `body`.
fn push_part(out: &mut String, boundary: &str, media_type: &str, body: &str) {
    let body = crlf_lines(body);
    let fits = body.split("\r\n").all(|line| line.len() <= MAX_LINE_OCTETS);
    let encoding = if fits { "8bit" } else { "base64" };

    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "--{boundary}\r\nContent-Type: {media_type}; charset=utf-8\r\n\
         Content-Transfer-Encoding: {encoding}\r\n\r\n"
    );
    if fits {
        out.push_str(&body);
    } else {
        out.push_str(&base64_lines(body.as_bytes()));
    }
    out.push_str("\r\n");
}

/// `text` with every line ending (CRLF, LF or a lone CR) written as CRLF.
fn crlf_lines(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n")
}

/// Base64 of `bytes` in lines of 76 characters (RFC 2045 section 6.8), joined by CRLF.
fn base64_lines(bytes: &[u8]) -> String {
    bytes
        .chunks(57)
        .map(|chunk| BASE64.encode(chunk))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A header value on one line: line breaks and other control characters become spaces.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The `Subject` value: as it is when printable ASCII, else RFC 2047 `B` encoded words of
/// whole characters, one per folded line.
fn encode_subject(subject: &str) -> String {
    let subject = one_line(subject);
    if subject.is_ascii() {
        return subject;
    }

    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in subject.chars() {
        if chunk.len() + c.len_utf8() > ENCODED_WORD_BYTES {
            words.push(format!("=?utf-8?B?{}?=", BASE64.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?utf-8?B?{}?=", BASE64.encode(&chunk)));
    }
    words.join("\r\n ")
}

/// The domain of the sender's address, for the `Message-ID`.
fn sender_domain(from: &str) -> &str {
    let domain = from.rsplit_once('@').map_or("", |(_, domain)| domain);
    let domain = domain.trim_end_matches('>').trim();
    let valid = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if valid { domain } else { "twostep.invalid" }
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
    use crate::domain::email::Email;
    use crate::ports::{FixedClock, MailBody, MailKind, SeededRandom};
    use crate::testing::logs::LogCapture;
    use chrono::TimeZone as _;
    use tracing::instrument::WithSubscriber as _;

    const TEXT: &str = "Your verification code is 493817.\nIt expires in 10 minutes.";
    const HTML: &str = "<p>Your verification code is <b>493817</b>.</p>";

    fn mailer(dir: &Path) -> OutboxMailer {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        OutboxMailer::new(
            dir.join("outbox"),
            "Twostep <no-reply@twostep.example>".to_owned(),
            Arc::new(FixedClock::new(at)),
            Arc::new(SeededRandom::new(7)),
        )
        .unwrap()
    }

    fn mail(subject: &str) -> Mail {
        Mail {
            to: Email::from_normalised("agent@example.com"),
            subject: subject.to_owned(),
            text: MailBody(TEXT.to_owned()),
            html: MailBody(HTML.to_owned()),
            kind: MailKind::VerificationCode,
        }
    }

    fn eml_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        files
    }

    /// A message cut into its unfolded headers and its body.
    struct Parsed {
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Parsed {
        fn new(raw: &str) -> Self {
            let (head, body) = raw
                .split_once("\r\n\r\n")
                .expect("headers end with a blank line");
            let mut headers: Vec<(String, String)> = Vec::new();
            for line in head.split("\r\n") {
                if line.starts_with(' ') || line.starts_with('\t') {
                    headers
                        .last_mut()
                        .expect("a folded line follows a header")
                        .1
                        .push_str(line);
                } else {
                    let (name, value) = line.split_once(':').expect("a header has a colon");
                    headers.push((name.to_owned(), value.trim().to_owned()));
                }
            }
            Self {
                headers,
                body: body.to_owned(),
            }
        }

        fn header(&self, name: &str) -> &str {
            let found = self
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name));
            &found.unwrap_or_else(|| panic!("no {name} header")).1
        }

        /// The body parts of a multipart message, each parsed.
        fn parts(&self) -> Vec<Parsed> {
            let content_type = self.header("Content-Type");
            assert!(
                content_type.starts_with("multipart/alternative;"),
                "{content_type}"
            );
            let boundary = content_type.split("boundary=\"").nth(1).unwrap();
            let boundary = boundary.trim_end_matches('"');
            let (inner, epilogue) = self
                .body
                .split_once(&format!("\r\n--{boundary}--"))
                .unwrap();
            assert_eq!(epilogue, "\r\n");
            let inner = inner.strip_prefix(&format!("--{boundary}\r\n")).unwrap();
            inner
                .split(&format!("\r\n--{boundary}\r\n"))
                .map(Parsed::new)
                .collect()
        }
    }

    fn decode_words(value: &str) -> String {
        value
            .split_whitespace()
            .map(|word| {
                let b64 = word
                    .strip_prefix("=?utf-8?B?")
                    .unwrap()
                    .strip_suffix("?=")
                    .unwrap();
                String::from_utf8(BASE64.decode(b64).unwrap()).unwrap()
            })
            .collect()
    }

    #[tokio::test]
    async fn writes_a_parseable_message_with_both_parts() {
        let tmp = tempfile::tempdir().unwrap();
        let mailer = mailer(tmp.path());
        mailer
            .send(&mail("Your Twostep verification code"))
            .await
            .unwrap();

        let files = eml_files(mailer.dir());
        assert_eq!(
            files.len(),
            1,
            "only the message, no temporary file: {files:?}"
        );
        let name = files[0].file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("20260102T030405.000000Z-verification_code-"),
            "{name}"
        );
        assert!(name.ends_with(".eml"), "{name}");

        let raw = fs::read_to_string(&files[0]).unwrap();
        assert!(
            !raw.replace("\r\n", "").contains('\n'),
            "every line ends in CRLF"
        );
        let message = Parsed::new(&raw);
        assert_eq!(message.header("To"), "agent@example.com");
        assert_eq!(message.header("From"), "Twostep <no-reply@twostep.example>");
        assert_eq!(message.header("Subject"), "Your Twostep verification code");
        assert_eq!(message.header("Date"), "Fri, 2 Jan 2026 03:04:05 +0000");
        assert_eq!(message.header("MIME-Version"), "1.0");
        assert!(message.header("Message-ID").ends_with("@twostep.example>"));

        let parts = message.parts();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].header("Content-Type"), "text/plain; charset=utf-8");
        assert_eq!(parts[0].header("Content-Transfer-Encoding"), "8bit");
        assert_eq!(parts[0].body, TEXT.replace('\n', "\r\n"));
        assert_eq!(parts[1].header("Content-Type"), "text/html; charset=utf-8");
        assert_eq!(parts[1].body, HTML);
    }

    #[tokio::test]
    async fn two_sends_make_two_files() {
        let tmp = tempfile::tempdir().unwrap();
        let mailer = mailer(tmp.path());
        mailer.send(&mail("first")).await.unwrap();
        mailer.send(&mail("second")).await.unwrap();

        let files = eml_files(mailer.dir());
        assert_eq!(files.len(), 2, "{files:?}");
        assert_ne!(files[0], files[1]);
        let subjects: Vec<String> = files
            .iter()
            .map(|f| {
                Parsed::new(&fs::read_to_string(f).unwrap())
                    .header("Subject")
                    .to_owned()
            })
            .collect();
        assert!(subjects.contains(&"first".to_owned()) && subjects.contains(&"second".to_owned()));
    }

    #[tokio::test]
    async fn a_taken_name_is_never_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let first = mailer(tmp.path());
        first.send(&mail("first")).await.unwrap();

        // Same seed and same time: the second mailer draws the names the first one used.
        let second = mailer(tmp.path());
        second.send(&mail("second")).await.unwrap();

        assert_eq!(eml_files(first.dir()).len(), 2);
    }

    #[tokio::test]
    async fn a_non_ascii_subject_is_encoded() {
        let tmp = tempfile::tempdir().unwrap();
        let mailer = mailer(tmp.path());
        let subject = "Votre code de vérification Twostep — à utiliser dans les 10 minutes";
        mailer.send(&mail(subject)).await.unwrap();

        let raw = fs::read_to_string(&eml_files(mailer.dir())[0]).unwrap();
        let (head, _) = raw.split_once("\r\n\r\n").unwrap();
        assert!(head.is_ascii());
        assert!(head.split("\r\n").all(|line| line.len() <= 78), "{head}");
        let encoded = Parsed::new(&raw).header("Subject").to_owned();
        assert_eq!(decode_words(&encoded), subject);
    }

    #[tokio::test]
    async fn header_values_cannot_break_their_line() {
        let tmp = tempfile::tempdir().unwrap();
        let mailer = mailer(tmp.path());
        mailer
            .send(&mail("Hello\r\nBcc: someone@evil.example"))
            .await
            .unwrap();

        let raw = fs::read_to_string(&eml_files(mailer.dir())[0]).unwrap();
        let message = Parsed::new(&raw);
        assert!(message.headers.iter().all(|(name, _)| name != "Bcc"));
        assert_eq!(
            message.header("Subject"),
            "Hello  Bcc: someone@evil.example"
        );
    }

    #[tokio::test]
    async fn a_part_with_an_overlong_line_goes_in_base64() {
        let tmp = tempfile::tempdir().unwrap();
        let mailer = mailer(tmp.path());
        let mut long = mail("long");
        long.html = MailBody(format!("<p>{}</p>", "x".repeat(2000)));
        mailer.send(&long).await.unwrap();

        let raw = fs::read_to_string(&eml_files(mailer.dir())[0]).unwrap();
        assert!(raw.split("\r\n").all(|line| line.len() <= MAX_LINE_OCTETS));
        let parts = Parsed::new(&raw).parts();
        assert_eq!(parts[0].header("Content-Transfer-Encoding"), "8bit");
        assert_eq!(parts[1].header("Content-Transfer-Encoding"), "base64");
        let html = BASE64.decode(parts[1].body.replace("\r\n", "")).unwrap();
        assert_eq!(String::from_utf8(html).unwrap(), long.html.0);
    }

    #[test]
    fn refuses_a_sender_that_could_break_the_header() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::new(
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        ));
        for from in [
            "no-reply@x.example\r\nBcc: a@b.example",
            "Zoë <z@x.example>",
            "nobody",
        ] {
            let made = OutboxMailer::new(
                tmp.path().to_owned(),
                from.to_owned(),
                clock.clone(),
                Arc::new(SeededRandom::new(1)),
            );
            assert!(made.is_err(), "{from:?}");
        }
    }

    #[tokio::test]
    async fn logs_one_line_with_file_and_recipient_but_never_the_body() {
        let tmp = tempfile::tempdir().unwrap();
        let mailer = mailer(tmp.path());
        let capture = LogCapture::new();

        mailer
            .send(&mail("Your code"))
            .with_subscriber(capture.dispatch())
            .await
            .unwrap();

        let logs = capture.text();
        let file = eml_files(mailer.dir())[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(logs.lines().count(), 1, "{logs}");
        assert!(logs.contains(" INFO "), "{logs}");
        assert!(logs.contains("agent@example.com"), "{logs}");
        assert!(logs.contains(&file), "{logs}");
        assert!(logs.contains("kind=\"verification_code\""), "{logs}");
        assert!(
            !logs.contains("493817"),
            "the code leaked into the log: {logs}"
        );
        assert!(
            !logs.contains("verification code is"),
            "the body leaked into the log: {logs}"
        );
    }
}
