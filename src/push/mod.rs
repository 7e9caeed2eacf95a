//! Platform → app pushes ("webhooks"): payloads (§6, §7) and CDRs, signing (§8), the HTTP
//! transport, the dispatcher that runs attempts concurrently, and the retry schedules (resolved
//! from the config at load). Ordering, batching and the retry timers live in the engine's
//! delivery unit, which owns the timers.

pub mod dispatch;
pub mod faults;
pub mod journal;
pub mod payload;
pub mod retry;
mod reused;
pub mod sign;
pub mod transport;
