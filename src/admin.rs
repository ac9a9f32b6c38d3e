//! The admin socket: how `onetime account ...` reaches a running server.
//!
//! sled holds an exclusive lock on its directory, so while the server runs, a second process
//! cannot open the store. The server listens on `<storage.path>/admin.sock` (mode 0600, in a
//! 0700 directory): file permissions are the authorization. One JSON request line in, one JSON
//! response line out. When no server listens, the command opens the store itself.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use zeroize::{Zeroize, Zeroizing};

use crate::accounts::{AccountError, AccountSummary, Accounts};
use crate::config::Settings;
use crate::domain::{unix_now, Sensitive};
use crate::store::Store;

/// Longest request line accepted on the socket: room for a 1024-byte password even when JSON
/// escapes every byte of it.
const MAX_REQUEST: usize = 16 * 1024;

/// An account command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum AdminRequest {
    /// Create an account.
    Add {
        /// Email.
        email: String,
        /// Plan name; `default` when absent.
        plan: Option<String>,
    },
    /// List accounts.
    List,
    /// Issue a new token.
    Rotate {
        /// Email.
        email: String,
    },
    /// Set the web password.
    Passwd {
        /// Email.
        email: String,
        /// The new password (never printed: `Sensitive`).
        password: Sensitive,
    },
    /// Delete an account.
    Remove {
        /// Email.
        email: String,
    },
    /// A snapshot of every live record, for `onetime backup` (served by a running server).
    Backup,
}

/// What a command answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AdminResponse {
    /// A new API token (add, rotate).
    Token {
        /// The token, shown once.
        token: String,
        /// The account's public id, another Basic username (see
        /// [`Accounts::public_id_of`]); empty from an older server.
        #[serde(default)]
        id: String,
    },
    /// The accounts (list).
    Accounts {
        /// By email.
        accounts: Vec<AccountSummary>,
    },
    /// Done (remove, passwd).
    Done,
    /// A snapshot (backup): the store's schema and every live record as backup lines.
    Snapshot {
        /// The store's schema version.
        schema: u32,
        /// Unix seconds when it was taken.
        created: u64,
        /// [`crate::backup`] lines, sealed as stored.
        records: Vec<String>,
    },
    /// The command failed.
    Error {
        /// Why, for the admin's terminal.
        message: String,
    },
}

impl From<Result<AdminResponse, AccountError>> for AdminResponse {
    fn from(r: Result<AdminResponse, AccountError>) -> Self {
        r.unwrap_or_else(|e| AdminResponse::Error {
            message: e.to_string(),
        })
    }
}

/// Runs one command against `accounts`.
pub async fn execute(accounts: &Accounts, request: AdminRequest) -> AdminResponse {
    let now = unix_now();
    let result =
        match request {
            AdminRequest::Add { email, plan } => accounts
                .add(&email, plan.as_deref(), now)
                .await
                .map(|t| AdminResponse::Token {
                    token: t.expose().to_owned(),
                    id: accounts.public_id(&email),
                }),
            AdminRequest::List => accounts
                .list()
                .await
                .map(|accounts| AdminResponse::Accounts { accounts }),
            AdminRequest::Rotate { email } => {
                accounts
                    .rotate(&email, now)
                    .await
                    .map(|t| AdminResponse::Token {
                        token: t.expose().to_owned(),
                        id: accounts.public_id(&email),
                    })
            }
            AdminRequest::Passwd { email, password } => accounts
                .set_password(&email, &password, now)
                .await
                .map(|()| AdminResponse::Done),
            AdminRequest::Remove { email } => {
                accounts.remove(&email).await.map(|()| AdminResponse::Done)
            }
            // Served by `serve_one` from the store; without a server, `onetime backup` opens
            // the store itself.
            AdminRequest::Backup => Ok(AdminResponse::Error {
                message: "a backup is taken from the store, not through accounts".into(),
            }),
        };
    result.into()
}

/// Where the admin socket lives.
pub fn socket_path(settings: &Settings) -> PathBuf {
    settings.storage.path.join("admin.sock")
}

