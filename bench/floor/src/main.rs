//! The floor of `bench/run`: a server that does only what onetime's storage layer must do per
//! request, on the same stack (actix-web, sled 0.34, onetime's group-commit flusher), so the
//! gap between it and onetime is what onetime adds on top.
//!
//! - `POST /api/v1/share`: one sled insert of the request body under a fresh random key, one
//!   flush (shared with concurrent writers, as onetime's), then `{"secret_key":"<hex>"}`;
//! - `POST /api/v1/secret/<key>`: one read and one compare-and-swap remove, one flush, then the
//!   value (`404` if it was not there).
//!
//! No parsing, sealing, expiry index, receipt, logging or limits. The settings are onetime's,
//! read as onetime reads them: the same sled cache (`storage.cache_mb`; sled's own segment
//! size and mode), the same actix workers and keep-alive (`server.workers`,
//! `server.keepalive_timeout`), the same backlog.
//!
//! Usage: `onetime-bench-floor DATA_DIR [ADDR]` (default `127.0.0.1:0`); prints
//! `address=HOST:PORT` once it listens, as onetime's log does, for `bench/run` to find.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use onetime::config::Settings;
use onetime::store::sled::Flusher;
use rand::RngCore;

/// onetime's allocator (`src/main.rs`), with the same build-time options.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

struct Floor {
    tree: sled::Db,
    flusher: Flusher,
}

async fn create(floor: web::Data<Arc<Floor>>, body: web::Bytes) -> HttpResponse {
    let mut key = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut key);
    if floor.tree.insert(key, body.as_ref()).is_err() || floor.flusher.durable().await.is_err() {
        return HttpResponse::ServiceUnavailable().finish();
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!("{{\"secret_key\":\"{}\"}}", hex::encode(key)))
}

async fn reveal(floor: web::Data<Arc<Floor>>, key: web::Path<String>) -> HttpResponse {
    let Ok(key) = hex::decode(key.as_str()) else {
        return HttpResponse::NotFound().finish();
    };
    let Ok(Some(value)) = floor.tree.get(&key) else {
        return HttpResponse::NotFound().finish();
    };
    let removed = floor
        .tree
        .compare_and_swap(&key, Some(&value), None::<&[u8]>);
    if !matches!(removed, Ok(Ok(()))) {
        return HttpResponse::NotFound().finish();
    }
    if floor.flusher.durable().await.is_err() {
        return HttpResponse::ServiceUnavailable().finish();
    }
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(value.to_vec())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or_else(|| std::io::Error::other("usage: onetime-bench-floor DATA_DIR [ADDR]"))?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    // onetime's own settings (its defaults, `./onetime.toml`, `ONETIME__*`), so the floor's
    // cache, workers and keep-alive follow onetime's however they are set.
    let settings = Settings::load(None, None).map_err(std::io::Error::other)?;
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(settings.storage.cache_mb << 20)
        .open()
        .map_err(std::io::Error::other)?;
    let floor = Arc::new(Floor {
        flusher: Flusher::start(db.clone()),
        tree: db,
    });
    let listener = TcpListener::bind(addr)?;
    println!("address={}", listener.local_addr()?);
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(Arc::clone(&floor)))
            .route("/api/v1/share", web::post().to(create))
            .route("/api/v1/secret/{key}", web::post().to(reveal))
    })
    .workers(settings.server.worker_count())
    .backlog(1024)
    .keep_alive(Duration::from_secs(settings.server.keepalive_timeout))
    .listen(listener)?
    .run()
    .await
}
