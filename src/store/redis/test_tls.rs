//! The store's tests over real TLS Redis servers (`onetime_test_support::shared`): Debian's
//! `redis-server` with a TLS port only, certificates from a throwaway CA.
//!
//! Two servers: one that asks no client certificate, listening on 127.0.0.1 and 127.0.0.2 (its
//! certificate names only the first: the host-name check), and one with
//! `tls-auth-clients yes` (mutual TLS). The same tests on a TLS Redis Cluster that requires
//! client certificates are in [`tests::cluster`].

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use onetime_test_support::shared::tls_redis as servers;
    use onetime_test_support::TestPki;

    use crate::store::redis::{test_server, RedisStore, RedisTls};
    use crate::store::{Secrets, Upkeep};

    fn trusting(ca: &std::path::Path) -> RedisTls {
        RedisTls::from_files(Some(ca), None).expect("CA file")
    }

    async fn open() -> RedisStore {
        let servers = servers();
        RedisStore::open(
            &servers.url("127.0.0.1"),
            &test_server::prefix(),
            Duration::from_secs(2),
            &trusting(&servers.pki.ca),
        )
        .await
        .expect("redis store over TLS")
    }

    /// Opens `url` with `tls` and a 500 ms timeout; the error and how long it took.
    async fn refused(url: &str, tls: &RedisTls) -> (String, Duration) {
        let started = Instant::now();
        let result = RedisStore::open(url, "x:", Duration::from_millis(500), tls).await;
        match result {
            Ok(_) => panic!("connected"),
            Err(e) => (e.to_string(), started.elapsed()),
        }
    }

    // The whole suite once more, every command over TLS.
    crate::conformance_suite!(|_dir: std::path::PathBuf| open());

    #[tokio::test]
    async fn a_server_whose_ca_is_not_trusted_is_refused_quickly_saying_so() {
        let servers = servers();
        let url = servers.url("127.0.0.1");

        let system_store = refused(&url, &RedisTls::default()).await;
        let wrong_ca = refused(&url, &trusting(&servers.pki.other_ca)).await;

        for (message, took) in [system_store, wrong_ca] {
            assert!(message.contains("certificate is not trusted"), "{message}");
            assert!(message.contains("storage.redis_tls_ca"), "{message}");
            assert!(took < Duration::from_secs(3), "{took:?}");
        }
    }

    #[tokio::test]
    async fn a_certificate_for_another_host_is_refused() {
        let servers = servers();

        let (message, took) = refused(&servers.url("127.0.0.2"), &trusting(&servers.pki.ca)).await;

        assert!(message.contains("not valid for the host"), "{message}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn mutual_tls_works_with_the_client_certificate_and_is_refused_without() {
        let servers = servers();
        let pki = &servers.pki;
        let with =
            |cert, key| RedisTls::from_files(Some(&pki.ca), Some((cert, key))).expect("files");
        let with_cert = with(&pki.client_cert, &pki.client_key);

        let store = RedisStore::open(
            &servers.mtls_url(),
            &test_server::prefix(),
            Duration::from_secs(2),
            &with_cert,
        )
        .await
        .expect("mutual TLS");
        let (without, _) = refused(&servers.mtls_url(), &trusting(&pki.ca)).await;
        let (stranger, _) = refused(
            &servers.mtls_url(),
            &with(&pki.stranger_cert, &pki.stranger_key),
        )
        .await;

        store.ping().await.expect("ping");
        let taken = store
            .create(&crate::store::conformance::sample(600, false))
            .await;
        assert!(taken.is_ok());
        assert!(
            without.contains("requires a TLS client certificate")
                && without.contains("storage.redis_tls_cert"),
            "{without}"
        );
        assert!(
            stranger.contains("refused the client certificate in storage.redis_tls_cert"),
            "{stranger}"
        );
    }

    #[tokio::test]
    async fn the_insecure_fragment_is_refused_before_connecting() {
        let servers = servers();

        let (message, _) = refused(
            &format!("{}/#insecure", servers.url("127.0.0.1")),
            &RedisTls::default(),
        )
        .await;

        assert!(message.contains("storage.redis_tls_ca"), "{message}");
    }

    /// A Redis Cluster over TLS, with client certificates: the suite once more, and the same
    /// refusals as one endpoint.
    mod cluster {
        use super::*;
        use onetime_test_support::shared::tls_cluster;

        fn client_of(pki: &TestPki) -> RedisTls {
            RedisTls::from_files(Some(&pki.ca), Some((&pki.client_cert, &pki.client_key)))
                .expect("files")
        }

        async fn open() -> RedisStore {
            let cluster = tls_cluster();
            let pki = cluster.pki.as_ref().expect("a TLS cluster");
            RedisStore::open(
                &cluster.url(),
                &test_server::prefix(),
                Duration::from_secs(2),
                &client_of(pki),
            )
            .await
            .expect("redis cluster store over TLS")
        }

        crate::conformance_suite!(|_dir: std::path::PathBuf| open());

        #[tokio::test]
        async fn a_tls_cluster_refuses_an_untrusted_ca_and_a_missing_client_certificate() {
            let cluster = tls_cluster();
            let pki = cluster.pki.as_ref().expect("a TLS cluster");
            let wrong_ca = RedisTls::from_files(
                Some(&pki.other_ca),
                Some((&pki.client_cert, &pki.client_key)),
            )
            .expect("files");

            let (untrusted, took) = refused(&cluster.url(), &wrong_ca).await;
            let (no_client, _) = refused(&cluster.url(), &trusting(&pki.ca)).await;

            assert!(
                untrusted.contains("certificate is not trusted"),
                "{untrusted}"
            );
            assert!(took < Duration::from_secs(3), "{took:?}");
            assert!(
                no_client.contains("requires a TLS client certificate"),
                "{no_client}"
            );
        }
    }
}
