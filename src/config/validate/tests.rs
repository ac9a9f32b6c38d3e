//! Tests of the checks run at load, through the real loader.

use super::*;
use crate::config::load_env;

#[test]
fn trusted_proxies_are_networks_or_addresses() {
    let s =
        load_env(&[("server.trusted_proxies", "10.1.2.3/8, 192.0.2.1, fd00::/8")]).expect("loads");
    let nets: Vec<String> = s.trusted_proxies().iter().map(|n| n.to_string()).collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.0.2.1/32", "fd00::/8"]);
}

#[test]
fn incoming_recipients_come_as_text_from_the_environment_and_need_mail() {
    let on = [
        ("incoming.enabled", "true"),
        (
            "incoming.recipients",
            "Anna (IT) <anna@example.org>; Bob <bob@example.net>",
        ),
    ];
    let err = load_env(&on).expect_err("no mail").to_string();
    assert!(err.contains("incoming.enabled"), "{err}");
    let mut with_mail = on.to_vec();
    with_mail.push(("mail.smtp_url", "smtp://127.0.0.1:2525"));
    let s = load_env(&with_mail).expect("loads");
    let names: Vec<(&str, &str)> = s
        .incoming
        .recipients
        .iter()
        .map(|r| (r.name.as_str(), r.email.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Anna (IT)", "anna@example.org"),
            ("Bob", "bob@example.net")
        ]
    );
    let mut bad = with_mail.clone();
    bad[1] = ("incoming.recipients", "Anna <not-an-address>");
    let err = load_env(&bad).expect_err("bad address").to_string();
    assert!(err.contains("incoming.recipients"), "{err}");
    assert!(
        !load_env(&[]).expect("defaults").incoming.enabled,
        "off by default"
    );
}

#[test]
fn invalid_values_name_their_key() {
    // Refusals that name the key in full...
    let full = [
        ("server.bind", "not an address"),
        ("server.base_url", "ftp://x"),
        ("server.secret", "abcd"),
        ("server.session_ttl", "59"),
        ("storage.backend", "postgres"),
        ("storage.redis_replicas_ack", "17"),
        ("secrets.min_ttl", "0"),
        ("log.level", "=*="),
        ("server.body_timeout", "0"),
        ("server.max_connections", "0"),
        ("server.trusted_proxies", "10.0.0.0/8, proxy.example"),
        ("limits.ipv6_prefix", "129"),
    ];
    // ...and those where the parser names the field, or the check a group of keys.
    let partly = [
        ("storage.sweep_interval", "soon", "sweep_interval"),
        ("storage.redis_replicas_ack", "-1", "redis_replicas_ack"),
        ("storage.redis_replicas_ack", "two", "redis_replicas_ack"),
        ("crypto.scrypt_log_n", "40", "crypto.scrypt"),
        ("server.trusted_proxies", "10.0.0.0/33", "trusted_proxies"),
    ];
    let cases = full.map(|(key, value)| (key, value, key));
    for (var, value, key) in cases.into_iter().chain(partly) {
        let err = load_env(&[(var, value)]).expect_err(var).to_string();
        assert!(err.contains(key), "{var}={value}: {err}");
    }
}

#[test]
fn redis_tls_keys_come_as_a_pair_and_need_a_rediss_url() {
    let redis = ("storage.backend", "redis");
    let tls_url = ("storage.redis_url", "rediss://:hunter2@r.example:6380");
    let ca = ("storage.redis_tls_ca", "/etc/onetime/redis-ca.pem");
    let cert = ("storage.redis_tls_cert", "/etc/onetime/client.pem");
    let key = ("storage.redis_tls_key", "/etc/onetime/client.key");

    let defaults = load_env(&[]).expect("defaults");
    let set = load_env(&[redis, tls_url, ca, cert, key]).expect("loads");
    let emptied = load_env(&[redis, ("storage.redis_tls_ca", "")]).expect("loads");
    let half = load_env(&[redis, tls_url, cert]).expect_err("cert without key");
    let plain = load_env(&[redis, ca]).expect_err("CA over plain TCP");
    let sled = load_env(&[ca]).expect("unused by sled");

    assert!(defaults.storage.redis_tls_ca.is_none() && defaults.storage.redis_tls_key.is_none());
    assert_eq!(set.storage.redis_tls_key, Some(PathBuf::from(key.1)));
    assert!(emptied.storage.redis_tls_ca.is_none());
    assert!(half.to_string().contains("storage.redis_tls_key"), "{half}");
    let plain = plain.to_string();
    assert!(
        plain.contains("storage.redis_url") && plain.contains("rediss://"),
        "{plain}"
    );
    assert!(!plain.contains("hunter2"));
    assert!(sled.storage.redis_tls_ca.is_some());
}

#[test]
fn log_level_takes_levels_and_directives_but_no_stray_word() {
    for good in [
        "info",
        "WARN",
        "onetime=debug,info",
        "off",
        "actix_web=warn,debug",
    ] {
        assert!(check_log_level(good).is_ok(), "{good}");
    }
    for bad in ["loud", "info,verbose", "=*="] {
        assert!(check_log_level(bad).is_err(), "{bad}");
    }
}

#[test]
fn secrets_come_from_their_files_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = "ef".repeat(32);
    let key_file = dir.path().join("key");
    let url_file = dir.path().join("url");
    std::fs::write(&key_file, format!("{key}\n")).expect("write");
    std::fs::write(&url_file, "smtps://u:hunter2@mail.example:465\n").expect("write");
    let key_file = key_file.display().to_string();
    let url_file = url_file.display().to_string();

    let s = load_env(&[
        ("server.secret_file", &key_file),
        ("mail.smtp_url_file", &url_file),
    ])
    .expect("loads");
    let both =
        load_env(&[("server.secret_file", &key_file), ("server.secret", &key)]).expect_err("both");

    assert_eq!(s.server.secret, Some(Redacted(key.clone())));
    assert_eq!(
        s.mail.smtp_url,
        Some(Redacted("smtps://u:hunter2@mail.example:465".into()))
    );
    assert!(both.to_string().contains("server.secret_file"), "{both}");
    let shown = s.to_redacted_toml().expect("toml");
    assert!(
        !shown.contains(&key) && !shown.contains("hunter2"),
        "{shown}"
    );
    assert!(shown.contains(&key_file), "{shown}");
}
