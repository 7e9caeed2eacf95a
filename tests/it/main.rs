//! Integration tests: the real app on loopback, a real webhook receiver, a manual clock.

mod audio;
mod auth;
mod call_notify;
mod call_stop;
mod call_verify;
mod callees;
mod cli;
mod click_to_call;
mod connections;
mod durable;
mod faults;
mod golden;
mod helpers;
mod hints;
mod legacy_tokens;
mod logs;
mod outage;
mod pushes;
mod readme;
mod reports;
mod sim_api;
mod stream;
