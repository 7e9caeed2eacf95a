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
mod console;
mod doc_links;
mod durable;
mod examples;
mod faults;
mod golden;
mod handset;
mod helpers;
mod json_schema;
mod legacy_tokens;
mod openapi;
mod outage;
mod pushes;
mod readme;
mod reports;
mod sim_api;
mod stream;
