//! Tests of the `rediss://` trust and client-certificate files, with real PEM files, and of how
//! a failed handshake is explained.

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
