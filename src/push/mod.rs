//! Platform → app pushes ("webhooks"): payloads (§6, §7), signing (§8), the HTTP transport and
//! the retry schedules (resolved from the config at load). Ordering, batching and the retry
//! timers live in the engine, which owns the timers.

pub mod faults;
pub mod payload;
pub mod retry;
pub mod sign;
pub mod transport;
