//! Integration tests: the real server (`Application::build`, as `main` runs it) on a random
//! port with a temp data directory, and the real binary for crash tests.

mod helpers;

mod accounts;
mod at_rest;
mod attack;
mod backup;
mod burn;
mod cli;
mod client;
mod deploy;
mod durability;
mod edges;
mod expiry;
mod failover;
mod first_hour;
mod generate;
mod headers;
mod incoming;
mod limits;
mod mail;
mod memo;
mod metrics;
mod oidc;
mod params;
mod progress;
mod proxy;
mod redis;
mod redis_tls;
mod reveal;
mod share;
mod upgrade;
mod v2;
mod web;
mod web_accounts;
mod web_words;
