//! The durable store: calls, their events, CDRs, the push outbox and the delivery journal, in an
//! embedded SQLite database (`<data-dir>/dialtone.db`, WAL mode), or in memory for `--ephemeral`.
//!
//! [`Store`] is a cheap-clone handle to one writer thread that owns the only connection (the actor
//! shape of STYLE §3: it owns I/O). The engine calls [`Store::write`] under its own lock, in
//! the order things happen; that only queues the [`Write`] and never blocks. The writer drains
//! everything queued and applies it in one transaction per drain, so a burst of calls costs a
//! handful of commits, not one each. Each write is atomic on its own: a write that fails (logged,
//! counted in [`StoreStats::failed_writes`]) leaves no trace and does not take its batch with it.
//!
//! **What a crash can lose.** Writes are applied in order, so the database is always a prefix of
//! the write stream. A `kill -9` loses what was not yet committed: the batch being applied and
//! whatever is queued behind it (the writer's backlog; at 1000 calls/s, about a millisecond of
//! traffic, see `benches/store.rs`). A power loss can also lose the last commits before a WAL
//! checkpoint (`synchronous=NORMAL`). To make a write survive `kill -9` before acting on it, wait
//! for its commit: [`Store::write_sync`] (blocking) or [`Store::write_acked`]`.await` (async).
//! That is how `CallAccepted` is written before answering `0`; concurrent waiters share one
//! commit.
//!
//! The queue is unbounded: if the disk cannot keep up, memory grows rather than the engine
//! slowing down ([`StoreStats`] shows the writer's progress).
//!
//! **Reads** ([`Store::recover`], [`Store::calls`], [`Store::reconciliation`], the journal's
//! `query`) see every write queued before them, in memory and on disk alike: a read waits for
//! the commit of what was queued before it, then runs on a connection of its own, so a long one
//! (a report over every stored call) never holds up the writes queued behind it; a private
//! `:memory:` database has no second connection, so there reads run on the writer's thread, in
//! order with the writes. Reads block the caller for the query; they are for inspection and
//! start-up, not the hot path.
//!
//! **Memory.** Each connection's page cache is bounded ([`PAGE_CACHE_KIB`]) and so is its
//! statement cache; the WAL is checkpointed every ~64 MiB. What the store holds does not grow
//! with the database, only with the writer's backlog.
//!
//! The schema and how to query it with `sqlite3` are in [`schema`].

mod attempts;
mod cdr;
mod lock;
mod pack;
mod read;
mod retention;
pub mod schema;
mod timeline;
mod write;
mod writer;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use tokio::sync::oneshot;

pub use attempts::SqliteJournal;
pub use lock::LOCK_FILE;
pub use read::{
    AppReconciliation, CallQuery, InFlightCall, OwedDelivery, Recovered, StoredCall, StoredEnd,
    StoredEvent,
};
pub use retention::Retain;
pub use write::{FeeState, Write};
use writer::{Ack, Counters, Msg, Writer};

/// The database file inside the data directory.
pub const DB_FILE: &str = "dialtone.db";

/// Each connection's page cache, at most (SQLite's own default, said here so that it stays a
/// bound): the database grows with every call, the cache does not.
pub const PAGE_CACHE_KIB: u32 = 2048;

/// What can go wrong opening, writing or reading the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another Dialtone (or another store in this process) holds the data directory.
    #[error(
        "the data directory {dir} is in use by another Dialtone ({holder}); stop it or use \
         another --data-dir"
    )]
    InUse { dir: PathBuf, holder: String },
    #[error("cannot lock the data directory with {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the database has schema version {found}, newer than this Dialtone supports \
         ({supported}); upgrade Dialtone or use another --data-dir"
    )]
    NewerSchema { found: u32, supported: u32 },
    #[error("migrating the database to schema version {version} failed: {source}")]
    Migration {
        version: u32,
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The batch holding the awaited write could not be committed; its writes are lost.
    #[error("committing a batch of writes failed: {0}")]
    Commit(String),
    /// The awaited write itself was refused (e.g. a duplicate session id).
    #[error("the write was refused: {0}")]
    WriteFailed(String),
    #[error("unknown session {0}")]
    UnknownSession(String),
    #[error("stored {column} is unreadable: {reason}")]
    Corrupt {
        column: &'static str,
        reason: String,
    },
    #[error("{field} must be yyyy-MM-dd HH:mm:ss (UTC), got {value:?}")]
    InvalidTime { field: &'static str, value: String },
    /// The writer thread has stopped (it panicked, or the store is being dropped).
    #[error("the store's writer has stopped")]
    Closed,
}

/// Counters since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Transactions committed (one per drain of the queue).
    pub commits: u64,
    /// Writes applied.
    pub writes: u64,
    /// Writes refused and rolled back (each one logged).
    pub failed_writes: u64,
}

