//! The `onetime` commands, one module each; `main.rs` holds the top-level parser and the
//! dispatch.
//!
//! - `serve`: the server (the default) and `sweep`.
//! - `account`: accounts, through the running server or on the store.
//! - `migrate`: copying every live record from one store to another.
//! - `backup`, `restore`: a snapshot of every live record, taken while the server runs, and
//!   putting one back into an empty store.
//! - `mail`: `mail test`.
//! - `config`: `config check`.
//! - `completions`, `man`: shell completion scripts and the manual page.
//! - `progress`: the bar (or plain lines) long commands show.
//! - `client`: `share`, `reveal`, `receipt`, `burn`, `recent` against any v1 server.

pub mod account;
pub mod backup;
pub mod client;
pub mod completions;
pub mod config;
pub mod mail;
pub mod man;
pub mod migrate;
pub mod progress;
pub mod restore;
pub mod serve;
