//! Lockout after repeated authentication failures (spec §3.3), on the simulated clock.
//!
//! Owns one failure counter per (source address, claimed app_key) pair, known key or not, and one
//! per source address counting the distinct keys it failed for. A pair that fails
//! `max_failures` times is locked: that address for that app_key. An address that fails for
//! `max_failures` distinct keys (or without naming any) is locked for every key. Nothing locks
//! an app_key for everyone: app_keys travel in every push and CDR, so anyone who saw one could
//! shut the app out (spec §3.3).
//!
//! It only counts and answers "locked?"; [`super::Auth`] decides which responses count (those for
//! which `ApiError::counts_as_auth_failure` holds) and where in each endpoint's check order the
//! questions are asked.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;

use crate::clock::SimInstant;
use crate::config::LockoutConfig;

/// Failure counters per (address, claimed app_key) and per address.
#[derive(Debug, Default)]
pub(super) struct Lockout {
    addrs: Counters<IpAddr>,
    pairs: Counters<(IpAddr, String)>,
}

impl Lockout {
    /// Until when `addr` is locked, if it is at `now`.
    pub(super) fn addr_locked(
        &self,
        cfg: &LockoutConfig,
        addr: IpAddr,
        now: SimInstant,
    ) -> Option<SimInstant> {
        self.addrs.locked(&addr, now).filter(|_| cfg.enabled)
    }

    /// Until when `app_key` is locked for requests from `addr`, if it is at `now`.
    pub(super) fn key_locked(
        &self,
        cfg: &LockoutConfig,
        addr: IpAddr,
        app_key: &str,
        now: SimInstant,
    ) -> Option<SimInstant> {
        self.pairs
            .locked(&(addr, app_key.to_owned()), now)
            .filter(|_| cfg.enabled)
    }

    /// Counts one authentication failure from `addr` claiming `app_key`. Returns whether it locked
    /// the address (for every key) and whether it locked the pair, for logging.
    pub(super) fn record_failure(
        &mut self,
        cfg: &LockoutConfig,
        addr: IpAddr,
        app_key: Option<&str>,
        now: SimInstant,
    ) -> (bool, bool) {
        if !cfg.enabled {
            return (false, false);
        }
        let Some(key) = app_key else {
            // A failure naming no app_key counts against the address itself.
            return (self.addrs.fail(cfg, &addr, now), false);
        };
        let pair = (addr, key.to_owned());
        // The address counts each key once per window: many keys, not many tries, lock it.
        let new_key = !self
            .pairs
            .failing(&pair, now, cfg.window_s.saturating_mul(1000));
        let pair_locked = self.pairs.fail(cfg, &pair, now);
        let addr_locked = new_key && self.addrs.fail(cfg, &addr, now);
        (addr_locked, pair_locked)
    }

    /// How many failures from `addr` claiming `app_key` (or naming none) are inside the window
    /// now and count towards its lock: for the hint of each failure.
    pub(super) fn failures(
        &self,
        cfg: &LockoutConfig,
        addr: IpAddr,
        app_key: Option<&str>,
        now: SimInstant,
    ) -> usize {
        let window_ms = cfg.window_s.saturating_mul(1000);
        let entry = match app_key {
            Some(key) => self.pairs.entries.get(&(addr, key.to_owned())),
            None => self.addrs.entries.get(&addr),
        };
        entry.map_or(0, |e| {
            e.failures
                .iter()
                .filter(|t| now.since(**t) <= window_ms)
                .count()
        })
    }

    /// A success resets the counters of its address and of its app_key (spec §3.3).
    pub(super) fn record_success(&mut self, addr: IpAddr, app_key: Option<&str>) {
        // Nothing counted is the usual case: then there is no key to hash, nor to copy.
        if !self.addrs.entries.is_empty() {
            self.addrs.entries.remove(&addr);
        }
        if let Some(k) = app_key.filter(|_| !self.pairs.entries.is_empty()) {
            self.pairs.entries.remove(&(addr, k.to_owned()));
        }
    }
}

/// Below this many entries the map is never pruned.
const PRUNE_FLOOR: usize = 1024;

#[derive(Debug)]
struct Counters<K> {
    entries: HashMap<K, Entry>,
    /// Prune when the map reaches this size, then set it to twice what survived: claimed app_keys
    /// need not exist, so without pruning a client could grow the map without bound.
    prune_at: usize,
}

