//! The listening socket, and the base of links when `server.base_url` is unset.

use std::net::{SocketAddr, TcpListener};

use super::StartError;
use crate::config::Settings;

/// Connections the kernel queues for us while `server.max_connections` are open (actix's
/// default; the kernel caps it at `net.core.somaxconn`). std's `bind` would queue only 128,
/// and a client beyond the queue waits for SYN retransmits (1 s, 3 s, 7 s...).
const LISTEN_BACKLOG: u32 = 1024;

/// The listening socket for the first of `server.bind`'s addresses that binds (a name like
/// `localhost` may resolve to `::1` on a host without IPv6, then to `127.0.0.1`).
pub(super) fn bind_configured(settings: &Settings) -> Result<TcpListener, StartError> {
    let mut last = None;
    for addr in settings.bind_addrs()? {
        match bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(cause) => last = Some(cause),
        }
    }
    Err(StartError::Io {
        what: format!("binding server.bind {}", settings.server.bind),
        cause: last.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into()),
    })
}

/// The base of links when `server.base_url` is unset: the bound address, by the host name
/// `server.bind` gives, or by loopback when bound to every interface (`0.0.0.0`, `::`).
pub(super) fn bound_base_url(settings: &Settings, addr: SocketAddr) -> String {
    let configured_host = settings
        .server
        .bind
        .rsplit_once(':')
        .map_or("", |(host, _)| host);
    let named =
        configured_host.parse::<std::net::IpAddr>().is_err() && !configured_host.starts_with('[');
    let host = if named {
        configured_host.to_owned()
    } else {
        match addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        }
    };
    format!("http://{host}:{}", addr.port())
}

/// Says where links point, and warns when they likely lead nowhere.
pub(super) fn check_links(settings: &Settings, addr: SocketAddr, base_url: &str) {
    match &settings.server.base_url {
        None if addr.ip().is_unspecified() => tracing::warn!(
            links = base_url,
            "server.base_url is unset and the server listens on every interface: links name \
             loopback, which only this machine reaches; set server.base_url to the URL people \
             use"
        ),
        None => {}
        Some(configured) => {
            let port = url::Url::parse(configured)
                .ok()
                .and_then(|u| u.port_or_known_default());
            if addr.ip().is_loopback() && port.is_some_and(|p| p != addr.port()) {
                tracing::warn!(
                    base_url = %configured,
                    address = %addr,
                    "server.base_url names another port than the loopback address the server \
                     is bound to; links lead nowhere unless a proxy on that port forwards here \
                     (unset server.base_url to have links follow server.bind)"
                );
            }
        }
    }
}

/// The listening socket for `addr`, with [`LISTEN_BACKLOG`].
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's bind does: a restarted server can bind while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)?.into_std()
}
