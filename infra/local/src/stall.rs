//! A guard on a client connection's writes: a client that stops reading answers is dropped.

use std::future::Future as _;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A client connection whose writes fail with `TimedOut` once one has waited `limit` (in
/// service, [`WRITE_STALL_TIMEOUT`]) without the client taking any bytes. Hyper's timers only
/// cover reading a request's head, so without this a client that pipelines requests and never
/// reads the answers would keep its connection for as long as it likes.
pub struct StallGuard<S> {
    stream: S,
    limit: Duration,
    /// Runs while a write waits for room; any progress drops it.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> StallGuard<S> {
    /// Guards `stream`: a write that waits `limit` without progress fails.
    pub fn new(stream: S, limit: Duration) -> Self {
        StallGuard {
            stream,
            limit,
            stalled: None,
        }
    }

    /// Passes on a write's result; a pending write starts (or checks) the stall timer.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::StallGuard;

    const LIMIT: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn a_write_nobody_reads_fails_after_the_limit() {
        let (server, _client) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(server, LIMIT);
        let started = tokio::time::Instant::now();
        let write = tokio::time::timeout(LIMIT * 10, guarded.write_all(&[0; 1024]));
        let err = write.await.expect("the write never gave up").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= LIMIT, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_taking_bytes_is_not_cut_off() {
        let (server, mut client) = tokio::io::duplex(64);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0; 64];
            loop {
                tokio::time::sleep(LIMIT / 2).await;
                match client.read(&mut chunk).await.unwrap() {
                    0 => return got,
                    n => got.extend_from_slice(&chunk[..n]),
                }
            }
        });
        let mut guarded = StallGuard::new(server, LIMIT);
        // Eight times the buffer: the write waits for the reader about eight times, each wait
        // shorter than the limit, and takes about twice the limit in all.
        guarded.write_all(&[7; 512]).await.unwrap();
        guarded.shutdown().await.unwrap();
        drop(guarded);
        assert_eq!(reader.await.unwrap(), vec![7; 512]);
    }
}
