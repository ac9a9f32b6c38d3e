//! What a `rediss://` connection trusts and presents: `storage.redis_tls_ca` (the CA that signs
//! the Redis server's certificate; unset = the system's trust store) and, for a Redis with
//! `tls-auth-clients yes`, `storage.redis_tls_cert` + `storage.redis_tls_key`.
//!
//! The files are read and checked once, at start, so a wrong path or a file of the wrong kind
//! stops the start with the key's name instead of failing every connection later. Errors name
//! the key and the path, never the file's contents (one of them is a private key).
//! Certificate checks are never turned off: the redis crate's `#insecure` URL fragment is
//! refused (see [`refuse_insecure`]).

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, CertificateError};
use zeroize::Zeroizing;

use crate::config::StorageSettings;
use crate::store::StoreError;

/// A `storage.redis_tls_*` file that cannot be used. Displays the key, the path and what is
/// wrong with the file, never what is in it.
#[derive(Debug, thiserror::Error)]
#[error("invalid `{key}`: {reason}")]
pub struct TlsFileError {
    /// The setting that names the file.
    pub key: &'static str,
    /// What is wrong, with the path.
    pub reason: String,
}

/// The PEM files of `storage.redis_tls_*`, read and checked. `Default` is none: the system's
/// trust store and no client certificate.
#[derive(Clone, Default)]
pub struct RedisTls {
    /// CA certificates (PEM) that are the only ones trusted for the server; `None` = the
    /// system's trust store.
    ca: Option<Vec<u8>>,
    /// Client certificate chain and its private key (PEM), for mutual TLS.
    client: Option<(Vec<u8>, Zeroizing<Vec<u8>>)>,
}

impl fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTls")
            .field("ca", &self.ca.as_ref().map(|_| "[set]"))
            .field("client", &self.client.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl RedisTls {
    /// Reads the files `storage.redis_tls_ca`, `redis_tls_cert` and `redis_tls_key` name (the
    /// settings have checked that cert and key come together).
    pub fn from_settings(storage: &StorageSettings) -> Result<Self, TlsFileError> {
        Self::from_files(
            storage.redis_tls_ca.as_deref(),
            storage
                .redis_tls_cert
                .as_deref()
                .zip(storage.redis_tls_key.as_deref()),
        )
    }

    /// Reads and checks a CA file and a client certificate + key pair, each optional.
    pub fn from_files(
        ca: Option<&Path>,
        client: Option<(&Path, &Path)>,
    ) -> Result<Self, TlsFileError> {
        let ca = ca
            .map(|path| {
                let key = "storage.redis_tls_ca";
                let pem = read(key, path)?;
                let certs = certificates(key, path, &pem)?;
                // What rustls will do with them: each must be a usable trust anchor.
                let mut roots = rustls::RootCertStore::empty();
                for (n, cert) in certs.into_iter().enumerate() {
                    roots.add(cert).map_err(|e| TlsFileError {
                        key,
                        reason: format!(
                            "certificate {} in {} is not a usable CA certificate: {e}",
                            n + 1,
                            path.display()
                        ),
                    })?;
                }
                Ok(pem)
            })
            .transpose()?;
        let client = client
            .map(|(cert_path, key_path)| {
                let cert_key = "storage.redis_tls_cert";
                let cert_pem = read(cert_key, cert_path)?;
                let chain = certificates(cert_key, cert_path, &cert_pem)?;
                let key = "storage.redis_tls_key";
                let key_pem = Zeroizing::new(read(key, key_path)?);
                let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                    let what = match e {
                        pem::Error::NoItemsFound => {
                            "holds no PEM private key (want a \
                            -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY block)"
                        }
                        // The parser's own message may quote a line of the file: not shown.
                        _ => "is not valid PEM",
                    };
                    TlsFileError {
                        key,
                        reason: format!("{} {what}", key_path.display()),
                    }
                })?;
                check_pair(chain, &private, key_path)?;
                Ok((cert_pem, key_pem))
            })
            .transpose()?;
        Ok(Self { ca, client })
    }

    /// Whether anything differs from the system's trust store without a client certificate.
    pub fn is_set(&self) -> bool {
        self.ca.is_some() || self.client.is_some()
    }

    /// The redis crate's form, or `None` for the defaults (the client then trusts the system's
    /// store, as a plain `Client::open` does).
    pub fn certificates(&self) -> Option<redis::TlsCertificates> {
        self.is_set().then(|| redis::TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.to_vec(),
                }),
            root_cert: self.ca.clone(),
        })
    }
}

