//! The outbox of mail to recipients.

use super::*;

/// Queued mail comes due, is retried, and leaves the outbox with its outcome on the receipt.
pub async fn outbox_mail_is_retried_then_finished(store: Arc<dyn Store>) {
    let new = with_mail(600);
    let mail = new.mail.clone().expect("mail");
    store.create(&new).await.expect("create");
    assert!(store.due_mail(NOW - 1, 10).await.expect("due").is_empty());
    assert_eq!(
        store.due_mail(NOW, 10).await.expect("due"),
        vec![mail.clone()]
    );

    let retry = OutboxRecord {
        attempts: 1,
        next_attempt: NOW + 30,
        ..mail
    };
    let queued = Delivery {
        state: DeliveryState::Queued,
        reason: Some("connection refused".into()),
        updated: NOW,
    };
    store
        .retry_mail(&retry, queued.clone())
        .await
        .expect("retry");
    assert!(store.due_mail(NOW + 29, 10).await.expect("due").is_empty());
    assert_eq!(store.due_mail(NOW + 30, 10).await.expect("due").len(), 1);
    let receipt = receipt_of(&store, &new, NOW).await;
    assert_eq!(receipt.and_then(|r| r.delivery), Some(queued));

    let sent = Delivery {
        state: DeliveryState::Sent,
        reason: None,
        updated: NOW + 30,
    };
    store
        .finish_mail(&new.receipt_id, sent.clone())
        .await
        .expect("finish");
    assert!(store.due_mail(NOW + 99, 10).await.expect("due").is_empty());
    let receipt = receipt_of(&store, &new, NOW).await;
    assert_eq!(receipt.and_then(|r| r.delivery), Some(sent));
}

/// Queued mail goes in the step that reveals or burns its secret (the link in it is useless
/// then), goes unsent once the secret has expired, and a retry in flight never brings it back.
pub async fn queued_mail_goes_with_its_secret(store: Arc<dyn Store>) {
    let (revealed, burned, expired, kept) = (
        with_mail(600),
        with_mail(600),
        with_mail(60),
        with_mail(600),
    );
    for new in [&revealed, &burned, &expired, &kept] {
        store.create(new).await.expect("create");
    }
    assert_eq!(store.due_mail(NOW, 10).await.expect("due").len(), 4);

    assert!(take(&store, &revealed, NOW + 1).await);
    assert!(burn(&store, &burned, NOW + 1, false).await.is_some());
    // A send attempt that began before the reveal ends in a retry: it must not requeue.
    let mut in_flight = revealed.mail.clone().expect("mail");
    in_flight.attempts = 1;
    let queued = Delivery {
        state: DeliveryState::Queued,
        reason: Some("connection refused".into()),
        updated: NOW + 2,
    };
    store.retry_mail(&in_flight, queued).await.expect("retry");

    let due: Vec<_> = store
        .due_mail(NOW + 500, 10)
        .await
        .expect("due")
        .into_iter()
        .map(|m| m.receipt_id)
        .collect();
    assert_eq!(
        due,
        vec![kept.receipt_id],
        "only the live secret's mail is left"
    );
    for gone in [&revealed, &burned] {
        let receipt = receipt_of(&store, gone, NOW + 3).await.expect("present");
        let delivery = receipt.delivery.expect("delivery");
        assert_eq!(delivery.state, DeliveryState::Failed, "never sent now");
    }
    let exported = store.export(NOW + 500).await.expect("export");
    let mails: Vec<_> = exported
        .iter()
        .filter_map(|r| match r {
            Exported::Mail(m) => Some(m.receipt_id),
            _ => None,
        })
        .collect();
    assert_eq!(mails, vec![kept.receipt_id]);
}
