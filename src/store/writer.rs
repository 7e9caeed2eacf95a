//! The writer thread: owns the connection, drains the queue into one transaction per drain,
//! answers flushes after the commit and serves reads in order with the writes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::timeline;
use super::write::{self, Write};
use super::StoreError;

/// At most this many messages go into one transaction, so one commit never holds a flush for
/// long under sustained load.
const MAX_BATCH: usize = 8192;

#[derive(Default)]
pub(super) struct Counters {
    pub(super) commits: AtomicU64,
    pub(super) writes: AtomicU64,
    pub(super) failed_writes: AtomicU64,
    /// Fault injection ([`super::Store::fail_commits`]): every commit fails, as on a full disk.
    pub(super) fail_commits: AtomicBool,
}

pub(super) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

pub(super) enum Msg {
    Write(Write),
    /// A write whose commit (or failure) is reported to the ack.
    WriteSync(Write, Ack),
    /// Reported once everything before it is committed.
    Flush(Ack),
    /// Runs on the writer's connection after committing everything before it.
    Read(ReadJob),
    Close,
}

pub(super) enum Ack {
    Blocking(Sender<Result<(), StoreError>>),
    Async(oneshot::Sender<Result<(), StoreError>>),
}

impl Ack {
    fn send(self, result: Result<(), StoreError>) {
        // A waiter that gave up is no error.
        let _ = match self {
            Ack::Blocking(tx) => tx.send(result).map_err(|_| ()),
            Ack::Async(tx) => tx.send(result).map_err(|_| ()),
        };
    }
}

/// The writer thread's state: the connection, and whether a transaction is open.
pub(super) struct Writer {
    conn: Connection,
    counters: Arc<Counters>,
    open: bool,
    /// Acks to send after the open transaction commits, each with its own write's error.
    waiting: Vec<(Ack, Option<String>)>,
    details: write::Known,
    /// Timeline entries of the open transaction not written yet (schema v6): each call's are
    /// written with one update, before the commit or a write that deletes calls.
    timeline: timeline::Pending,
}

impl Writer {
    pub(super) fn new(conn: Connection, counters: Arc<Counters>) -> Writer {
        Writer {
            conn,
            counters,
            open: false,
            waiting: Vec::new(),
            details: write::Known::default(),
            timeline: timeline::Pending::default(),
        }
    }

    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        // Ends when every handle is gone (recv fails) or on Close.
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            let mut taken = 0;
            while let Some(msg) = next {
                if !self.handle(msg) {
                    self.commit();
                    return;
                }
                taken += 1;
                // Disconnected is handled by the outer recv once the queue is empty.
                next = if taken < MAX_BATCH {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            self.commit();
        }
    }

