//! Which of a receiver's connections have answered before: the one fact the push client's pool
//! keeps to itself that a resend needs (see [`super::transport`], "Push resends" in
//! docs/decisions.md).
//!
//! A receiver can close a kept-alive connection just after answering on it (hyper does when a
//! handler answered without reading the body; Node closes idle ones after 5 s). A push that
//! picks that connection from the pool an instant later is written into a socket already
//! closed, and comes back with a clean close and no answer, exactly as if the receiver had read
//! it and crashed. Only a connection that answered before can be in that race.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};

/// A connection to a receiver, with the count of answers it carried. Reads and writes pass
/// straight through.
#[derive(Debug)]
pub(super) struct Counted<T> {
    io: T,
    answers: Answers,
}

impl<T> Counted<T> {
    pub(super) fn new(io: T) -> Counted<T> {
        Counted {
            io,
            answers: Answers::default(),
        }
    }
}

/// The count shared by a connection and every answer (and every failed send) on it: hyper-util
/// hands it back in the response's extensions and in the error's connection info.
#[derive(Debug, Clone, Default)]
pub(super) struct Answers(Arc<AtomicU32>);

impl Answers {
    /// Counts an answer that arrived on this connection.
    pub(super) fn answered(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether this connection carried an answer before.
    pub(super) fn answered_before(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }

    /// The count of the connection a response came on, if it was counted.
    pub(super) fn of(extensions: &axum::http::Extensions) -> Option<&Answers> {
        extensions.get::<Answers>()
    }

    /// The count of the connection a send failed on; `None` for a send that never had one (a
    /// failed connect, say).
    pub(super) fn of_failed(e: &hyper_util::client::legacy::Error) -> Option<Answers> {
        let mut extensions = axum::http::Extensions::new();
        e.connect_info()?.get_extras(&mut extensions);
        extensions.remove::<Answers>()
    }
}

impl<T: Connection> Connection for Counted<T> {
    fn connected(&self) -> Connected {
        self.io.connected().extra(self.answers.clone())
    }
}

impl<T: Read + Unpin> Read for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
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
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}
