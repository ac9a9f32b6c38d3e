//! Browser tests: the real `onetime` binary driven through Debian's Chromium by chromedriver,
//! against the page contract (element ids, URLs, statuses) of the web UI.
//!
//! `bash scripts/test` installs `chromium` and `chromium-driver` when they are missing; then
//! `cargo test --test browser` runs these alone. Screenshots of every page, light, dark and on a
//! phone, land in `<target dir>/screenshots/`.

mod harness;
mod pages;

mod announce;
mod burn;
mod contrast;
mod e2e;
mod errors;
mod generate;
mod incoming;
mod keyboard;
mod locale;
mod oidc;
mod passphrase;
mod refusals;
mod reveal;
mod screenshots;
mod signin;
mod smoke;
