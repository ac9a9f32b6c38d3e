//! The binary's commands, one module each; `main.rs` holds the clap definitions and dispatch.

pub mod backup;
pub mod completions;
pub mod man;
pub mod progress;
pub mod restore;
