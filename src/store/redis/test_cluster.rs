//! The store's tests on a real 3-primary Redis Cluster (`onetime_test_support::shared`): the
//! shared conformance suite, plus what only a cluster can get wrong. The same over a cluster
//! that speaks only TLS and requires client certificates is in `test_tls`.

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use std::time::Duration;

    use onetime_test_support::{free_ports, shared::cluster};

    use crate::store::conformance::{account_ids, sample, NOW};
    use crate::store::redis::{test_server, RedisStore};
    use crate::store::upgrade::{PlainKeys, UpgradeKeys};
    use crate::store::{AccountRecord, Accounts, Secrets, Store, Transfer};

    async fn open_with(prefix: &str) -> RedisStore {
        RedisStore::open(
            &cluster().url(),
            prefix,
            Duration::from_secs(2),
            &Default::default(),
        )
        .await
        .expect("redis cluster store")
    }

    async fn open() -> RedisStore {
        open_with(&test_server::prefix()).await
    }

    crate::conformance_suite!(|_dir: std::path::PathBuf| open());

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enumeration_sees_records_on_every_primary() {
        let prefix = test_server::prefix();
        let store = open_with(&prefix).await;
        let cluster = cluster();
        // Random names: keys that differ in a digit or two hash to a handful of nearby slots.
        let mut emails = Vec::new();
        while emails.len() < 6 || !cluster.on_every_primary(&format!("{prefix}a:*")) {
            assert!(
                emails.len() < 200,
                "the accounts never spread over every primary"
            );
            let email = format!("{}@example.com", &crate::crypto::generate_key()[..12]);
            let id = PlainKeys.account_id(&email);
            let account = AccountRecord {
                id,
                email: PlainKeys.seal_email(&id, &email),
                plan: "anonymous".into(),
                created: NOW,
                token_hash: [7; 32],
                token_created: NOW,
                api_key: None,
                password: None,
                sso: None,
            };
            assert!(store.add_account(&account).await.expect("add"));
            emails.push(id);
        }
        let mut secrets = 0;
        while secrets < 6 || !cluster.on_every_primary(&format!("{prefix}{{*}}:m")) {
            assert!(
                secrets < 200,
                "the receipts never spread over every primary"
            );
            store.create(&sample(600, false)).await.expect("create");
            secrets += 1;
        }

        let listed = account_ids(&store).await;
        let exported = store.export(NOW).await.expect("export");

        emails.sort();
        assert_eq!(listed, emails);
        let receipts = exported
            .iter()
            .filter(|r| matches!(r, crate::store::Exported::Secret { .. }))
            .count();
        assert_eq!(receipts, secrets);
    }

    #[tokio::test]
    async fn the_store_answers_on_every_primary_and_a_dead_cluster_answers_quickly() {
        let store: Arc<dyn Store> = Arc::new(open().await);
        store.ping().await.expect("ping");
        let ports = free_ports(2);
        let url = format!(
            "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
            ports[0], ports[1]
        );

        let started = std::time::Instant::now();
        let result =
            RedisStore::open(&url, "x:", Duration::from_millis(500), &Default::default()).await;

        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
