//! The `onetime` commands, one module each; `main.rs` holds the top-level parser and the
//! dispatch.
//!
//! - `serve`: the server (the default) and `sweep`.
//! - `account`: accounts, through the running server or on the store.
//! - `migrate`: copying every live record from one store to another.
//! - `mail`: `mail test`.
//! - `config`: `config check`.

pub mod account;
pub mod config;
pub mod mail;
pub mod migrate;
pub mod serve;
