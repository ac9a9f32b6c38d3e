//! Throwaway certificates for the TLS Redis tests, made with rcgen (no openssl binary): a test
//! CA, a server certificate it signs for `localhost` and `127.0.0.1` (not `127.0.0.2`, which
//! the host-name tests use), a client certificate it signs for mutual TLS, and a second,
//! unrelated CA that signed only a stranger's client certificate.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// PEM files in one directory; the directory lives as long as this value.
#[derive(Debug)]
pub struct TestPki {
    /// Holds the files; removed on drop.
    dir: tempfile::TempDir,
    /// The CA that signs the server and client certificates.
    pub ca: PathBuf,
    /// Another CA, which signed nothing here.
    pub other_ca: PathBuf,
    /// Server (and cluster node) certificate for `localhost` and `127.0.0.1`, and its key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Client certificate (clientAuth) and its key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate signed by `other_ca`, which the servers do not trust, and its key.
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
}

impl TestPki {
    /// Makes every certificate and key and writes them to a new temp directory.
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = new_ca("an unrelated CA");
        let ca = new_ca("onetime test CA");
        let (server_cert, server_key) = leaf(
            &ca,
            "localhost",
            &["localhost", "127.0.0.1"],
            // Also a client: the nodes of a TLS cluster present it to each other.
            &[
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        );
        let (client_cert, client_key) = leaf(
            &ca,
            "onetime node",
            &["onetime-node"],
            &[ExtendedKeyUsagePurpose::ClientAuth],
        );
        let (stranger_cert, stranger_key) = leaf(
            &other,
            "a stranger",
            &["stranger"],
            &[ExtendedKeyUsagePurpose::ClientAuth],
        );
        let write = |name: &str, contents: &str| -> PathBuf {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).expect("write a test certificate");
            path
        };
        Self {
            ca: write("ca.pem", &ca.pem()),
            other_ca: write("other-ca.pem", &other.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            stranger_cert: write("stranger.pem", &stranger_cert),
            stranger_key: write("stranger.key", &stranger_key),
            dir,
        }
    }
}

impl TestPki {
    /// The directory holding every file.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

fn new_ca(common_name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("CA key");
    CertifiedIssuer::self_signed(params, key).expect("CA certificate")
}

/// A certificate signed by `ca`, and its key, both PEM.
fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    common_name: &str,
    names: &[&str],
    usages: &[ExtendedKeyUsagePurpose],
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("leaf params");
    params.distinguished_name = name(common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = usages.to_vec();
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, ca).expect("leaf certificate");
    (cert.pem(), key.serialize_pem())
}