/// Listens on `path` and serves commands until the task is aborted.
pub fn listen(
    path: &Path,
    accounts: Arc<Accounts>,
    store: Arc<dyn Store>,
) -> io::Result<tokio::task::JoinHandle<()>> {
    // A socket file left by a crashed server: the store lock already proved none is running.
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let accounts = Arc::clone(&accounts);
                    let store = Arc::clone(&store);
                    tokio::spawn(async move {
                        if let Err(e) = serve_one(stream, &accounts, store.as_ref()).await {
                            tracing::warn!(error = %e, "admin socket request failed");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "admin socket accept failed"),
            }
        }
    }))
}

/// `value` as one JSON line in a buffer that is zeroed when dropped, and the encoder's own
/// buffer zeroed too (a request may hold a password, an answer a token).
fn encode_line(value: &impl Serialize) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut encoded = serde_json::to_vec(value).map_err(io::Error::other)?;
    let mut line = Zeroizing::new(Vec::with_capacity(encoded.len() + 1));
    line.extend_from_slice(&encoded);
    line.push(b'\n');
    encoded.zeroize();
    Ok(line)
}

/// Reads one request line (without a `BufReader`, whose buffer would keep a copy of it) into
/// a buffer that is zeroed when dropped: the line may hold a password.
async fn read_line(stream: &mut UnixStream) -> io::Result<Zeroizing<Vec<u8>>> {
    // Sized once, so the buffer never reallocates and leaves an unzeroed copy behind.
    let mut line = Zeroizing::new(vec![0u8; MAX_REQUEST]);
    let mut len = 0;
    while len < MAX_REQUEST {
        let n = stream.read(&mut line[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
        if line[len - n..len].contains(&b'\n') {
            break;
        }
    }
    let end = line[..len].iter().position(|&b| b == b'\n').unwrap_or(len);
    line.truncate(end);
    Ok(line)
}

async fn serve_one(
    mut stream: UnixStream,
    accounts: &Accounts,
    store: &dyn Store,
) -> io::Result<()> {
    let line = read_line(&mut stream).await?;
    let response = match serde_json::from_slice::<AdminRequest>(&line) {
        Ok(request) => {
            let kind = match &request {
                AdminRequest::Add { .. } => "add",
                AdminRequest::List => "list",
                AdminRequest::Rotate { .. } => "rotate",
                AdminRequest::Passwd { .. } => "passwd",
                AdminRequest::Remove { .. } => "remove",
                AdminRequest::Backup => "backup",
            };
            let response = match request {
                AdminRequest::Backup => snapshot(store).await,
                other => execute(accounts, other).await,
            };
            let ok = !matches!(response, AdminResponse::Error { .. });
            tracing::info!(command = kind, ok, "admin command");
            response
        }
        Err(_) => AdminResponse::Error {
            message: "malformed admin request".into(),
        },
    };
    // The answer may hold a fresh API token: the encoded copy and the response are zeroed.
    let mut response = response;
    let out = encode_line(&response);
    if let AdminResponse::Token { token, .. } = &mut response {
        token.zeroize();
    }
    stream.write_all(&out?).await?;
    stream.shutdown().await
}

/// Every live record, read while the server keeps serving.
pub async fn snapshot(store: &dyn Store) -> AdminResponse {
    let created = unix_now();
    let schema = match store.schema().await {
        Ok(schema) => schema,
        Err(e) => {
            return AdminResponse::Error {
                message: format!("reading the store's schema: {e}"),
            }
        }
    };
    match crate::backup::snapshot(store, created).await {
        Ok(records) => AdminResponse::Snapshot {
            schema,
            created,
            records,
        },
        Err(e) => AdminResponse::Error {
            message: format!("reading the store: {e}"),
        },
    }
}

/// Sends `request` to a running server. `Ok(None)` when no server listens on `path`.
pub async fn request(path: &Path, request: &AdminRequest) -> io::Result<Option<AdminResponse>> {
    let stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let (read, mut write) = stream.into_split();
    write.write_all(&encode_line(request)?).await?;
    // The answer may hold a token: zeroed once parsed (the caller prints it and drops it).
    let mut answer = Zeroizing::new(String::new());
    BufReader::new(read).read_line(&mut answer).await?;
    serde_json::from_str(&answer)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
