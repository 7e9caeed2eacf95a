//! The data directory's lock: one Dialtone per directory. A second server on the same database
//! would "recover" the first one's live calls as crashed and push a second, different
//! `disconnect` under the same idempotency key.
//!
//! `<data-dir>/dialtone.lock` is held with an OS advisory lock (`File::try_lock`: `flock` on
//! Unix, `LockFileEx` on Windows) for as long as the [`super::Store`] lives; the OS releases it
//! when the process dies, even by `kill -9`, so a stale file never blocks a restart. The file's
//! text names the holder (pid, then the listen address once bound) for the refusal message;
//! only the lock itself means anything.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::StoreError;

/// The lock file inside the data directory.
pub const LOCK_FILE: &str = "dialtone.lock";

/// The held lock; released when dropped (the file stays, harmlessly).
pub(super) struct DirLock {
    file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock on `dir`, recording this process's pid. Fails with
    /// [`StoreError::InUse`] naming the holder if another process (or another store in this
    /// one) has it.
    pub(super) fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| StoreError::Lock {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(StoreError::InUse {
                    dir: dir.to_owned(),
                    holder: Holder::parse(&text).to_string(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        let lock = DirLock {
            file,
            path: path.clone(),
        };
        lock.record(None).map_err(io)?;
        Ok(lock)
    }

    /// Adds the address the server listens on to the holder's description.
    pub(super) fn record_listen_addr(&self, addr: SocketAddr) {
        if let Err(e) = self.record(Some(addr)) {
            tracing::warn!(error = %e, path = %self.path.display(), "cannot update the lock file");
        }
    }

    fn record(&self, listen: Option<SocketAddr>) -> std::io::Result<()> {
        let mut text = format!("pid={}\n", std::process::id());
        if let Some(addr) = listen {
            text.push_str(&format!("listen={addr}\n"));
        }
        let mut file = &self.file;
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(text.as_bytes())
    }
}

/// Who holds the lock, as far as its file says.
struct Holder {
    pid: Option<String>,
    listen: Option<String>,
}

impl Holder {
    fn parse(text: &str) -> Holder {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .map(|v| v.trim().to_owned())
        };
        Holder {
            pid: field("pid"),
            listen: field("listen"),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.pid, &self.listen) {
            (Some(pid), Some(addr)) => write!(f, "pid {pid}, listening on {addr}"),
            (Some(pid), None) => write!(f, "pid {pid}"),
            _ => f.write_str("a process that did not say which"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_described_by_pid_and_address() {
        let h = Holder::parse("pid=42\nlisten=127.0.0.1:8080\n");
        assert_eq!(h.to_string(), "pid 42, listening on 127.0.0.1:8080");
        assert_eq!(Holder::parse("pid=42\n").to_string(), "pid 42");
    }
}
