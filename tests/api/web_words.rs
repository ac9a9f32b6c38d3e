//! What the pages say and to whom: the creator's private note (on the create form, the receipt
//! and the recent list, never under a secret link), why burning asks for the passphrase, no
//! sign-in for recipients, and no claim the server-side mode cannot keep.

use reqwest::StatusCode;

use crate::helpers::TestApp;
use crate::mail::{free_port, spawn_with_mail, start_smtp};
use crate::web::{api_state, secret_path, Browser};
use crate::web_accounts::{account, sign_in, EMAIL, PASSWORD};

const MEMO: &str = "db password for Anna";

/// A browser signed in to the test account.
async fn signed_in(app: &TestApp) -> Browser {
    account(app).await;
    let browser = Browser::new(app);
    let page = sign_in(&browser, EMAIL, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "signed in");
    browser
}

/// The `value` of the create form's `#memo` field.
fn memo_field(page: &crate::web::Page) -> Option<String> {
    let at = page.html.find("id=\"memo\" name=\"memo\"")?;
    let rest = &page.html[at..page.html[at..].find('>')? + at];
    let start = rest.find("value=\"")? + "value=\"".len();
    let end = rest[start..].find('"')? + start;
    Some(rest[start..end].to_owned())
}

#[tokio::test]
async fn a_refused_create_keeps_the_private_note() {
    let (_app, browser) = Browser::spawn().await;
    assert_eq!(memo_field(&browser.get("/").await).as_deref(), Some(""));

    let empty = browser
        .submit(
            "/",
            "/",
            &[("action", "share"), ("secret", ""), ("memo", MEMO)],
        )
        .await;
    let long = "n".repeat(201);
    let too_long = browser
        .submit(
            "/",
            "/",
            &[("action", "share"), ("secret", "s"), ("memo", &long)],
        )
        .await;

    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(memo_field(&empty).as_deref(), Some(MEMO));
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    assert!(
        too_long.html.contains("at most 200 characters"),
        "{}",
        too_long.html
    );
    assert!(too_long.html.contains("aria-invalid=\"true\"") && too_long.has_id("error"));
    assert_eq!(memo_field(&too_long).as_deref(), Some(long.as_str()));
}

#[tokio::test]
async fn the_receipt_shows_the_private_note_and_the_secret_link_never_does() {
    let (app, creator) = Browser::spawn().await;
    let receipt = creator
        .create(&[("secret", "hunter2"), ("memo", MEMO)])
        .await;
    let receipt_page = creator.get(&receipt).await;
    let secret = secret_path(&receipt_page);
    let recipient = Browser::new(&app);

    let interstitial = recipient.get(&secret).await;
    let revealed = recipient
        .post(&secret, &[("csrf", &interstitial.csrf())])
        .await;
    let gone = recipient.get(&secret).await;

    assert!(receipt_page.has_id("memo") && receipt_page.html.contains(MEMO));
    assert_eq!(
        revealed.textarea("secret-value").as_deref(),
        Some("hunter2")
    );
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.has_id("gone"));
    for (name, page) in [
        ("interstitial", &interstitial),
        ("revealed", &revealed),
        ("gone", &gone),
    ] {
        assert!(!page.html.contains("Anna"), "{name} shows the private note");
        assert!(
            !page.has_id("signin-link") && !page.html.contains("href=\"/signin\""),
            "{name} offers a sign-in to the recipient"
        );
    }
    // Everywhere else a visitor may sign in.
    assert!(recipient.get("/").await.has_id("signin-link"));
    assert!(creator.get(&receipt).await.has_id("signin-link"));
}

#[tokio::test]
async fn the_recent_list_tells_secrets_apart() {
    let port = free_port();
    let _inbox = start_smtp(port);
    let app = spawn_with_mail(port).await;
    let browser = signed_in(&app).await;
    browser
        .create(&[
            ("secret", "first"),
            ("memo", MEMO),
            ("passphrase", "pass word"),
            ("recipient", "bob@example.org"),
        ])
        .await;
    let plain = browser.create(&[("secret", "second")]).await;

    let recent = browser.get("/recent").await;

    assert_eq!(recent.status, StatusCode::OK);
    assert_eq!(recent.html.matches("class=\"recent-row\"").count(), 2);
    let rows: Vec<&str> = recent.html.split("class=\"recent-row\"").skip(1).collect();
    // Newest first: the plain one, then the one with the note.
    assert!(rows[0].contains(&format!("href=\"{plain}\"")));
    assert!(rows[0].contains("No passphrase") && !rows[0].contains("To "));
    let noted = rows[1];
    assert!(noted.contains(&format!("<span class=\"memo\">{MEMO}</span>")));
    assert!(noted.contains("With passphrase"), "{noted}");
    assert!(noted.contains("To b***@e***.org"), "{noted}");
    assert!(noted.contains("Created 20"), "{noted}");
    for row in &rows {
        // An hour's lifetime, read in the same second or the next.
        let expiry = row.contains("expires in 1 hour") || row.contains("expires in 59 minutes");
        assert!(expiry, "{row}");
    }
    assert!(
        !recent.html.contains("bob@example.org"),
        "the address obscured"
    );
}

#[tokio::test]
async fn burning_explains_the_passphrase_and_its_creator_needs_none() {
    let (app, anonymous) = Browser::spawn().await;
    let anonymous_receipt = anonymous.create_guarded("anon", "pass word").await;
    let owner = signed_in(&app).await;
    let owned_receipt = owner.create_guarded("mine", "pass word").await;

    let asked = anonymous.get(&format!("{anonymous_receipt}/burn")).await;
    let not_asked = owner.get(&format!("{owned_receipt}/burn")).await;
    let burned = owner
        .post(
            &format!("{owned_receipt}/burn"),
            &[("csrf", &not_asked.csrf())],
        )
        .await;

    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.has_id("passphrase") && asked.has_id("passphrase-why"));
    assert!(asked.html.contains(
        "This secret is protected by a passphrase. Enter it to prove the secret is yours"
    ));
    assert!(asked.html.contains("aria-describedby=\"passphrase-why\""));
    assert_eq!(not_asked.status, StatusCode::OK);
    assert!(!not_asked.has_id("passphrase") && !not_asked.has_id("passphrase-why"));
    assert!(not_asked.has_id("confirm-burn"));
    assert_eq!(burned.status, StatusCode::SEE_OTHER, "{}", burned.html);
    assert_eq!(burned.location.as_deref(), Some(owned_receipt.as_str()));
    assert_eq!(api_state(&app, &owned_receipt).await, "burned");
    assert_eq!(api_state(&app, &anonymous_receipt).await, "new");
}

#[tokio::test]
async fn the_create_page_claims_only_what_the_server_side_mode_keeps() {
    let (_app, browser) = Browser::spawn().await;

    let en = browser.get("/?locale=en").await;
    let nl = browser.get("/?locale=nl").await;

    for (page, overstated, honest) in [
        (&en, "exists only in the link", "handles the text in memory"),
        (
            &nl,
            "alleen in de link staat",
            "verwerkt de tekst in het geheugen",
        ),
    ] {
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            !page.html.contains(overstated),
            "still claims: {overstated}"
        );
        assert!(page.html.contains(honest), "does not say: {honest}");
    }
}
