//! The integration tests use the same harness users get: `dialtone::testing`.

pub use dialtone::testing::*;
