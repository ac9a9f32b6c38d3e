//! Sign-in, sign-out, the recent list and the API token page.

use actix_web::web;

/// Registers the account pages.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
