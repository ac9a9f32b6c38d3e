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
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write");
        path
    }

    fn pair(name: &str) -> (String, String) {
        let cert = rcgen::generate_simple_self_signed(vec![name.into()]).expect("cert");
        (cert.cert.pem(), cert.signing_key.serialize_pem())
    }

    fn refused(ca: Option<&Path>, client: Option<(&Path, &Path)>) -> TlsFileError {
        match RedisTls::from_files(ca, client) {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn good_files_are_read_and_none_means_the_system_store() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = pair("client");
        let (ca1, _) = pair("ca one");
        let (ca2, _) = pair("ca two");
        let ca = write(dir.path(), "ca.pem", format!("{ca1}\n{ca2}").as_bytes());
        let cert = write(dir.path(), "c.pem", cert.as_bytes());
        let key = write(dir.path(), "k.pem", key.as_bytes());

        let tls = RedisTls::from_files(Some(&ca), Some((&cert, &key))).expect("valid");
        let none = RedisTls::from_files(None, None).expect("valid");

        let certs = tls.certificates().expect("set");
        assert!(certs.root_cert.is_some() && certs.client_tls.is_some());
        assert!(none.certificates().is_none());
        assert!(!format!("{tls:?}").contains("PRIVATE"));
    }

    #[test]
    fn bad_files_are_refused_naming_the_key_without_their_contents() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = pair("client");
        let (_, other_key) = pair("other");
        let cert = write(dir.path(), "c.pem", cert.as_bytes());
        let key = write(dir.path(), "k.pem", key.as_bytes());
        let other_key = write(dir.path(), "other.pem", other_key.as_bytes());
        let missing = dir.path().join("missing.pem");
        let der = write(dir.path(), "ca.der", &[0x30, 0x82, 0x01, 0x0a, 0x02, 0x82]);
        let text = write(dir.path(), "notes.txt", b"hunter2 is the password\n");
        let broken = write(
            dir.path(),
            "broken.pem",
            b"-----BEGIN CERTIFICATE-----\nhunter2!!\n-----END CERTIFICATE-----\n",
        );
        let garbage = write(
            dir.path(),
            "garbage.pem",
            b"-----BEGIN CERTIFICATE-----\naHVudGVyMg==\n-----END CERTIFICATE-----\n",
        );

        let ca = "storage.redis_tls_ca";
        let (tls_cert, tls_key) = ("storage.redis_tls_cert", "storage.redis_tls_key");
        let client = |cert: &Path, key: &Path| refused(None, Some((cert, key)));
        let cases = [
            (refused(Some(&missing), None), ca, "cannot read"),
            (refused(Some(&der), None), ca, "no PEM certificate"),
            (refused(Some(&text), None), ca, "no PEM certificate"),
            (refused(Some(&key), None), ca, "no PEM certificate"),
            (refused(Some(&broken), None), ca, "not valid PEM"),
            (refused(Some(&garbage), None), ca, "not a usable CA"),
            (client(&key, &key), tls_cert, "no PEM certificate"),
            (client(&cert, &cert), tls_key, "no PEM private key"),
            (client(&cert, &missing), tls_key, "cannot read"),
            (
                client(&cert, &other_key),
                tls_key,
                "not the key of the certificate",
            ),
        ];

        for (error, key, what) in cases {
            let message = error.to_string();
            assert!(message.contains(&format!("`{key}`")), "{message}");
            assert!(message.contains(what), "{message}");
            assert!(
                !message.contains("hunter2") && !message.contains("aHVu"),
                "{message}"
            );
        }
    }

    #[test]
    fn handshake_failures_are_explained_and_other_errors_pass_through() {
        // Built as the redis crate and tokio-rustls build them: the rustls error inside an
        // `io::Error`, inside a `RedisError`.
        let tls_error = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        let failed = |e: io::Error, tls: bool| {
            let e = redis::RedisError::from(e);
            RedisTls::default().explain(e, tls).to_string()
        };
        // webpki's own error, which rustls passes on only as `CertificateError::Other`.
        #[derive(Debug)]
        struct CaUsedAsEndEntity;
        impl fmt::Display for CaUsedAsEndEntity {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{self:?}")
            }
        }
        impl StdError for CaUsedAsEndEntity {}
        let refused = |e: CertificateError| tls_error(rustls::Error::InvalidCertificate(e));
        let host = rustls::pki_types::ServerName::try_from("h").expect("a DNS name");
        let cases = [
            (
                refused(CertificateError::UnknownIssuer),
                "invalid peer certificate: UnknownIssuer",
                true,
                "storage.redis_tls_ca",
            ),
            (
                refused(CertificateError::Other(rustls::OtherError(Arc::new(
                    CaUsedAsEndEntity,
                )))),
                "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
                true,
                "sign a server certificate with that CA",
            ),
            (
                refused(CertificateError::NotValidForNameContext {
                    expected: host.to_owned(),
                    presented: vec!["DnsName(\"other\")".into()],
                }),
                "invalid peer certificate: certificate not valid for name \"h\"",
                true,
                "not valid for the host in storage.redis_url",
            ),
            (
                refused(CertificateError::Expired),
                "invalid peer certificate: Expired",
                true,
                "not trusted",
            ),
            (
                tls_error(rustls::Error::AlertReceived(
                    AlertDescription::CertificateRequired,
                )),
                "received fatal alert: CertificateRequired",
                true,
                "storage.redis_tls_key",
            ),
            (
                tls_error(rustls::Error::InvalidMessage(
                    rustls::InvalidMessage::InvalidContentType,
                )),
                "received corrupt message of type InvalidContentType",
                true,
                "redis://",
            ),
            (
                io::Error::from(io::ErrorKind::TimedOut),
                "timed out",
                true,
                "plain Redis",
            ),
            (
                io::Error::from_raw_os_error(104),
                "Connection reset by peer (os error 104)",
                false,
                "rediss://",
            ),
        ];

        for (error, text, tls, hint) in cases {
            let message = failed(error, tls);
            assert!(
                message.contains(hint) && message.contains(text),
                "{message}"
            );
        }
        assert_eq!(
            failed(io::Error::from(io::ErrorKind::TimedOut), false),
            "storage backend: redis: timed out"
        );
    }

    #[test]
    fn a_cluster_handshake_failure_kept_only_as_text_is_still_explained() {
        // What the cluster client returns when no seed answered: the cause as text only.
        let e = redis::RedisError::from((
            redis::ErrorKind::Io,
            "Failed to create initial connections",
            "Io: invalid peer certificate: UnknownIssuer".to_owned(),
        ));

        let message = RedisTls::default().explain(e, true).to_string();

        assert!(message.contains("storage.redis_tls_ca"), "{message}");
    }

    #[test]
    fn the_insecure_fragment_is_refused_and_only_rediss_is_tls() {
        assert!(refuse_insecure("rediss://:pw@h:6380/0#insecure").is_err());
        assert!(refuse_insecure("rediss+cluster://h:1,h:2#INSECURE").is_err());
        assert!(refuse_insecure("rediss://:p%23w@h:6380/0").is_ok());
        let Err(e) = refuse_insecure("rediss://:hunter2@h:6380#insecure") else {
            panic!("accepted");
        };
        assert!(!e.contains("hunter2"));
        assert!(is_tls_url("rediss://h:1") && is_tls_url("rediss+cluster://h:1,h:2"));
        assert!(is_tls_url("rediss+sentinel://h:1/m") && !is_tls_url("redis+sentinel://h:1/m"));
        assert!(!is_tls_url("redis://h:1") && !is_tls_url("redis+cluster://h:1"));
    }
}
