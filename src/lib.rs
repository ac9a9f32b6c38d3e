//! # onetime
//!
//! A self-hosted service for sharing a secret through a link that works exactly once. It
//! speaks the Onetime Secret v1 API and keeps its records sealed on disk.
//!
//! # Layout
//!
//! Imports point down this list only.
//!
//! - [`app`]: wiring from settings to a running server; one `build` for `main` and tests;
//!   opening stores (sled, Redis) and binding the listener.
//! - [`admin`]: the Unix socket through which `onetime account ...` and `onetime backup`
//!   reach a running server.
//! - [`backup`]: the backup file: a header and every live record, sealed as stored.
//! - [`http`]: everything actix: the v1 API, the browser pages (`http::web`: templates,
//!   catalogues, CSRF, sessions' cookies), parameters, errors, headers, access log. It names
//!   the use cases and domain types only, never the store.
//! - [`oidc`]: sign-in with the team's OpenID Connect provider (discovery, PKCE, the ID token
//!   checked against the provider's keys), its sign-ins in progress kept as store sessions.
//! - [`accounts`]: account use cases (add, list, rotate, remove, web password, sign-in and
//!   sessions, authenticate), and how a recent list opens through either credential.
//! - [`service`]: the secrets' use cases (share, generate, reveal, receipt, burn, recent), their
//!   typed errors, the create policy, rate-limit budgets and health.
//! - [`mail`]: the SMTP transport, the link email, and the outbox worker with retries.
//! - [`sweeper`]: background purge of expired records.
//! - [`metrics`]: the Prometheus counters, gauges and request histogram, and their listener.
//! - [`store`]: the storage seam, one trait per concern (`Secrets`, `Accounts`, `Sessions`,
//!   `Outbox`, `Counters`, `Sweep`, `Transfer`, `Upkeep`; `Store` gathers them), the record
//!   types and their encoding (`store::record`), typed `StoreError`; the sled backend
//!   (`store::sled`) and the Redis backend (`store::redis`: Cluster, Sentinel, TLS), each one
//!   file per concern; the schema upgrade; the conformance suite, split the same way.
//! - [`config`]: typed settings from defaults, `onetime.toml` and `ONETIME__*` env.
//! - [`domain`]: states, keys, lifetimes and email addresses parsed at the edge, the receipt
//!   object.
//! - [`crypto`]: keys, record ids, scrypt, XChaCha20-Poly1305 sealing, the end-to-end
//!   envelope, list keys and web password hashes.

#![forbid(unsafe_code)]

pub mod accounts;
pub mod admin;
pub mod app;
pub mod backup;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod service;
pub mod store;
pub mod sweeper;