/// Refuses a URL that ends in the redis crate's `#insecure` fragment, which would accept any
/// certificate (anyone on the path could read every secret): a private CA belongs in
/// `storage.redis_tls_ca` instead. The error never contains the URL.
pub fn refuse_insecure(url: &str) -> Result<(), String> {
    match url.rsplit_once('#') {
        Some((_, fragment)) if fragment.eq_ignore_ascii_case("insecure") => Err(
            "`#insecure` would turn off the server certificate check, which onetime never does; \
             remove it and name the CA that signs the Redis certificate in storage.redis_tls_ca"
                .into(),
        ),
        _ => Ok(()),
    }
}

/// Whether `url` names a TLS endpoint (`rediss://`, `rediss+cluster://` or
/// `rediss+sentinel://`).
pub fn is_tls_url(url: &str) -> bool {
    ["rediss://", "rediss+cluster://", "rediss+sentinel://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
}

impl RedisTls {
    /// A failed connect in words a sysadmin can act on: a TLS handshake that failed says what
    /// was refused and which setting to look at, and the usual signs of a URL whose scheme
    /// does not match the port (`tls`: whether it asked for TLS) say so; any other error is
    /// passed on as it is.
    pub fn explain(&self, e: redis::RedisError, tls: bool) -> StoreError {
        let failure = Failure::of(&e);
        let hint = match (tls, failure) {
            (false, Some(Failure::Reset)) => {
                "the Redis server closed the connection: if its port speaks TLS, the URL must \
                 start with rediss://"
            }
            (false, _) | (true, None | Some(Failure::Reset)) => return StoreError::from(e),
            (true, Some(Failure::UnknownIssuer)) => {
                "the Redis server's TLS certificate is not trusted: no CA in \
                 storage.redis_tls_ca (unset: in the system's trust store) signed it; set \
                 storage.redis_tls_ca to the PEM file of the CA that signs the Redis certificate"
            }
            (true, Some(Failure::CaCertificate)) => {
                "the Redis server's TLS certificate is not trusted: it is a CA certificate (as a \
                 self-signed `openssl req -x509` one is); sign a server certificate with that CA \
                 for Redis, and name the CA in storage.redis_tls_ca"
            }
            (true, Some(Failure::WrongName)) => {
                "the Redis server's TLS certificate is not trusted: it is not valid for the host \
                 in storage.redis_url; connect by a name (or address) that the certificate lists"
            }
            (true, Some(Failure::Untrusted)) => "the Redis server's TLS certificate is not trusted",
            (true, Some(Failure::ClientRefused)) if self.client.is_some() => {
                "the Redis server refused the client certificate in storage.redis_tls_cert: is \
                 it signed by a CA the server trusts (its tls-ca-cert-file)?"
            }
            (true, Some(Failure::ClientRefused)) => {
                "the Redis server requires a TLS client certificate (tls-auth-clients): set \
                 storage.redis_tls_cert and storage.redis_tls_key"
            }
            (true, Some(Failure::NotTls)) => {
                "the Redis server did not answer in TLS: is storage.redis_url's port a TLS port \
                 (rediss://), or a plain one (redis://)?"
            }
            (true, Some(Failure::TimedOut)) => {
                "no TLS answer in time: the server is down or slow, or its port speaks plain \
                 Redis (then the URL must start with redis://)"
            }
        };
        StoreError::Unavailable(format!("redis: {hint} ({e})"))
    }
}

/// Why a connect failed, as far as a hint needs to know.
#[derive(Clone, Copy)]
enum Failure {
    /// No trusted CA signed the server's certificate.
    UnknownIssuer,
    /// The server presented a CA certificate as its own.
    CaCertificate,
    /// The certificate does not name the host connected to.
    WrongName,
    /// The certificate was refused for another reason (expired, revoked...).
    Untrusted,
    /// The server refused or required a client certificate (a TLS alert).
    ClientRefused,
    /// What came back was not TLS.
    NotTls,
    /// Nothing came back in time.
    TimedOut,
    /// The server reset the connection.
    Reset,
}

impl Failure {
    /// Dug out of the error's source chain: the rustls error if there is one, else the first
    /// I/O error's kind.
    fn of(e: &redis::RedisError) -> Option<Self> {
        let mut io_kind = None;
        let mut next: Option<&(dyn StdError + 'static)> = Some(e);
        while let Some(error) = next {
            // The redis crate keeps its cause in an `Arc`, whose `source()` skips the error it
            // holds; an `io::Error`'s `source()` likewise skips the error it wraps (tokio-rustls
            // wraps the `rustls::Error` in one): step into both by hand.
            next = if let Some(shared) = error.downcast_ref::<Arc<dyn StdError + Send + Sync>>() {
                Some(&**shared)
            } else if let Some(io) = error.downcast_ref::<io::Error>() {
                io_kind.get_or_insert(io.kind());
                io.get_ref().map(|inner| inner as &(dyn StdError + 'static))
            } else if let Some(tls) = error.downcast_ref::<rustls::Error>() {
                return Self::of_tls(tls);
            } else {
                error.source()
            };
        }
        match io_kind {
            Some(io::ErrorKind::TimedOut) => Some(Self::TimedOut),
            Some(io::ErrorKind::ConnectionReset) => Some(Self::Reset),
            Some(_) => None,
            // The cluster client keeps only the text of why no node answered ("Failed to
            // create initial connections", the cause's `to_string()` as its detail).
            None => e.detail().and_then(Self::of_flattened),
        }
    }

    fn of_tls(e: &rustls::Error) -> Option<Self> {
        match e {
            rustls::Error::InvalidCertificate(refused) => Some(match refused {
                CertificateError::UnknownIssuer => Self::UnknownIssuer,
                CertificateError::Other(other) if is_ca_used_as_end_entity(other) => {
                    Self::CaCertificate
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => Self::WrongName,
                _ => Self::Untrusted,
            }),
            rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired
                | AlertDescription::BadCertificate
                | AlertDescription::UnknownCA,
            ) => Some(Self::ClientRefused),
            rustls::Error::InvalidMessage(_) => Some(Self::NotTls),
            _ => None,
        }
    }

    /// The same reading of an error the redis crate has already turned into text: the words
    /// are rustls's `Display` of the errors [`Failure::of_tls`] matches, and the OS's for the
    /// I/O kinds. Used only when the crate left nothing typed to look at.
    fn of_flattened(detail: &str) -> Option<Self> {
        if detail.contains("invalid peer certificate") {
            Some(if detail.contains("UnknownIssuer") {
                Self::UnknownIssuer
            } else if detail.contains("CaUsedAsEndEntity") {
                Self::CaCertificate
            } else if detail.contains("not valid for name") || detail.contains("NotValidForName") {
                Self::WrongName
            } else {
                Self::Untrusted
            })
        } else if ["CertificateRequired", "BadCertificate", "UnknownCA"]
            .iter()
            .any(|alert| detail.contains(alert))
        {
            Some(Self::ClientRefused)
        } else if detail.contains("InvalidContentType") || detail.contains("corrupt message") {
            Some(Self::NotTls)
        } else if detail.contains("timed out") {
            Some(Self::TimedOut)
        } else if detail.contains("Connection reset by peer") {
            Some(Self::Reset)
        } else {
            None
        }
    }
}

/// Whether rustls refused the certificate because it is a CA's. rustls passes this webpki
/// error on only as `CertificateError::Other`; onetime does not depend on rustls-webpki to
/// downcast it, so the variant is recognised by its name (webpki displays it as its `Debug`).
fn is_ca_used_as_end_entity(other: &rustls::OtherError) -> bool {
    other.0.to_string() == "CaUsedAsEndEntity"
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|e| TlsFileError {
        key,
        reason: format!("cannot read {}: {e}", path.display()),
    })
}

/// The certificates of a PEM file; at least one.
fn certificates<'a>(
    key: &'static str,
    path: &Path,
    pem: &'a [u8],
) -> Result<Vec<CertificateDer<'a>>, TlsFileError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsFileError {
            // The parser's own message may quote a line of the file: not shown.
            key,
            reason: format!("{} is not valid PEM", path.display()),
        })?;
    if certs.is_empty() {
        return Err(TlsFileError {
            key,
            reason: format!(
                "{} holds no PEM certificate (want -----BEGIN CERTIFICATE----- blocks; a DER \
                 file converts with `openssl x509 -inform der -in FILE -out FILE.pem`)",
                path.display()
            ),
        });
    }
    Ok(certs)
}

/// Checks that the key is one TLS can sign with and that it belongs to the first certificate,
/// so a mismatched pair stops the start instead of failing every handshake.
fn check_pair(
    chain: Vec<CertificateDer<'_>>,
    private: &PrivateKeyDer<'_>,
    key_path: &Path,
) -> Result<(), TlsFileError> {
    let key = "storage.redis_tls_key";
    let signer =
        rustls::crypto::ring::sign::any_supported_type(private).map_err(|_| TlsFileError {
            key,
            reason: format!(
                "{} is not an RSA, ECDSA or Ed25519 key TLS can use",
                key_path.display()
            ),
        })?;
    let chain = chain.into_iter().map(CertificateDer::into_owned).collect();
    rustls::sign::CertifiedKey::new(chain, signer)
        .keys_match()
        .map_err(|_| TlsFileError {
            key,
            reason: format!(
                "{} is not the key of the certificate in storage.redis_tls_cert",
                key_path.display()
            ),
        })
}

#[cfg(test)]
mod tests;
