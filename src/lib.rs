//! Dialtone: a local simulator of a cloud voice-call platform.
pub mod call;
pub mod clock;
pub mod config;
pub mod error;
pub mod ids;
pub mod journal;
pub mod push;
