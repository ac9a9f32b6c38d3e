//! Opening stores: the server's (created when missing), an offline command's (never created),
//! a `migrate` endpoint's; the server key; the schema upgrade.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use super::StartError;
use crate::admin;
use crate::config::{Backend, Settings};
use crate::crypto::{Sealer, ServerKey};
use crate::store::redis::{RedisStore, RedisTls, ReplicasAck};
use crate::store::sled::SledStore;
use crate::store::{Store, StoreError, SCHEMA_VERSION};

/// Creates `storage.path` (server key, admin socket, sled files) with owner-only access.
pub(super) fn prepare_data_dir(settings: &Settings) -> Result<(), StartError> {
    let dir = &settings.storage.path;
    fs::create_dir_all(dir).map_err(|cause| StartError::Io {
        what: format!("creating storage.path {}", dir.display()),
        cause,
    })?;
    // The directory holds the server key and sealed records: owner only.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|cause| StartError::Io {
        what: format!("restricting permissions of {}", dir.display()),
        cause,
    })
}

/// Opens the configured store, creating it (and `storage.path`) if missing: for the server.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StartError> {
    prepare_data_dir(settings)?;
    connect_store(settings).await
}

/// Whether a sled store lives at `storage.path` (sled writes `conf` and `db` when it creates
/// one).
fn sled_store_exists(path: &std::path::Path) -> bool {
    path.join("conf").is_file() && path.join("db").is_file()
}

/// Opens the configured store for an offline command, which never creates one: a command
/// run with the wrong configuration (or in the wrong directory) must not quietly make a second
/// store that the real server never sees.
pub async fn open_existing_store(settings: &Settings) -> Result<Arc<dyn Store>, StartError> {
    if settings.storage.backend == Backend::Sled && !sled_store_exists(&settings.storage.path) {
        return Err(StartError::NoStore {
            path: settings.storage.path.display().to_string(),
            config: settings.described_file(),
        });
    }
    connect_store(settings).await
}

/// Which store the settings name, for a command to say what it used: the sled directory, or
/// the Redis URL without its credentials.
pub fn store_description(settings: &Settings) -> String {
    let storage = &settings.storage;
    match storage.backend {
        Backend::Redis => format!(
            "redis {} (prefix {})",
            crate::store::redis::redacted_url(&storage.redis_url.0),
            storage.redis_prefix
        ),
        Backend::Sled => {
            let path = &storage.path;
            let shown = fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            format!("sled {}", shown.display())
        }
    }
}

/// Opens the store the settings name, as it is.
async fn connect_store(settings: &Settings) -> Result<Arc<dyn Store>, StartError> {
    let storage = &settings.storage;
    if let Backend::Redis = storage.backend {
        let timeout = Duration::from_millis(storage.redis_timeout_ms);
        let tls = redis_tls(settings)?;
        let store = RedisStore::open(&storage.redis_url.0, &storage.redis_prefix, timeout, &tls)
            .await
            .map_err(|e| {
                // The URL may hold a password: never echo it.
                StartError::Unsupported(format!("cannot use storage.redis_url: {e}"))
            })?
            .with_replicas_ack(replicas_ack(settings));
        return Ok(Arc::new(store));
    }
    let store = SledStore::open(&storage.path, storage.sync, storage.cache_mb << 20)?;
    Ok(Arc::new(store))
}

/// `storage.redis_replicas_ack`, each `WAIT` bounded by `storage.redis_timeout_ms`.
fn replicas_ack(settings: &Settings) -> ReplicasAck {
    let storage = &settings.storage;
    ReplicasAck::new(
        storage.redis_replicas_ack,
        Duration::from_millis(storage.redis_timeout_ms),
    )
}

/// The `storage.redis_tls_*` files, read and checked; errors name the key, never the contents.
pub fn redis_tls(settings: &Settings) -> Result<RedisTls, StartError> {
    RedisTls::from_settings(&settings.storage).map_err(|e| StartError::Unsupported(e.to_string()))
}

/// Brings `store` up to this build's schema with the server key behind `sealer` (an upgrade
/// seals what older versions kept plain, see `migrations/`). Run wherever the server key is at
/// hand: server start and offline commands.
pub(super) async fn upgrade(store: &dyn Store, sealer: &Sealer) -> Result<(), StartError> {
    let found = store.schema().await?;
    if found < SCHEMA_VERSION {
        tracing::info!(from = found, to = SCHEMA_VERSION, "upgrading the store");
    }
    store.upgrade(sealer).await?;
    Ok(())
}

