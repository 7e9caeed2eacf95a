//! Which of a receiver's connections are being reused: the one fact the push client's pool
//! keeps to itself that a resend needs (see [`super::transport`], "Push resends" in
//! docs/decisions.md).
//!
//! A receiver can close a kept-alive connection just after answering on it (hyper does when a
//! handler answered without reading the body; Node closes idle ones after 5 s). A push that
//! picks that connection from the pool an instant later is written into a socket already
//! closed, and comes back with a clean close and no answer, exactly as if the receiver had read
//! it and crashed. Only a connection that answered before can be in that race.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};

/// The most one read of a [`Counted`] connection takes (hyper's read buffer starts at 8 KiB).
const READ_CHUNK: usize = 8 * 1024;

/// A connection to a receiver that knows whether a request was written on it after an answer
/// came: whether it is being reused. Writes pass straight through; reads go through a buffer of
/// its own, to see whether a byte came.
#[derive(Debug)]
pub(super) struct Counted<T> {
    io: T,
    history: History,
}

impl<T> Counted<T> {
    pub(super) fn new(io: T) -> Counted<T> {
        Counted {
            io,
            history: History::default(),
        }
    }
}

/// What a connection has seen, shared by the connection and every failed send on it (hyper-util
/// hands it back in the error's connection info). Kept by the connection's own reads and
/// writes, so it is up to date before the pool can hand the connection to the next push: a
/// count kept by whoever got the answer would be one step behind it.
#[derive(Debug, Clone, Default)]
pub(super) struct History(Arc<Marks>);

#[derive(Debug, Default)]
struct Marks {
    /// Bytes came in since the last write: an answer, or part of one.
    heard: AtomicBool,
    /// A request was written after an answer: the connection is being reused.
    reused: AtomicBool,
}

impl History {
    /// Whether a request was written on this connection after an answer came on it.
    pub(super) fn reused(&self) -> bool {
        self.0.reused.load(Ordering::Acquire)
    }

    /// The history of the connection a send failed on; `None` for a send that never had one (a
    /// failed connect, say).
    pub(super) fn of_failed(e: &hyper_util::client::legacy::Error) -> Option<History> {
        let mut extensions = axum::http::Extensions::new();
        e.connect_info()?.get_extras(&mut extensions);
        extensions.remove::<History>()
    }

    fn heard(&self) {
        self.0.heard.store(true, Ordering::Release);
    }

    fn writing(&self) {
        if self.0.heard.swap(false, Ordering::AcqRel) {
            self.0.reused.store(true, Ordering::Release);
        }
    }
}

impl<T: Connection> Connection for Counted<T> {
    fn connected(&self) -> Connected {
        self.io.connected().extra(self.history.clone())
    }
}

impl<T: Read + Unpin> Read for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // Read into room of our own to see whether any byte came, then hand the bytes on.
        let mut room = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let take = buf.remaining().min(READ_CHUNK);
        let mut ours = ReadBuf::uninit(&mut room[..take]);
        ready!(Pin::new(&mut self.io).poll_read(cx, ours.unfilled()))?;
        let got = ours.filled();
        if !got.is_empty() {
            self.history.heard();
        }
        buf.put_slice(got);
        Poll::Ready(Ok(()))
    }
}

impl<T: Write + Unpin> Write for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !buf.is_empty() {
            self.history.writing();
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.iter().any(|b| !b.is_empty()) {
            self.history.writing();
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}
