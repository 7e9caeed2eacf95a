//! Platform → app pushes ("webhooks"): payloads (§6, §7) and CDRs, signing (§8), the HTTP
//! transport and the dispatcher that runs attempts concurrently. Ordering, batching and retry
//! policy live in the engine's delivery unit, which owns the timers.

pub mod dispatch;
pub mod faults;
pub mod payload;
pub mod sign;
pub mod transport;