/// Opens the store a `onetime migrate` endpoint names: `sled:PATH`, a `redis://` or
/// `rediss://` URL, a cluster's `redis+cluster://` or `rediss+cluster://` URL, or Sentinel's
/// `redis+sentinel://` or `rediss+sentinel://` (with `storage.redis_prefix`,
/// `storage.redis_timeout_ms` and `storage.redis_replicas_ack`; a TLS endpoint with
/// `storage.redis_tls_*`, as the server uses them).
///
/// A source (`create` false) must exist; a sled destination is created when missing.
pub async fn open_named_store(
    settings: &Settings,
    spec: &str,
    create: bool,
) -> Result<Arc<dyn Store>, StartError> {
    if let Some(path) = spec.strip_prefix("sled:") {
        let path = std::path::Path::new(path);
        if !create && !sled_store_exists(path) {
            return Err(StartError::NoStore {
                path: path.display().to_string(),
                config: format!("--from {spec}"),
            });
        }
        let store = SledStore::open(path, true, settings.storage.cache_mb << 20)?;
        return current_schema(Arc::new(store), spec).await;
    }
    let redis_schemes = [
        "redis://",
        "rediss://",
        "redis+cluster://",
        "rediss+cluster://",
        "redis+sentinel://",
        "rediss+sentinel://",
    ];
    if redis_schemes.iter().any(|scheme| spec.starts_with(scheme)) {
        let timeout = Duration::from_millis(settings.storage.redis_timeout_ms);
        let tls = redis_tls(settings)?;
        let store = RedisStore::open(spec, &settings.storage.redis_prefix, timeout, &tls)
            .await
            .map_err(|e| StartError::Unsupported(format!("cannot use the Redis store: {e}")))?
            .with_replicas_ack(replicas_ack(settings));
        return current_schema(Arc::new(store), spec).await;
    }
    Err(StartError::Unsupported(
        "a store is `sled:PATH`, `redis://...`, `rediss://...`, `redis+cluster://...` or \
         `redis+sentinel://...`"
            .into(),
    ))
}

/// `store`, if it is at this build's schema. A `migrate` endpoint is not upgraded on the way:
/// its server key may be another node's, and the upgrade seals with it.
async fn current_schema(store: Arc<dyn Store>, spec: &str) -> Result<Arc<dyn Store>, StartError> {
    let found = store.schema().await?;
    if found < SCHEMA_VERSION {
        // A URL may hold a password: name only the kind of store.
        let what = spec.split("://").next().unwrap_or("store");
        return Err(StartError::Unsupported(format!(
            "the {what} store has schema version {found}; start this onetime on it once (or \
             run `onetime account list` with its configuration) to upgrade it, then migrate"
        )));
    }
    Ok(store)
}

/// The server key from `server.secret`, or `<storage.path>/server.key` (created if missing).
pub fn server_key(settings: &Settings) -> Result<ServerKey, StartError> {
    if let Some(secret) = &settings.server.secret {
        return ServerKey::from_hex(&secret.0).ok_or_else(|| {
            StartError::Unsupported("server.secret is not 64 hex characters".into())
        });
    }
    let path = settings.storage.path.join("server.key");
    ServerKey::load_or_create(&path).map_err(|cause| StartError::Io {
        what: format!("reading or creating {}", path.display()),
        cause,
    })
}

/// The server key for an offline command: from `server.secret`, or the existing key file
/// (a new one would seal records no server can read).
fn existing_server_key(settings: &Settings) -> Result<ServerKey, StartError> {
    let path = settings.storage.path.join("server.key");
    if settings.server.secret.is_none() && !path.is_file() {
        return Err(StartError::Unsupported(format!(
            "no server key: server.secret is unset (in {}) and {} does not exist",
            settings.described_file(),
            path.display()
        )));
    }
    server_key(settings)
}

/// Opens the existing store and the server key for a command run without the server.
pub async fn open_offline(
    settings: &Settings,
) -> Result<(Arc<dyn Store>, Arc<Sealer>), StartError> {
    let store = open_existing_store(settings).await.map_err(|e| match e {
        StartError::Store(StoreError::Locked { .. }) => {
            StartError::Unsupported(format!(
                "the store at {} is in use by a running server, but its admin socket {} does not answer",
                settings.storage.path.display(),
                admin::socket_path(settings).display()
            ))
        }
        other => other,
    })?;
    let sealer = Arc::new(Sealer::new(existing_server_key(settings)?));
    upgrade(store.as_ref(), &sealer).await?;
    Ok((store, sealer))
}
