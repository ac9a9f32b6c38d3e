//! The use cases over a real store (sled in a temp dir), without HTTP.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::*;
use crate::crypto::{KdfPool, ServerKey};
use crate::domain::{Burned, Receipt, ReceiptKey, RequestedTtl, SecretKey, State};
use crate::store::sled::SledStore;

const NOW: u64 = 1_800_000_000;
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The service over a fresh sled store, with the documented defaults and a cheap scrypt.
fn service(dir: &tempfile::TempDir) -> Service {
    let store = Arc::new(SledStore::open(dir.path(), false, 8 << 20).expect("store"));
    let sealer = Arc::new(Sealer::new(
        ServerKey::from_hex(&"44".repeat(32)).expect("key"),
    ));
    let settings = crate::config::load_env(&[("crypto.scrypt_log_n", "10")]).expect("settings");
    Service::new(
        store,
        sealer,
        Arc::new(tokio::sync::Notify::new()),
        KdfPool::new(2, 8),
        &settings,
    )
}

fn request(secret: &str, passphrase: Option<&str>) -> CreateRequest {
    CreateRequest {
        secret: Some(Sensitive::new(secret.into())),
        passphrase: passphrase.map(|p| Sensitive::new(p.into())),
        ..CreateRequest::default()
    }
}

fn receipt_key(receipt: &Receipt) -> ReceiptKey {
    ReceiptKey::parse(&receipt.metadata_key).expect("ours")
}

/// An anonymous burn of `receipt`'s secret without a passphrase.
async fn burn_anonymously(service: &Service, receipt: &Receipt) -> Result<Burned, ServiceError> {
    service
        .burn(&Caller::Anonymous, &receipt_key(receipt), None, CLIENT, NOW)
        .await
}

fn pass(text: &str) -> Sensitive {
    Sensitive::new(text.into())
}

#[tokio::test]
async fn a_shared_secret_is_revealed_once_with_its_clamped_lifetime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = service(&dir);
    let mut req = request("the value", None);
    req.ttl = RequestedTtl::parse("5");
    let receipt = service
        .share(&Caller::Anonymous, req, NOW)
        .await
        .expect("share");
    assert_eq!(receipt.ttl, 60, "clamped up to min_ttl");
    let key = SecretKey::parse(receipt.secret_key.as_deref().expect("secret key")).expect("ours");

    let revealed = service
        .reveal(&key, None, CLIENT, NOW + 1)
        .await
        .expect("reveal");
    assert_eq!(revealed.value.expose(), "the value");
    assert!(matches!(
        service.reveal(&key, None, CLIENT, NOW + 2).await,
        Err(ServiceError::UnknownSecret)
    ));
    let after = service
        .receipt_status(&receipt_key(&receipt), NOW + 3)
        .await
        .expect("receipt");
    assert_eq!(after.state, State::Received);
}

#[tokio::test]
async fn a_missing_passphrase_is_required_and_a_wrong_one_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = service(&dir);
    let receipt = service
        .share(&Caller::Anonymous, request("v", Some("open sesame")), NOW)
        .await
        .expect("share");
    let key = SecretKey::parse(receipt.secret_key.as_deref().expect("secret key")).expect("ours");

    for missing in [None, Some(pass(""))] {
        assert!(matches!(
            service.reveal(&key, missing.as_ref(), CLIENT, NOW).await,
            Err(ServiceError::PassphraseRequired)
        ));
    }
    assert!(matches!(
        service.reveal(&key, Some(&pass("nope")), CLIENT, NOW).await,
        Err(ServiceError::WrongPassphrase)
    ));
    assert!(matches!(
        burn_anonymously(&service, &receipt).await,
        Err(ServiceError::PassphraseRequired)
    ));
    let revealed = service
        .reveal(&key, Some(&pass("open sesame")), CLIENT, NOW)
        .await
        .expect("the right passphrase");
    assert_eq!(revealed.value.expose(), "v");
}

#[tokio::test]
async fn a_burn_tells_a_missing_receipt_from_a_secret_already_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = service(&dir);
    let unknown = ReceiptKey::parse(&"a".repeat(62)).expect("plausible");
    assert!(matches!(
        service
            .burn(&Caller::Anonymous, &unknown, None, CLIENT, NOW)
            .await,
        Err(ServiceError::UnknownReceipt)
    ));
    assert!(matches!(
        service.receipt(&unknown, NOW).await,
        Err(ServiceError::UnknownReceipt)
    ));
    let receipt = service
        .share(&Caller::Anonymous, request("v", None), NOW)
        .await
        .expect("share");
    let burned = burn_anonymously(&service, &receipt).await.expect("burn");
    assert_eq!(burned.state.state, State::Burned);
    assert!(matches!(
        burn_anonymously(&service, &receipt).await,
        Err(ServiceError::UnknownSecret)
    ));
}

#[tokio::test]
async fn refused_creates_store_nothing_and_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = service(&dir);
    let max = service.create_rules(&Caller::Anonymous).max_size;
    assert!(matches!(
        service
            .share(&Caller::Anonymous, request(&"x".repeat(max + 1), None), NOW)
            .await,
        Err(ServiceError::TooLarge { max: m }) if m == max
    ));
    assert!(matches!(
        service
            .share(&Caller::Anonymous, CreateRequest::default(), NOW)
            .await,
        Err(ServiceError::NothingToShare)
    ));
    let generated = service
        .generate(&Caller::Anonymous, CreateRequest::default(), NOW)
        .await
        .expect("generate");
    assert!(generated.value.is_some(), "a generated value is shown once");
}