    /// Handles one message; `false` to stop.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Write(Write::CallEvent {
                session_id,
                idx,
                at_ms,
                time,
                event,
                detail,
            }) => {
                // Gathered by call (schema v6, `timeline`); its detail text gets its id now.
                let entry = self.in_tx("CallEvent", true, |conn, details| {
                    write::timeline_entry(conn, details, idx, at_ms, time, event, detail)
                });
                if let Ok(entry) = entry {
                    self.timeline.push(&session_id, entry);
                }
            }
            Msg::Write(w) => {
                let _ = self.apply(&w);
            }
            Msg::WriteSync(w, ack) => {
                let own = self.apply(&w).err();
                self.waiting.push((ack, own));
            }
            Msg::Flush(ack) => self.waiting.push((ack, None)),
            Msg::Read(job) => {
                self.commit();
                job(&self.conn);
            }
            Msg::Close => return false,
        }
        true
    }

    /// Applies one write inside the batch's transaction. A write that deletes calls, and a
    /// timeline entry written on its own (`write_sync`), first write the gathered entries.
    fn apply(&mut self, w: &Write) -> Result<(), String> {
        if matches!(w, Write::CallEvent { .. } | Write::Retain(_) | Write::Reset) {
            self.write_timeline();
        }
        self.in_tx(kind_of(w), w.is_one_statement(), |conn, details| {
            write::apply(conn, w, details)
        })?;
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes the gathered timeline entries, one update per call.
    fn write_timeline(&mut self) {
        if self.timeline.is_empty() {
            return;
        }
        for (session_id, entries) in self.timeline.take() {
            let written = self.in_tx("CallEvent", true, |conn, known| {
                let seq = known.call(&session_id).map(|c| c.seq);
                match timeline::write(conn, &session_id, seq, &entries)? {
                    true => Ok(()),
                    false => Err(StoreError::UnknownSession(session_id.clone())),
                }
            });
            // Counted as the writes they were (a refusal counted one already).
            let n = entries.len() as u64;
            match written {
                Ok(()) => self.counters.writes.fetch_add(n, Ordering::Relaxed),
                Err(_) => self
                    .counters
                    .failed_writes
                    .fetch_add(n - 1, Ordering::Relaxed),
            };
        }
    }

    /// Runs `f` inside the batch's transaction. Several statements run in a savepoint; one
    /// statement is already atomic (SQLite backs out a failed statement and keeps the
    /// transaction), and skipping the savepoint saves about a tenth of the writer's time.
    fn in_tx<T>(
        &mut self,
        kind: &'static str,
        one_statement: bool,
        f: impl FnOnce(&Connection, &mut write::Known) -> Result<T, StoreError>,
    ) -> Result<T, String> {
        if !self.open {
            self.conn
                .execute_batch("BEGIN")
                .map_err(|e| self.refused(kind, &e.into()))?;
            self.open = true;
        }
        let conn = &self.conn;
        let details = &mut self.details;
        let run = || -> Result<T, StoreError> {
            if one_statement {
                return f(conn, details);
            }
            conn.prepare_cached("SAVEPOINT w")?.execute([])?;
            match f(conn, details) {
                Ok(t) => {
                    conn.prepare_cached("RELEASE w")?.execute([])?;
                    Ok(t)
                }
                Err(e) => {
                    conn.prepare_cached("ROLLBACK TO w")?.execute([])?;
                    conn.prepare_cached("RELEASE w")?.execute([])?;
                    Err(e)
                }
            }
        };
        let result = run();
        if result.is_err() {
            // What it added may be rolled back with it.
            self.details.forget();
        }
        if result.is_err() && self.conn.is_autocommit() {
            // Some errors (disk full, I/O) make SQLite roll back the whole transaction: the
            // batch so far is gone (with the timeline entries gathered for it), and whoever
            // waits on it must hear so.
            self.open = false;
            self.timeline.take();
            tracing::error!("store transaction rolled back by SQLite: a batch of writes is lost");
            for (ack, _) in self.waiting.drain(..) {
                ack.send(Err(StoreError::Commit(
                    "the transaction was rolled back after an error".into(),
                )));
            }
        }
        result.map_err(|e| self.refused(kind, &e))
    }

    fn refused(&self, kind: &'static str, e: &StoreError) -> String {
        self.counters.failed_writes.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %e, write = kind, "store write refused");
        e.to_string()
    }

    /// Commits the open transaction, if any, then answers everyone waiting on it.
    fn commit(&mut self) {
        self.write_timeline();
        let result = if std::mem::take(&mut self.open) {
            let commit = match self.counters.fail_commits.load(Ordering::Relaxed) {
                true => Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                    Some("commit failure injected by Store::fail_commits".into()),
                )),
                false => self.conn.execute_batch("COMMIT"),
            };
            match commit {
                Ok(()) => {
                    self.counters.commits.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(e) => {
                    self.details.forget();
                    tracing::error!(error = %e, "store commit failed: a batch of writes is lost");
                    let _ = self.conn.execute_batch("ROLLBACK");
                    Err(e.to_string())
                }
            }
        } else {
            Ok(())
        };
        for (ack, own) in self.waiting.drain(..) {
            ack.send(match (&result, own) {
                (Err(e), _) => Err(StoreError::Commit(e.clone())),
                (Ok(()), Some(e)) => Err(StoreError::WriteFailed(e)),
                (Ok(()), None) => Ok(()),
            });
        }
    }
}

/// A write's name for logs (the write itself may hold a large body).
fn kind_of(w: &Write) -> &'static str {
    match w {
        Write::CallAccepted { .. } => "CallAccepted",
        Write::CallEvent { .. } => "CallEvent",
        Write::CallEnded { .. } => "CallEnded",
        Write::FeeState { .. } => "FeeState",
        Write::DeliveryQueued { .. } => "DeliveryQueued",
        Write::Attempt { .. } => "Attempt",
        Write::QueuedAttempt(_) => "QueuedAttempt",
        Write::DeliveryFinished { .. } => "DeliveryFinished",
        Write::Retain(_) => "Retain",
        Write::ClearJournal => "ClearJournal",
        Write::Reset => "Reset",
    }
}
