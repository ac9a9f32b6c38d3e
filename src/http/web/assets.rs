//! CSS, JavaScript and icons from `static/`, embedded in the binary: one file to copy, and
//! the CSP's `'self'` covers them.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "static/"]
struct Assets;

/// Registers `/static/{file}`, and `/robots.txt` (crawlers have no business here).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{file}", web::get().to(asset)).route(
        "/robots.txt",
        web::get().to(|| asset(web::Path::from("robots.txt".to_owned()))),
    );
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn asset(file: web::Path<String>) -> HttpResponse {
    match Assets::get(&file) {
        Some(asset) => HttpResponse::Ok()
            .content_type(content_type(&file))
            // Assets hold nothing secret; an hour of caching spares every page view a fetch.
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .insert_header((
                header::ETAG,
                format!("\"{}\"", hex::encode(&asset.metadata.sha256_hash()[..8])),
            ))
            .body(asset.data.into_owned()),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found"),
    }
}
