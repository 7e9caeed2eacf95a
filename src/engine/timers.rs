//! The engine's pending timers, earliest first: a binary heap rather than a sorted tree.
//!
//! Timers are nearly always armed later than every one pending (a call's next step, a retry),
//! which a heap takes in a comparison or two, where a B-tree compared every key of each node on
//! its rightmost path: while an advance fired ten thousand calls' playback deadlines, inserting
//! their next ones was a seventh of its time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::TimerKey;
use crate::clock::SimInstant;

/// One pending timer: when, what, and the order it was armed in (which only keeps timers
/// distinct; those due at one instant fire in the order of their keys).
pub(super) type Timer = (SimInstant, TimerKey, u64);

/// Pending timers, taken earliest first and, at one instant, in key order: the same order in
/// every run.
#[derive(Default)]
pub(super) struct Timers(BinaryHeap<Reverse<Timer>>);

impl Timers {
    /// The next timer due, if any.
    pub(super) fn first(&self) -> Option<&Timer> {
        self.0.peek().map(|Reverse(t)| t)
    }

    /// Takes the next timer due.
    pub(super) fn pop_first(&mut self) -> Option<Timer> {
        self.0.pop().map(|Reverse(t)| t)
    }

    pub(super) fn insert(&mut self, timer: Timer) {
        self.0.push(Reverse(timer));
    }

    /// Keeps only the timers `keep` says yes to.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Timer) -> bool) {
        self.0.retain(|Reverse(t)| keep(t));
    }
}
