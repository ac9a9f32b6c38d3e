//! Tests of the Redis URLs: credentials never shown, a cluster URL split into its seeds.

use super::*;

#[test]
fn named_urls_lose_their_credentials_and_keep_the_rest() {
    for (url, shown) in [
        ("redis://:pw@host:6379/2", "redis://host:6379/2"),
        ("redis://host:6379", "redis://host:6379"),
        ("rediss+cluster://u:p@a:1,b:2", "rediss+cluster://a:1,b:2"),
        (
            "redis+sentinel://:p@s1:26379,s2:26379/main/1",
            "redis+sentinel://s1:26379,s2:26379/main/1",
        ),
        ("no scheme", "[unparsable URL]"),
    ] {
        assert_eq!(redacted_url(url), shown);
    }
}

fn cluster(url: &str) -> Vec<String> {
    match Endpoint::parse(url) {
        Ok(Endpoint::Cluster(seeds)) => seeds,
        Ok(_) => panic!("not read as a cluster"),
        Err(e) => panic!("refused: {e}"),
    }
}

#[test]
fn a_cluster_url_gives_one_seed_per_host_with_the_same_credentials() {
    assert_eq!(
        cluster("redis+cluster://10.0.0.1:6379,10.0.0.2:6380"),
        ["redis://10.0.0.1:6379", "redis://10.0.0.2:6380"]
    );
    assert_eq!(
        cluster("rediss+cluster://app:p%40ss@a.example:6379,b.example:6379/0"),
        [
            "rediss://app:p%40ss@a.example:6379/0",
            "rediss://app:p%40ss@b.example:6379/0"
        ]
    );
    assert_eq!(
        cluster("redis+cluster://:pw@h:1#insecure"),
        ["redis://:pw@h:1#insecure"]
    );
}

#[test]
fn other_urls_stay_one_endpoint_and_bad_cluster_urls_are_refused_without_echo() {
    assert!(
        Endpoint::parse("rediss://:pw@h:6380/2")
            == Ok(Endpoint::Single("rediss://:pw@h:6380/2".into()))
    );
    for bad in [
        "redis+cluster://:hunter2@h:1/3",
        "redis+cluster://:hunter2@h:1,,h:2",
        "redis+cluster://:hunter2@",
    ] {
        let Err(e) = Endpoint::parse(bad) else {
            panic!("accepted");
        };
        assert!(!e.contains("hunter2"), "{e}");
    }
}
