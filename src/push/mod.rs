//! Platform → app pushes ("webhooks"): payloads (§6, §7), signing (§8) and the HTTP transport.
//! Ordering, batching and retry policy live in the engine, which owns the timers.

pub mod faults;
pub mod payload;
pub mod sign;
pub mod transport;