impl<K> Default for Counters<K> {
    fn default() -> Self {
        Counters {
            entries: HashMap::new(),
            prune_at: PRUNE_FLOOR,
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    /// Times of the consecutive failures still inside the window, oldest first.
    failures: VecDeque<SimInstant>,
    locked_until: Option<SimInstant>,
}

impl<K: Hash + Eq> Counters<K> {
    fn locked<Q>(&self, key: &Q, now: SimInstant) -> Option<SimInstant>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .get(key)
            .and_then(|e| e.locked_until)
            .filter(|until| now < *until)
    }

    /// Whether `key` has a failure still inside the window (or is locked).
    fn failing(&self, key: &K, now: SimInstant, window_ms: u64) -> bool {
        self.entries.get(key).is_some_and(|e| {
            e.locked_until.is_some_and(|until| now < until)
                || e.failures
                    .back()
                    .is_some_and(|t| now.since(*t) <= window_ms)
        })
    }

    /// Counts a failure; returns true if it locked the key.
    fn fail<Q>(&mut self, cfg: &LockoutConfig, key: &Q, now: SimInstant) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let window_ms = cfg.window_s.saturating_mul(1000);
        if !self.entries.contains_key(key) {
            self.prune(now, window_ms);
            self.entries.insert(key.to_owned(), Entry::default());
        }
        let Some(entry) = self.entries.get_mut(key) else {
            return false;
        };
        match entry.locked_until {
            // Spec §3.3: refusals while locked are neither counted nor extend the lock. (Header
            // faults can still reach here for a locked app_key: they precede check 8.)
            Some(until) if now < until => return false,
            // The lock has ended: the counter starts again from zero.
            Some(_) => *entry = Entry::default(),
            None => {}
        }
        // "Consecutive failures within window_s": forget the ones that have left the window.
        while entry
            .failures
            .front()
            .is_some_and(|t| now.since(*t) > window_ms)
        {
            entry.failures.pop_front();
        }
        entry.failures.push_back(now);
        // Dialtone decision: max_failures = 0 behaves as 1.
        if entry.failures.len() >= cfg.max_failures.max(1) as usize {
            entry.failures.clear();
            entry.locked_until = Some(now.plus_s(cfg.lock_s));
            return true;
        }
        false
    }

    /// Drops entries that are neither locked nor hold a failure still inside the window.
    fn prune(&mut self, now: SimInstant, window_ms: u64) {
        if self.entries.len() < self.prune_at {
            return;
        }
        self.entries.retain(|_, e| {
            e.locked_until.is_some_and(|until| now < until)
                || e.failures
                    .back()
                    .is_some_and(|t| now.since(*t) <= window_ms)
        });
        self.prune_at = (self.entries.len() * 2).max(PRUNE_FLOOR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::{peer, Sim, APP_KEY, APP_SECRET};
    use crate::error::{ApiError, HeaderFault};

    fn cfg() -> LockoutConfig {
        LockoutConfig::default()
    }

    #[test]
    fn five_failures_within_the_window_lock_for_lock_s() {
        let mut l = Lockout::default();
        let t = SimInstant(1_000);
        for i in 0..4 {
            assert_eq!(
                l.record_failure(&cfg(), peer(1), Some("k"), t.plus_s(i)),
                (false, false)
            );
        }
        assert_eq!(
            l.record_failure(&cfg(), peer(1), Some("k"), t.plus_s(4)),
            (false, true),
            "that address for that key, not the address for every key"
        );
        assert!(l.addr_locked(&cfg(), peer(1), t.plus_s(4 + 1799)).is_none());
        assert!(l
            .key_locked(&cfg(), peer(1), "k", t.plus_s(4 + 1799))
            .is_some());
        assert!(l
            .key_locked(&cfg(), peer(2), "k", t.plus_s(4 + 1799))
            .is_none());
        assert!(l
            .key_locked(&cfg(), peer(1), "k", t.plus_s(4 + 1800))
            .is_none());
    }

    #[test]
    fn failures_that_leave_the_window_stop_counting() {
        let mut l = Lockout::default();
        for s in [0, 100, 200, 300] {
            l.record_failure(&cfg(), peer(1), None, SimInstant(0).plus_s(s));
        }
        // 601 s after the first failure only three of them are still within 600 s.
        assert_eq!(
            l.record_failure(&cfg(), peer(1), None, SimInstant(0).plus_s(601)),
            (false, false)
        );
        assert_eq!(
            l.record_failure(&cfg(), peer(1), None, SimInstant(0).plus_s(602)),
            (true, false)
        );
    }

    #[test]
    fn the_maps_are_pruned_so_invented_app_keys_cannot_grow_them_forever() {
        let mut l = Lockout::default();
        for i in 0..5000 {
            let now = SimInstant(0).plus_s(i * 10);
            l.record_failure(&cfg(), peer(1), Some(&format!("invented{i}")), now);
        }
        assert!(
            l.pairs.entries.len() <= 2 * PRUNE_FLOOR,
            "{}",
            l.pairs.entries.len()
        );
    }

    #[test]
    fn disabled_lockout_never_locks() {
        let cfg = LockoutConfig {
            enabled: false,
            ..cfg()
        };
        let mut l = Lockout::default();
        for _ in 0..10 {
            l.record_failure(&cfg, peer(1), Some("k"), SimInstant(5));
        }
        assert!(l.addr_locked(&cfg, peer(1), SimInstant(5)).is_none());
        assert!(l.key_locked(&cfg, peer(1), "k", SimInstant(5)).is_none());
    }

    #[test]
    fn five_forged_requests_lock_their_address_for_the_key_not_the_app_for_everyone() {
        let sim = Sim::new();
        for i in 0..5 {
            let r = sim.aksk_from(peer(1), APP_KEY, "wrong", &format!("bad{i}"));
            assert_eq!(r, Err(ApiError::InvalidDigest));
        }
        // Check 8: that address is locked for the key, however good the digest.
        let r = sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "good1");
        assert_eq!(r, Err(ApiError::LockedOut));
        assert_eq!(r.unwrap_err().resultcode(), "1020176");
        // Header faults still come first (checks 1–7 precede check 8).
        assert_eq!(
            sim.authenticate(peer(1), &Default::default(), None),
            Err(ApiError::Header(HeaderFault::AuthorizationMissing))
        );
        // The app's real server, elsewhere, keeps working.
        assert_eq!(
            sim.aksk_from(peer(2), APP_KEY, APP_SECRET, "good2"),
            Ok(APP_KEY.into())
        );
    }

    #[test]
    fn five_failures_from_one_address_lock_it_even_for_unknown_keys() {
        let sim = Sim::new();
        for i in 0..5 {
            let r = sim.aksk_from(peer(1), &format!("nosuchkey{i}"), "x", "n1");
            assert_eq!(r, Err(ApiError::InvalidAppKey));
        }
        // Check 0 precedes everything, even a missing Authorization header.
        assert_eq!(
            sim.authenticate(peer(1), &Default::default(), None),
            Err(ApiError::LockedOut)
        );
        assert_eq!(
            sim.aksk_from(peer(2), APP_KEY, APP_SECRET, "ok2"),
            Ok(APP_KEY.into())
        );
    }

    #[test]
    fn the_lock_ends_after_lock_s_and_locked_refusals_do_not_extend_it() {
        let sim = Sim::new();
        for i in 0..5 {
            let _ = sim.aksk_from(peer(1), APP_KEY, "wrong", &format!("bad{i}"));
        }
        for i in 0..10 {
            sim.advance_s(170);
            let r = sim.aksk_from(peer(1), APP_KEY, "wrong", &format!("again{i}"));
            assert_eq!(r, Err(ApiError::LockedOut), "at {} s", (i + 1) * 170);
        }
        sim.advance_s(100); // 1800 s after the lock
        assert_eq!(
            sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "ok"),
            Ok(APP_KEY.into())
        );
    }

