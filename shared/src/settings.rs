//! The settings tree (the `saasit-settings` crate, which the executor reads
//! too), re-exported: binaries call [`Settings::from_env`] once at start-up
//! and pass the values in. Every variable is documented in `.env.example`.

pub use settings::*;
