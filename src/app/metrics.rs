//! The `/metrics` listener (`metrics.bind`): its own actix server, apart from the public site.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use super::StartError;
use crate::config::{Backend, Settings};
use crate::crypto::KdfPool;
use crate::metrics;
use crate::store::Store;

/// Binds `metrics.bind` when it is set: before anything is created, like the public port, so
/// a taken port leaves nothing behind.
pub fn bind(settings: &Settings) -> Result<Option<TcpListener>, StartError> {
    settings
        .metrics
        .addr()
        .map(|addr| {
            metrics::bind(addr).map_err(|cause| StartError::Io {
                what: format!("binding metrics.bind {addr}"),
                cause,
            })
        })
        .transpose()
}

/// The running metrics listener: its handle and its task.
pub struct MetricsServer {
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    pub addr: SocketAddr,
}

impl MetricsServer {
    /// Serves `/metrics` on `listener`, reading the gauges from `store` and `kdf`.
    pub fn start(
        listener: TcpListener,
        settings: &Settings,
        store: &Arc<dyn Store>,
        kdf: &KdfPool,
    ) -> Result<Self, StartError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |cause| StartError::Io { what, cause }
        };
        let addr = listener
            .local_addr()
            .map_err(io("reading the metrics address"))?;
        let sources = metrics::Sources {
            store: Arc::clone(store),
            backend: match settings.storage.backend {
                Backend::Redis => "redis",
                Backend::Sled => "sled",
            },
            kdf: kdf.clone(),
        };
        let server = metrics::serve(listener, sources).map_err(io("serving metrics"))?;
        Ok(Self {
            handle: server.handle(),
            task: tokio::spawn(server),
            addr,
        })
    }

    /// Stops the listener and waits for it.
    pub async fn stop(self) {
        self.handle.stop(false).await;
        let _ = self.task.await;
    }
}
