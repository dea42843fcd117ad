//! Connection handling over raw TCP against the real `twostep-local` binary: silent, idle and
//! slow clients are disconnected after the server's 10-second header timeout, hundreds of them
//! at once do not keep anyone else from being answered, and HTTP/2 is not spoken.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::json;

/// The server's header (and so idle) timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Earliest accepted close: a little under the timeout, for timer granularity.
const NOT_BEFORE: Duration = Duration::from_secs(9);

/// Latest accepted close: the timeout with room for a loaded machine.
const NOT_AFTER: Duration = Duration::from_secs(15);

/// How long a test waits for a close before calling the connection still open.
const GIVE_UP: Duration = Duration::from_secs(20);

/// A request that needs no account and no password hashing: answered 404 at once.
const SMALL_REQUEST: &[u8] = b"GET /v1/nope HTTP/1.1\r\nHost: twostep.test\r\n\r\n";

/// The HTTP/2 prior-knowledge preface (RFC 9113, section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An empty HTTP/2 SETTINGS frame: length 0, type 4, no flags, stream 0.
const H2_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://")).unwrap()
}

/// Reads until the server closes the connection or `deadline` passes; returns what arrived
/// and whether the connection was closed.
fn read_until_closed(conn: &mut TcpStream, deadline: Instant) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (got, false);
        }
        conn.set_read_timeout(Some(left)).unwrap();
        match conn.read(&mut chunk) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (got, false);
            }
            // A reset is a close too (the server may drop a connection with unread input).
            Err(_) => return (got, true),
        }
    }
}

/// Waits for the server to close `conn`; returns what arrived and how long after `since`.
/// Fails if it is still open [`GIVE_UP`] after `since`.
fn closed_after(conn: &mut TcpStream, since: Instant) -> (Vec<u8>, Duration) {
    let (got, closed) = read_until_closed(conn, since + GIVE_UP);
    assert!(
        closed,
        "still open after {GIVE_UP:?}; got {:?}",
        String::from_utf8_lossy(&got)
    );
    (got, since.elapsed())
}

/// Reads one whole answer (head and `content-length` body) without waiting for a close;
/// returns its status line and whether it asked to close the connection.
fn read_answer(conn: &mut TcpStream) -> (String, bool) {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(
            conn.read(&mut byte).unwrap(),
            1,
            "closed mid-answer: {raw:?}"
        );
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap().to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).unwrap();
    let status = head.lines().next().unwrap_or("").to_owned();
    (status, head.contains("connection: close"))
}

fn assert_timed_out(took: Duration, what: &str) {
    assert!(
        (NOT_BEFORE..=NOT_AFTER).contains(&took),
        "{what} closed after {took:?}, expected {NOT_BEFORE:?}..={NOT_AFTER:?}"
    );
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_timeout() {
    let s = Server::start();
    let mut conn = connect(&s);
    let opened = Instant::now();

    let (got, took) = closed_after(&mut conn, opened);
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    assert_timed_out(took, "a silent connection");
}

#[test]
fn headers_trickled_a_byte_at_a_time_are_cut_off_at_the_timeout() {
    let s = Server::start();
    let mut conn = connect(&s);
    let opened = Instant::now();

    // A request line and then a header that never ends, a byte every half second: each byte
    // is progress, but the headers as a whole are never finished.
    let mut writer = conn.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        let head = b"GET /v1/me HTTP/1.1\r\nHost: twostep.test\r\nX-Slow: ";
        let bytes = head.iter().chain(std::iter::repeat(&b'a'));
        for byte in bytes.take(80) {
            if writer.write_all(&[*byte]).is_err() {
                return; // the server hung up
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });

    let (got, took) = closed_after(&mut conn, opened);
    let text = String::from_utf8_lossy(&got);
    assert!(
        got.is_empty() || text.starts_with("HTTP/1.1 408"),
        "only a close or a 408 may answer unfinished headers: {text:?}"
    );
    assert_timed_out(took, "a trickling connection");
    trickle.join().unwrap();
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_the_timeout() {
    let s = Server::start();
    let mut conn = connect(&s);

    conn.write_all(SMALL_REQUEST).unwrap();
    let (status, closing) = read_answer(&mut conn);
    assert!(status.starts_with("http/1.1 404"), "{status}");
    assert!(!closing, "the first answer should keep the connection");

    // A second request inside the timeout is served on the same connection, and the idle
    // timer starts again from its answer rather than from the first one.
    std::thread::sleep(Duration::from_secs(6));
    conn.write_all(SMALL_REQUEST).unwrap();
    let (status, _) = read_answer(&mut conn);
    assert!(status.starts_with("http/1.1 404"), "{status}");
    let answered = Instant::now();

    let (got, took) = closed_after(&mut conn, answered);
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    assert_timed_out(took, "an idle kept-alive connection");
}

#[test]
fn hundreds_of_stalled_connections_neither_block_others_nor_stay_open() {
    let email = "busy@example.com";
    let s = Server::start();
    s.add_user(email, "correct horse battery staple");

    // Half say nothing, half start a request and stop.
    let opened = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..300)
        .map(|i| {
            let mut conn = connect(&s);
            if i % 2 == 1 {
                conn.write_all(b"POST /v1/sign-in HTTP/1.1\r\nHost: tw")
                    .unwrap();
            }
            conn
        })
        .collect();

    let asked = Instant::now();
    let wrong = s.post(
        "/v1/sign-in",
        &json!({ "email": email, "password": "not the password at all" }),
    );
    let took = asked.elapsed();
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert_eq!(wrong.code(), "invalid_credentials");
    assert!(took < NOT_BEFORE, "answered after {took:?}");

    // And every stalled connection is let go in time.
    for (i, conn) in stalled.iter_mut().enumerate() {
        let (_, closed) = read_until_closed(conn, opened + NOT_AFTER);
        assert!(
            closed,
            "stalled connection {i} still open after {NOT_AFTER:?}"
        );
    }
}

#[test]
fn an_http2_preface_gets_no_http2_answer() {
    let s = Server::start();
    let mut conn = connect(&s);
    let sent = Instant::now();

    conn.write_all(H2_PREFACE).unwrap();
    conn.write_all(H2_SETTINGS).unwrap();

    let (got, took) = closed_after(&mut conn, sent);
    let text = String::from_utf8_lossy(&got);
    // An HTTP/2 server would answer with a SETTINGS frame of its own, not an HTTP/1.1 error.
    assert!(
        got.is_empty() || text.starts_with("HTTP/1.1 4"),
        "answered as if HTTP/2 were spoken: {got:?}"
    );
    assert!(took < TIMEOUT, "closed only after {took:?}");
}