/// The handle to the store. Clone freely; the writer stops, after committing what was queued,
/// when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    writer: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
    path: Option<PathBuf>,
    /// The data directory's lock, held for the store's life: released with the fields, after
    /// `Drop for Inner` has closed the database.
    lock: Option<lock::DirLock>,
    /// Reads of a database file run here rather than on the writer's thread: a report that
    /// scans every stored call took seconds on a large database, and the writes queued behind
    /// it (at 500 calls/s, thousands, each holding a request, a push body or an HTTP answer
    /// waiting for its commit) grew memory with the database. `None` in memory.
    reader: Mutex<Option<Connection>>,
}

impl Store {
    /// Locks `dir` for this store's life ([`LOCK_FILE`]), then opens (or creates)
    /// `<dir>/dialtone.db`, creating `dir` as needed, in WAL mode with `synchronous=NORMAL`, and
    /// migrates it to [`schema::SCHEMA_VERSION`].
    ///
    /// Fails with [`StoreError::InUse`], naming the holder, if another store has `dir`; or if the
    /// directory or file cannot be created, the file is not a SQLite database, or its schema is
    /// newer than this build's ([`StoreError::NewerSchema`]).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let lock = lock::DirLock::acquire(dir)?;
        let path = dir.join(DB_FILE);
        let opened = || -> rusqlite::Result<Connection> {
            let conn = Connection::open(&path)?;
            // WAL: readers (sqlite3 included) never block the writer; NORMAL: commits do not
            // fsync, checkpoints do, which is what makes per-commit cost small.
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(%mode, "the database refused WAL mode");
            }
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            // Checkpoints (the only fsyncs) stall the writer, and every request waiting for its
            // commit with it: by default one comes every ~65 calls at 1 000 calls/s. Let the
            // WAL grow to ~64 MiB between them; SQLite still checkpoints when the store closes.
            conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
            // A read holding its snapshot while a checkpoint runs lets the WAL file grow past
            // that (to 145-218 MiB in the soak); once a checkpoint restarts it, it is cut back.
            conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
            Ok(conn)
        };
        let conn = opened().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        let store = Store::start(conn, Some(path.clone()), Some(lock))?;
        // Opened once the writer has migrated the schema; read-only, so it can never write
        // behind the writer's back.
        let reader = || -> rusqlite::Result<Connection> {
            let conn = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            configure(&conn)?;
            Ok(conn)
        };
        let reader = reader().map_err(|source| StoreError::Open { path, source })?;
        *store.lock_reader() = Some(reader);
        Ok(store)
    }

    /// A store in memory, for `--ephemeral` and tests: the same code path on a `:memory:`
    /// database, gone when the store is dropped.
    pub fn in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        Store::start(conn, None, None)
    }

    fn start(
        mut conn: Connection,
        path: Option<PathBuf>,
        lock: Option<lock::DirLock>,
    ) -> Result<Store, StoreError> {
        configure(&conn)?;
        let was = schema::migrate(&mut conn)?;
        if was != schema::SCHEMA_VERSION {
            tracing::info!(
                from = was,
                to = schema::SCHEMA_VERSION,
                "store schema migrated"
            );
        }
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('written_by', ?1)",
            [concat!("dialtone ", env!("CARGO_PKG_VERSION"))],
        )?;
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel();
        let writer = Writer::new(conn, counters.clone());
        let handle = std::thread::Builder::new()
            .name("dialtone-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Commit(format!("cannot start the writer thread: {e}")))?;
        Ok(Store {
            inner: Arc::new(Inner {
                tx,
                writer: Mutex::new(Some(handle)),
                counters,
                path,
                lock,
                reader: Mutex::new(None),
            }),
        })
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Names `addr` as where this store's server listens, in the lock file, so a second server
    /// on the same directory is told where the first one is. Nothing in memory.
    pub fn record_listen_addr(&self, addr: std::net::SocketAddr) {
        if let Some(lock) = &self.inner.lock {
            lock.record_listen_addr(addr);
        }
    }

    /// Queues `w`. Never blocks; committed with the next drain (see the module docs for what a
    /// crash can lose). Call it in the order things happen: the store applies writes in the
    /// order they were queued.
    pub fn write(&self, w: Write) {
        if self.send(Msg::Write(w)).is_err() {
            tracing::error!("the store's writer has stopped: a write is lost");
        }
    }

    /// Queues `w` and blocks until it is committed. Returns [`StoreError::WriteFailed`] if the
    /// write was refused, [`StoreError::Commit`] if its batch could not be committed. Do not call
    /// it on an async runtime's thread; there, use [`Store::write`] then [`Store::flushed`].
    pub fn write_sync(&self, w: Write) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::channel();
        self.send(Msg::WriteSync(w, Ack::Blocking(tx)))?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Queues `w` (never blocks) and resolves once its own batch is committed: `Ok` only if `w`
    /// is in the database. Unlike [`Store::flushed`], it cannot miss a failed commit that came
    /// between queueing `w` and asking.
    pub fn write_acked(
        &self,
        w: Write,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self.send(Msg::WriteSync(w, Ack::Async(tx)));
        async move {
            sent?;
            rx.await.map_err(|_| StoreError::Closed)?
        }
    }

    /// Blocks until everything written before the call is committed: for graceful shutdown
    /// and tests.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::channel();
        self.send(Msg::Flush(Ack::Blocking(tx)))?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Resolves once everything written before the call (not the first poll) is committed.
    /// Concurrent waiters share one commit. A batch that failed to commit before the flush
    /// reached the writer is not seen: to know that one write is in, use
    /// [`Store::write_acked`].
    pub fn flushed(&self) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self.send(Msg::Flush(Ack::Async(tx)));
        async move {
            sent?;
            rx.await.map_err(|_| StoreError::Closed)?
        }
    }

    /// Fault injection, for tests of what a full disk does: while `fail` holds, every commit
    /// fails (its batch is rolled back and reported as [`StoreError::Commit`] to whoever
    /// waits), exactly as SQLite's `SQLITE_FULL` would. Reads are unaffected.
    pub fn fail_commits(&self, fail: bool) {
        self.inner
            .counters
            .fail_commits
            .store(fail, Ordering::Relaxed);
    }

    /// Counters since open.
    pub fn stats(&self) -> StoreStats {
        let c = &self.inner.counters;
        StoreStats {
            commits: c.commits.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            failed_writes: c.failed_writes.load(Ordering::Relaxed),
        }
    }

    /// What a restarted engine must pick up: calls in flight, deliveries owed, CDRs not yet in
    /// the outbox, and the ids in use. Call it once at start-up, before accepting calls.
    pub fn recover(&self) -> Result<Recovered, StoreError> {
        self.read(read::recover)
    }

    /// One stored call, or `None`.
    pub fn call(&self, session_id: &str) -> Result<Option<StoredCall>, StoreError> {
        let session_id = session_id.to_owned();
        self.read(move |conn| read::call(conn, &session_id))
    }

    /// A call's stored timeline, in order (empty for an unknown call).
    pub fn call_events(&self, session_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let session_id = session_id.to_owned();
        self.read(move |conn| read::events(conn, &session_id))
    }

    /// Stored calls matching `q`, in acceptance order.
    pub fn calls(&self, q: &CallQuery) -> Result<Vec<StoredCall>, StoreError> {
        let q = q.clone();
        self.read(move |conn| read::calls(conn, &q))
    }

    /// Per-app counts of calls accepted in `[from, to)` (either bound optional, each
    /// `yyyy-MM-dd HH:mm:ss` UTC, else [`StoreError::InvalidTime`]), in app_key order.
    pub fn reconciliation(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<AppReconciliation>, StoreError> {
        let (from, to) = (from.map(str::to_owned), to.map(str::to_owned));
        self.read(move |conn| read::reconciliation(conn, from.as_deref(), to.as_deref()))
    }

    /// Runs `f` once every write queued before it is committed, and returns its result. Blocks
    /// the caller. On a file, `f` runs on the reader connection, while the writer goes on; in
    /// memory, on the writer's.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        if self.lock_reader().is_some() {
            match self.flush() {
                // A batch that could not be committed is not in the database: the read shows
                // what is, as it would on the writer's connection.
                Ok(()) | Err(StoreError::Commit(_)) => {}
                Err(e) => return Err(e),
            }
            if let Some(conn) = self.lock_reader().as_ref() {
                return f(conn);
            }
        }
        let (tx, rx) = mpsc::channel();
        self.send(Msg::Read(Box::new(move |conn| {
            let _ = tx.send(f(conn));
        })))?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    fn send(&self, msg: Msg) -> Result<(), StoreError> {
        self.inner.tx.send(msg).map_err(|_| StoreError::Closed)
    }

    /// The reader connection; one read at a time (a read that panicked left nothing half done
    /// in it: SQLite ends its statement when the statement is dropped).
    fn lock_reader(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        self.inner.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What every connection gets: how long to wait for a lock, bounded caches, and the packed
/// values' functions (reads unpack bodies in SQL).
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // Someone holding a lock with sqlite3 delays us rather than failing a batch.
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "cache_size", -i64::from(PAGE_CACHE_KIB))?;
    pack::register(conn)?;
    timeline::register(conn)
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The reader first, so that the writer's connection is the last one and checkpoints the
        // WAL as it closes.
        drop(
            self.reader
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        // Commit what is queued, then let the thread end, so a dropped store is a closed file.
        let _ = self.tx.send(Msg::Close);
        let handle = self
            .writer
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                tracing::error!("the store's writer thread panicked");
            }
        }
    }
}
