//! The engine's lock, and the push results that wait for it.
//!
//! A push attempt's result changes the engine's state (journal, the call's next push, a retry),
//! so it needs the lock. The worker task that made the attempt must not block on it: on a
//! two-core machine, a worker asleep on the lock while an advance fires timers is a core left
//! idle, and it was a sixth of a delivery burst. So a result that finds the lock taken waits in
//! the [`Inbox`], and whoever holds the lock takes the inbox when it lets go ([`StateGuard`]'s
//! drop). Every result is taken: a result is left only when the lock is held, and every holder
//! looks at the inbox after letting go.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, TryLockError};

use super::delivery::AfterResults;
use super::{Engine, State};
use crate::push::transport::AttemptReport;

/// One attempt's result, as the dispatcher handed it back.
pub(super) struct Finished {
    /// The engine epoch the attempt was made in (a reset since makes it moot).
    pub(super) epoch: u64,
    pub(super) delivery_id: String,
    pub(super) report: AttemptReport,
}

/// Results waiting for the engine's lock, in the order they came.
#[derive(Default)]
pub(super) struct Inbox(Mutex<Vec<Finished>>);

impl Inbox {
    fn items(&self) -> MutexGuard<'_, Vec<Finished>> {
        // A plain list: a panic elsewhere leaves it usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, finished: Finished) {
        self.items().push(finished);
    }

    fn take(&self) -> Vec<Finished> {
        std::mem::take(&mut *self.items())
    }

    /// Hands back the (emptied) list [`Inbox::take`] gave, so its room serves the next results
    /// instead of growing a new list from nothing for every batch.
    fn give_back(&self, mut emptied: Vec<Finished>) {
        emptied.clear();
        let mut items = self.items();
        if items.capacity() < emptied.capacity() {
            emptied.append(&mut items);
            *items = emptied;
        }
    }

    fn is_empty(&self) -> bool {
        self.items().is_empty()
    }
}

/// The engine's state, locked. Letting go of it takes the results that came meanwhile.
pub(super) struct StateGuard<'a> {
    engine: &'a Engine,
    guard: Option<MutexGuard<'a, State>>,
    /// Event lines wait until the lock is let go (dropped after it, and after the inbox).
    _log: crate::logs::LogHold,
}

impl Deref for StateGuard<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        self.guard.as_deref().expect("held until dropped")
    }
}

impl DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_deref_mut().expect("held until dropped")
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        if std::thread::panicking() {
            // Unwinding: the next holder takes them.
            return;
        }
        // Checked after letting go (the inbox's own lock orders this with a worker's `put`):
        // a result left while we held the lock is seen here.
        if !self.engine.shared.inbox.is_empty() {
            self.engine.take_finished();
        }
    }
}

impl Engine {
    /// Locks the engine's state.
    pub(super) fn lock(&self) -> StateGuard<'_> {
        // The state is plain data updated in small steps; a panic elsewhere leaves it usable.
        let log = crate::logs::hold();
        let guard = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        StateGuard {
            engine: self,
            guard: Some(guard),
            _log: log,
        }
    }

    /// The dispatcher finished an attempt: handled now if the lock is free, else by its holder
    /// when it lets go. Never waits for the lock.
    pub(super) fn push_finished(&self, finished: Finished) {
        self.shared
            .runtime
            .get_or_init(tokio::runtime::Handle::current);
        self.shared.inbox.put(finished);
        self.take_finished();
    }

    /// Handles the results in the inbox, in order, unless the lock is taken (its holder then
    /// does, as it lets go).
    pub(super) fn take_finished(&self) {
        let _log = crate::logs::hold();
        loop {
            let mut st = match self.shared.state.try_lock() {
                Ok(st) => st,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            let mut results = self.shared.inbox.take();
            if results.is_empty() {
                return;
            }
            let mut after = AfterResults::default();
            for finished in results.drain(..) {
                self.finish_push(&mut st, finished, &mut after);
            }
            self.shared.inbox.give_back(results);
            // A plain guard: letting go of it does not come back here; the loop looks instead.
            drop(st);
            // Outside a runtime (a thread that only locked the engine), the pushes that follow
            // are handed to the runtime the results came from.
            let _entered = match tokio::runtime::Handle::try_current() {
                Ok(_) => None,
                Err(_) => self.shared.runtime.get().map(|h| h.enter()),
            };
            self.after_results(after);
        }
    }
}