    #[test]
    fn after_the_lock_the_counter_starts_from_zero() {
        let sim = Sim::new();
        for i in 0..5 {
            let _ = sim.aksk_from(peer(1), APP_KEY, "wrong", &format!("bad{i}"));
        }
        sim.advance_s(1800);
        for i in 0..4 {
            let _ = sim.aksk_from(peer(1), APP_KEY, "wrong", &format!("after{i}"));
        }
        assert_eq!(
            sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "ok"),
            Ok(APP_KEY.into())
        );
    }

    #[test]
    fn a_success_resets_the_counters_of_its_key_and_address() {
        let sim = Sim::new();
        for round in 0..3 {
            for i in 0..4 {
                let _ = sim.aksk_from(peer(1), APP_KEY, "wrong", &format!("bad{round}x{i}"));
            }
            let ok = sim.aksk_from(peer(1), APP_KEY, APP_SECRET, &format!("ok{round}"));
            assert_eq!(ok, Ok(APP_KEY.into()), "round {round}");
        }
    }

    #[test]
    fn lockout_can_be_switched_off() {
        let sim = Sim::with(|c| c.auth.lockout.enabled = false);
        for i in 0..20 {
            let _ = sim.aksk_from(peer(1), APP_KEY, "wrong", &format!("bad{i}"));
        }
        assert_eq!(
            sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "ok"),
            Ok(APP_KEY.into())
        );
    }

    #[test]
    fn wrong_legacy_passwords_lock_the_login_too() {
        let sim = Sim::new();
        let query = "app_key=k3VdT9wQx2LpR7mN4sB8cY1fHj6Z&username=dialtone_dev01";
        for _ in 0..5 {
            assert_eq!(
                sim.fastlogin(query, Some("guess")),
                Err(ApiError::InvalidDigest)
            );
        }
        assert_eq!(
            sim.fastlogin(query, Some("Dev#Pass2026")),
            Err(ApiError::LockedOut)
        );
        // Business calls from another address are not affected.
        let r = sim.aksk_from(peer(7), APP_KEY, APP_SECRET, "ok");
        assert_eq!(r, Ok(APP_KEY.into()));
    }

    #[test]
    fn invalid_requests_and_flow_control_do_not_count() {
        let sim = Sim::new();
        sim.login().unwrap();
        for _ in 0..6 {
            assert_eq!(
                sim.fastlogin("username=x", Some("p")),
                Err(ApiError::invalid("app_key"))
            );
        }
        for _ in 0..6 {
            assert_eq!(sim.login(), Err(ApiError::FlowControl));
        }
        assert_eq!(
            sim.aksk_from(peer(1), APP_KEY, APP_SECRET, "ok"),
            Ok(APP_KEY.into())
        );
    }
}
