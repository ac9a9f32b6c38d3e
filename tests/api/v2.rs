//! The v2 API and the v3 guest/status routes: every route, every error status and body,
//! each response validated against the JSON Schemas in `docs/api/schemas/v2.json`; on sled
//! and on a real Redis. One secret through every version, and reveals racing across v1, v2
//! and v3.

use std::sync::OnceLock;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Answer, RedisServer, TestApp};

/// The schema file, parsed once.
fn schemas() -> &'static Value {
    static DEFS: OnceLock<Value> = OnceLock::new();
    DEFS.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api/schemas/v2.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema file"))
            .expect("schema JSON")
    })
}

/// Asserts that `body` matches the definition `name` of the schema file.
pub fn conforms(name: &str, body: &Value) {
    let file = schemas();
    let schema = json!({
        "$schema": file["$schema"],
        "$defs": file["$defs"],
        "$ref": format!("#/$defs/{name}"),
    });
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{body:#}");
}

/// Asserts a v2-style error: the real status, the schema, the kind and the sentence.
pub fn assert_v2_error(answer: &Answer, status: u16, error_type: &str, error: &str) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.text);
    conforms("Error", &answer.json);
    assert_eq!(answer.json["error_type"], error_type, "{}", answer.text);
    assert_eq!(answer.json["error"], error, "{}", answer.text);
    assert!(answer.intended.is_none(), "no v1 intended-status header");
}

/// Asserts v2's answer for a secret or receipt that is not there (any more).
pub fn assert_unknown(answer: &Answer) {
    assert_v2_error(answer, 404, "RecordNotFound", "Unknown secret");
}

/// Asserts success in `version`'s shape: 200, the schema, and `success` only in v2.
fn ok(answer: Answer, name: &str, v2: bool) -> Value {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    conforms(name, &answer.json);
    assert_eq!(answer.json.get("success").is_some(), v2, "{}", answer.text);
    answer.json
}

pub async fn post_json(app: &TestApp, auth: Option<&str>, path: &str, body: Value) -> Answer {
    let mut req = app.client.post(app.url(path)).json(&body);
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    Answer::of(req).await
}

/// An anonymous `{"continue": true}` to `path`: a reveal or burn that means it.
async fn post_continue(app: &TestApp, path: &str) -> Answer {
    post_json(app, None, path, json!({ "continue": true })).await
}

async fn get(app: &TestApp, auth: Option<&str>, path: &str) -> Answer {
    let mut req = app.client.get(app.url(path));
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    Answer::of(req).await
}

/// A key of the right shape that names nothing.
const NOBODY: &str = "0000000000000000000000000000000000000000000000000000000000zz";

/// conceal over `prefix` with JSON; (secret key, receipt key).
async fn conceal(app: &TestApp, auth: Option<&str>, prefix: &str, secret: Value) -> Value {
    let answer = post_json(
        app,
        auth,
        &format!("{prefix}/secret/conceal"),
        json!({ "secret": secret }),
    )
    .await;
    ok(
        answer,
        "Conceal",
        prefix == "/api/v2" || prefix == "/api/v2/guest",
    )
}

fn keys(created: &Value) -> (String, String) {
    (
        created["record"]["secret"]["identifier"]
            .as_str()
            .expect("secret identifier")
            .to_owned(),
        created["record"]["receipt"]["identifier"]
            .as_str()
            .expect("receipt identifier")
            .to_owned(),
    )
}

/// Every v2 route and its errors, against the schemas.
async fn every_v2_route(app: &TestApp) {
    let auth = app.account("v2@example.com", None).await;
    let v2 = "/api/v2";

    // Meta.
    let status = ok(get(app, None, "/api/v2/status").await, "Status", true);
    assert_eq!(status["status"], "nominal");
    let locales = ok(
        get(app, None, "/api/v2/supported-locales").await,
        "Locales",
        true,
    );
    assert_eq!(locales["locales"], json!(["en", "nl"]));
    assert_v2_error(
        &get(app, None, "/api/v2/version").await,
        401,
        "Unauthorized",
        "Not authorized",
    );
    ok(
        get(app, Some(&auth), "/api/v2/version").await,
        "Version",
        true,
    );
    assert_v2_error(
        &get(app, Some("Basic bm9ib2R5Om5vcGU="), "/api/v2/status").await,
        401,
        "Unauthorized",
        "Not authorized",
    );

    // Conceal: JSON, with passphrase, ttl and memo; the v2 `metadata` alias.
    let created = conceal(
        app,
        Some(&auth),
        v2,
        json!({ "secret": "v2 value", "passphrase": "open sesame", "ttl": 3600, "memo": "for Bo" }),
    )
    .await;
    let (skey, rkey) = keys(&created);
    let record = &created["record"];
    assert_eq!(record["receipt"], record["metadata"]);
    assert_eq!(record["receipt"]["state"], "new");
    assert_eq!(record["receipt"]["memo"], "for Bo");
    assert_eq!(record["receipt"]["custid"], "v2@example.com");
    assert_eq!(record["secret"]["has_passphrase"], true);
    assert_eq!(record["secret"]["lifespan"], 3600);
    assert!(record["secret"].get("secret_value").is_none());

    // Conceal: nested form fields.
    let form = Answer::of(
        app.client
            .post(app.url("/api/v2/secret/conceal"))
            .form(&[("secret[secret]", "form value"), ("secret[ttl]", "120")]),
    )
    .await;
    let form = ok(form, "Conceal", true);
    assert_eq!(
        form["record"]["secret"]["lifespan"], 120,
        "secret[ttl] from the form"
    );
    assert_eq!(form["record"]["receipt"]["custid"], "anon");

    // Conceal errors.
    assert_v2_error(
        &post_json(app, None, "/api/v2/secret/conceal", json!({ "secret": {} })).await,
        422,
        "FormError",
        "You did not provide anything to share",
    );
    let flat = Answer::of(
        app.client
            .post(app.url("/api/v2/secret/conceal"))
            .form(&[("secret", "flat")]),
    )
    .await;
    assert_v2_error(&flat, 422, "FormError", "Incorrect payload format");
    let bad_json = Answer::of(
        app.client
            .post(app.url("/api/v2/secret/conceal"))
            .header("content-type", "application/json")
            .body("{\"secret\":"),
    )
    .await;
    assert_v2_error(&bad_json, 422, "FormError", "Malformed JSON body");
    let big = "x".repeat(10_001);
    let too_big = post_json(
        app,
        None,
        "/api/v2/secret/conceal",
        json!({ "secret": { "secret": big } }),
    )
    .await;
    assert_v2_error(
        &too_big,
        422,
        "FormError",
        "Secret value exceeds the maximum size of 10000 bytes",
    );
    assert_eq!(too_big.json["field"], "secret");
    let short = post_json(
        app,
        None,
        "/api/v2/secret/conceal",
        json!({ "secret": { "secret": "s", "passphrase": "abc" } }),
    )
    .await;
    assert_eq!(
        short.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        short.text
    );
    assert_eq!(short.json["field"], "passphrase");
    let mailed = post_json(
        app,
        None,
        "/api/v2/secret/conceal",
        json!({ "secret": { "secret": "s", "recipient": "x@example.com" } }),
    )
    .await;
    assert_v2_error(
        &mailed,
        422,
        "FormError",
        "An account is required to send emails.",
    );

    // Generate: length and character sets.
    let generated = post_json(
        app,
        None,
        "/api/v2/secret/generate",
        json!({ "secret": { "length": 24, "character_sets": { "uppercase": false, "lowercase": false, "symbols": false } } }),
    )
    .await;
    let generated = ok(generated, "Conceal", true);
    let value = generated["record"]["secret"]["secret_value"]
        .as_str()
        .expect("generated value");
    assert_eq!(value.len(), 24);
    assert!(value.bytes().all(|b| b.is_ascii_digit()), "{value}");
    assert_eq!(generated["details"]["kind"], "generate");
    assert_v2_error(
        &post_json(
            app,
            None,
            "/api/v2/secret/generate",
            json!({ "secret": { "length": 200 } }),
        )
        .await,
        422,
        "FormError",
        "Generated password length must be no more than 128 characters",
    );
    assert_v2_error(
        &post_json(
            app,
            None,
            "/api/v2/secret/generate",
            json!({ "secret": { "character_sets": { "uppercase": false, "lowercase": false, "numbers": false, "symbols": false } } }),
        )
        .await,
        422,
        "FormError",
        "Choose at least one character set",
    );

    // Show (preview) never consumes, however often; it marks the secret previewed.
    for _ in 0..3 {
        let shown = ok(
            get(app, None, &format!("/api/v2/secret/{skey}")).await,
            "Secret",
            true,
        );
        assert_eq!(shown["record"]["state"], "previewed");
        assert!(shown["record"].get("secret_value").is_none());
        assert_eq!(shown["details"]["show_secret"], false);
    }
    assert_unknown(&get(app, None, &format!("/api/v2/secret/{NOBODY}")).await);

    // Status, single and batch.
    let st = ok(
        get(app, None, &format!("/api/v2/secret/{skey}/status")).await,
        "SecretStatus",
        true,
    );
    assert_eq!(st["record"]["state"], "new");
    assert!(st["details"]["current_expiration"].as_u64().expect("exp") <= 3600);
    let unknown = ok(
        get(app, None, &format!("/api/v2/secret/{NOBODY}/status")).await,
        "SecretStatus",
        true,
    );
    assert_eq!(unknown["record"], json!({ "state": "unknown" }));
    let batch = post_json(
        app,
        None,
        "/api/v2/secret/status",
        json!({ "identifiers": format!("{skey},{NOBODY},not-a-key") }),
    )
    .await;
    let batch = ok(batch, "SecretList", true);
    assert_eq!(batch["count"], 1);
    assert_eq!(batch["records"][0]["identifier"], skey.as_str());
    let many: Vec<String> = (0..101).map(|_| NOBODY.to_owned()).collect();
    let too_many = post_json(
        app,
        None,
        "/api/v2/secret/status",
        json!({ "identifiers": many }),
    )
    .await;
    assert_v2_error(
        &too_many,
        422,
        "FormError",
        "At most 100 identifiers per request",
    );

    // Reveal: without continue it only describes; a wrong passphrase is a 422; then once.
    let described = post_json(
        app,
        None,
        &format!("/api/v2/secret/{skey}/reveal"),
        json!({}),
    )
    .await;
    let described = ok(described, "Secret", true);
    assert!(described["record"].get("secret_value").is_none());
    let wrong = post_json(
        app,
        None,
        &format!("/api/v2/secret/{skey}/reveal"),
        json!({ "passphrase": "nope", "continue": true }),
    )
    .await;
    assert_v2_error(&wrong, 422, "FormError", "Incorrect passphrase");
    assert_eq!(wrong.json["field"], "passphrase");
    let revealed = post_json(
        app,
        None,
        &format!("/api/v2/secret/{skey}/reveal"),
        json!({ "passphrase": "open sesame", "continue": true }),
    )
    .await;
    let revealed = ok(revealed, "Secret", true);
    assert_eq!(revealed["record"]["secret_value"], "v2 value");
    assert_eq!(revealed["record"]["state"], "revealed");
    assert_eq!(revealed["details"]["show_secret"], true);
    assert_eq!(revealed["details"]["one_liner"], true);
    assert_unknown(
        &post_json(
            app,
            None,
            &format!("/api/v2/secret/{skey}/reveal"),
            json!({ "passphrase": "open sesame", "continue": true }),
        )
        .await,
    );

    // The receipt, under both names.
    for prefix in ["receipt", "private"] {
        let receipt = ok(
            get(app, None, &format!("/api/v2/{prefix}/{rkey}")).await,
            "Receipt",
            true,
        );
        assert_eq!(receipt["record"]["state"], "revealed");
        assert_eq!(receipt["record"]["is_revealed"], true);
        assert!(receipt["record"]["share_url"].is_null());
        assert!(receipt["record"].get("secret_identifier").is_none());
        assert_eq!(receipt["record"]["memo"], "for Bo");
    }
    assert_unknown(&get(app, None, &format!("/api/v2/receipt/{NOBODY}")).await);

    // The private note: its creator changes it; nobody else, receipt key or not.
    let patch = |auth: Option<String>, prefix: &'static str, memo: String| {
        let mut req = app
            .client
            .patch(app.url(&format!("/api/v2/{prefix}/{rkey}")))
            .json(&json!({ "memo": memo }));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        Answer::of(req)
    };
    assert_v2_error(
        &patch(None, "receipt", "mine now".into()).await,
        401,
        "Unauthorized",
        "Not authorized",
    );
    let other = app.account("other@example.com", None).await;
    assert_v2_error(
        &patch(Some(other), "receipt", "mine now".into()).await,
        401,
        "Unauthorized",
        "Not authorized",
    );
    let long = patch(Some(auth.clone()), "receipt", "n".repeat(201)).await;
    assert_v2_error(
        &long,
        422,
        "FormError",
        "Memo must be no more than 200 characters long",
    );
    assert_eq!(long.json["field"], "memo");
    let updated = patch(Some(auth.clone()), "private", "for Bo, v2".into()).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    conforms("ReceiptUpdate", &updated.json);
    assert_eq!(updated.json["record"]["memo"], "for Bo, v2");
    let reread = ok(
        get(app, None, &format!("/api/v2/receipt/{rkey}")).await,
        "Receipt",
        true,
    );
    assert_eq!(reread["record"]["memo"], "for Bo, v2");
    assert_eq!(
        reread["record"]["state"], "revealed",
        "nothing else changed"
    );
    assert_eq!(
        app.receipt(&rkey).await.ok()["memo"],
        "for Bo, v2",
        "v1 sees it too"
    );

    // Burn: without continue nothing happens; with it, once.
    let (_, form_rkey) = keys(&form);
    let kept = post_json(
        app,
        None,
        &format!("/api/v2/receipt/{form_rkey}/burn"),
        json!({}),
    )
    .await;
    let kept = ok(kept, "Receipt", true);
    assert_eq!(kept["success"], false);
    assert_eq!(kept["record"]["state"], "new");
    assert!(kept["record"]["share_url"]
        .as_str()
        .expect("share url")
        .ends_with(&format!("/secret/{}", keys(&form).0)));
    let burned = post_continue(app, &format!("/api/v2/private/{form_rkey}/burn")).await;
    let burned = ok(burned, "Receipt", true);
    assert_eq!(burned["success"], true);
    assert_eq!(burned["record"]["state"], "burned");
    assert_eq!(burned["record"]["is_burned"], true);
    assert_unknown(&post_continue(app, &format!("/api/v2/receipt/{form_rkey}/burn")).await);
    assert_unknown(&get(app, None, &format!("/api/v2/secret/{}", keys(&form).0)).await);

    // Recent: accounts only.
    for prefix in ["receipt", "private"] {
        assert_v2_error(
            &get(app, None, &format!("/api/v2/{prefix}/recent")).await,
            401,
            "Unauthorized",
            "Not authorized",
        );
        let recent = ok(
            get(app, Some(&auth), &format!("/api/v2/{prefix}/recent")).await,
            "ReceiptList",
            true,
        );
        assert_eq!(recent["count"], 1);
        assert_eq!(recent["records"][0]["identifier"], rkey.as_str());
        assert_eq!(recent["custid"], "v2@example.com");
    }

    // Guest routes.
    let guest = conceal(
        app,
        None,
        "/api/v2/guest",
        json!({ "secret": "guest value" }),
    )
    .await;
    let (gkey, grkey) = keys(&guest);
    ok(
        get(
            app,
            Some("Basic bm9ib2R5Om5vcGU="),
            &format!("/api/v2/guest/secret/{gkey}"),
        )
        .await,
        "Secret",
        true,
    );
    let grevealed = post_json(
        app,
        None,
        &format!("/api/v2/guest/secret/{gkey}/reveal"),
        json!({ "continue": "true" }),
    )
    .await;
    assert_eq!(
        ok(grevealed, "Secret", true)["record"]["secret_value"],
        "guest value"
    );
    ok(
        get(app, None, &format!("/api/v2/guest/receipt/{grkey}")).await,
        "Receipt",
        true,
    );
    let gen = ok(
        post_json(app, None, "/api/v2/guest/secret/generate", json!({})).await,
        "Conceal",
        true,
    );
    let (_, gen_rkey) = keys(&gen);
    let gburn = post_continue(app, &format!("/api/v2/guest/receipt/{gen_rkey}/burn")).await;
    assert_eq!(ok(gburn, "Receipt", true)["record"]["state"], "burned");

    // Unknown routes and methods.
    for answer in [
        get(app, None, "/api/v2/nothing").await,
        get(app, None, "/api/v2/secret/conceal").await,
        get(app, None, "/api/v2/guest/secret").await,
        post_json(app, None, "/api/v2/status", json!({})).await,
    ] {
        assert_v2_error(&answer, 404, "NotFound", "Not Found");
    }
}

/// The v3 guest, status and account routes.
async fn v3_routes(app: &TestApp) {
    let auth = app.account("v3@example.com", None).await;
    let status = ok(get(app, None, "/api/v3/status").await, "Status", false);
    assert_eq!(status["status"], "nominal");
    ok(
        get(app, None, "/api/v3/supported-locales").await,
        "Locales",
        false,
    );
    ok(
        get(app, Some(&auth), "/api/v3/version").await,
        "Version",
        false,
    );

    let created = conceal(
        app,
        None,
        "/api/v3/guest",
        json!({ "secret": "v3 value", "ttl": "600" }),
    )
    .await;
    assert!(created["record"].get("metadata").is_none(), "no v2 alias");
    assert_eq!(created["record"]["secret"]["lifespan"], 600);
    assert!(created["record"]["secret"]["has_passphrase"].is_boolean());
    let (skey, rkey) = keys(&created);
    ok(
        get(app, None, &format!("/api/v3/secret/{skey}/status")).await,
        "SecretStatus",
        false,
    );
    ok(
        post_json(
            app,
            None,
            "/api/v3/secret/status",
            json!({ "identifiers": [skey.clone()] }),
        )
        .await,
        "SecretList",
        false,
    );
    let shown = ok(
        get(app, None, &format!("/api/v3/guest/secret/{skey}")).await,
        "Secret",
        false,
    );
    assert_eq!(shown["record"]["state"], "previewed");
    let revealed = ok(
        post_continue(app, &format!("/api/v3/guest/secret/{skey}/reveal")).await,
        "Secret",
        false,
    );
    assert_eq!(revealed["record"]["secret_value"], "v3 value");
    let receipt = ok(
        get(app, None, &format!("/api/v3/guest/receipt/{rkey}")).await,
        "Receipt",
        false,
    );
    assert_eq!(receipt["record"]["state"], "revealed");

    // Outside /guest, v3's secret routes are for accounts (HTTP Basic).
    assert_v2_error(
        &post_json(
            app,
            None,
            "/api/v3/secret/conceal",
            json!({ "secret": { "secret": "x" } }),
        )
        .await,
        401,
        "Unauthorized",
        "Not authorized",
    );
    let mine = conceal(app, Some(&auth), "/api/v3", json!({ "secret": "mine" })).await;
    let (mkey, mrkey) = keys(&mine);
    ok(
        get(app, Some(&auth), &format!("/api/v3/receipt/{mrkey}")).await,
        "Receipt",
        false,
    );
    let recent = ok(
        get(app, Some(&auth), "/api/v3/receipt/recent").await,
        "ReceiptList",
        false,
    );
    assert_eq!(recent["count"], 1);
    let burned = ok(
        post_json(
            app,
            Some(&auth),
            &format!("/api/v3/receipt/{mrkey}/burn"),
            json!({ "continue": true }),
        )
        .await,
        "Receipt",
        false,
    );
    assert_eq!(burned["record"]["state"], "burned");
    assert_unknown(&get(app, Some(&auth), &format!("/api/v3/secret/{mkey}")).await);
    assert_v2_error(
        &get(app, None, "/api/v3/private/recent").await,
        404,
        "NotFound",
        "Not Found",
    );
}

/// A server on a fresh Redis (the server is dropped before the Redis).
async fn on_redis(run: impl AsyncFnOnce(&TestApp)) {
    let redis = RedisServer::start();
    let app = TestApp::spawn_with(&[
        ("ONETIME__STORAGE__BACKEND", "redis"),
        ("ONETIME__STORAGE__REDIS_URL", &redis.url()),
    ])
    .await;
    run(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn every_v2_route_answers_in_its_shape_on_sled() {
    every_v2_route(&TestApp::spawn().await).await;
}

#[tokio::test]
async fn every_v2_route_answers_in_its_shape_on_redis() {
    on_redis(every_v2_route).await;
}

#[tokio::test]
async fn v3_guest_status_and_account_routes_on_sled() {
    v3_routes(&TestApp::spawn().await).await;
}

#[tokio::test]
async fn v3_guest_status_and_account_routes_on_redis() {
    on_redis(v3_routes).await;
}

#[tokio::test]
async fn allow_anonymous_false_switches_guest_creation_off_in_every_version() {
    let app = TestApp::spawn_with(&[("ONETIME__SECRETS__ALLOW_ANONYMOUS", "false")]).await;
    let auth = app.account("only@example.com", None).await;
    app.share(&[("secret", "v1")]).await.assert_not_authorized();
    for (path, code) in [
        ("/api/v2/secret/conceal", "GUEST_CONCEAL_DISABLED"),
        ("/api/v2/guest/secret/conceal", "GUEST_CONCEAL_DISABLED"),
        ("/api/v2/guest/secret/generate", "GUEST_GENERATE_DISABLED"),
        ("/api/v3/guest/secret/conceal", "GUEST_CONCEAL_DISABLED"),
        ("/api/v3/guest/secret/generate", "GUEST_GENERATE_DISABLED"),
    ] {
        let answer = post_json(&app, None, path, json!({ "secret": { "secret": "x" } })).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            answer.text
        );
        conforms("Error", &answer.json);
        assert_eq!(answer.json["error_type"], "GuestRoutesDisabled");
        assert_eq!(answer.json["code"], code, "{path}");
    }
    // Accounts still create, and anyone may still read.
    let mine = conceal(&app, Some(&auth), "/api/v2", json!({ "secret": "acct" })).await;
    let (skey, _) = keys(&mine);
    let revealed = post_continue(&app, &format!("/api/v2/guest/secret/{skey}/reveal")).await;
    assert_eq!(
        ok(revealed, "Secret", true)["record"]["secret_value"],
        "acct"
    );
}

/// A secret made in one version reads, reveals once and burns through the others.
async fn one_secret_every_version(app: &TestApp) {
    // v1 -> v2.
    let (key, mkey) = app.share_ok("from v1", &[("passphrase", "pw-v1-pw")]).await;
    let shown = ok(
        get(app, None, &format!("/api/v2/secret/{key}")).await,
        "Secret",
        true,
    );
    assert_eq!(shown["record"]["has_passphrase"], true);
    let revealed = post_json(
        app,
        None,
        &format!("/api/v2/secret/{key}/reveal"),
        json!({ "passphrase": "pw-v1-pw", "continue": true }),
    )
    .await;
    assert_eq!(
        ok(revealed, "Secret", true)["record"]["secret_value"],
        "from v1"
    );
    app.reveal(&key, Some("pw-v1-pw"))
        .await
        .assert_unknown_secret();
    assert_eq!(app.receipt(&mkey).await.ok()["state"], "received");

    // v2 -> v1 and v3.
    let created = conceal(app, None, "/api/v2", json!({ "secret": "from v2" })).await;
    let (key, rkey) = keys(&created);
    let v1_receipt = app.receipt(&rkey).await.ok();
    assert_eq!(v1_receipt["secret_key"], key.as_str());
    ok(
        get(app, None, &format!("/api/v3/guest/secret/{key}")).await,
        "Secret",
        false,
    );
    assert_eq!(app.reveal(&key, None).await.ok()["value"], "from v2");
    let after = ok(
        get(app, None, &format!("/api/v3/guest/receipt/{rkey}")).await,
        "Receipt",
        false,
    );
    assert_eq!(after["record"]["state"], "revealed");

    // v3 -> burned through v1; v2 and v3 see it gone.
    let created = conceal(app, None, "/api/v3/guest", json!({ "secret": "from v3" })).await;
    let (key, rkey) = keys(&created);
    assert_eq!(app.burn(&rkey, None).await.ok()["state"]["state"], "burned");
    let receipt = ok(
        get(app, None, &format!("/api/v2/receipt/{rkey}")).await,
        "Receipt",
        true,
    );
    assert_eq!(receipt["record"]["state"], "burned");
    assert_unknown(&post_continue(app, &format!("/api/v3/guest/secret/{key}/reveal")).await);
}

#[tokio::test]
async fn one_secret_reads_reveals_and_burns_through_every_version_on_sled() {
    one_secret_every_version(&TestApp::spawn().await).await;
}

#[tokio::test]
async fn one_secret_reads_reveals_and_burns_through_every_version_on_redis() {
    on_redis(one_secret_every_version).await;
}

/// 30 reveals of one secret, a third each through v1, v2 and v3: exactly one gets the value.
async fn cross_version_race(app: &TestApp) {
    for round in 0..3 {
        let value = format!("race {round}");
        let (key, _) = app.share_ok(&value, &[]).await;
        let racers = (0..30).map(|i| {
            let (path, body): (String, Option<Value>) = match i % 3 {
                0 => (format!("/api/v1/secret/{key}"), None),
                1 => (
                    format!("/api/v2/secret/{key}/reveal"),
                    Some(json!({ "continue": true })),
                ),
                _ => (
                    format!("/api/v3/guest/secret/{key}/reveal"),
                    Some(json!({ "continue": true })),
                ),
            };
            let req = match body {
                Some(body) => app.client.post(app.url(&path)).json(&body),
                None => app.client.post(app.url(&path)),
            };
            Answer::of(req)
        });
        let answers = join_all(racers).await;
        let winners: Vec<&Answer> = answers.iter().filter(|a| a.text.contains(&value)).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one reveal");
        for loser in answers.iter().filter(|a| !a.text.contains(&value)) {
            let unknown_v1 = loser.intended == Some(404);
            let unknown_v2 = loser.status == StatusCode::NOT_FOUND
                && loser.json["error_type"] == "RecordNotFound";
            assert!(unknown_v1 || unknown_v2, "{}", loser.text);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reveals_racing_across_v1_v2_and_v3_get_one_value_on_sled() {
    cross_version_race(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reveals_racing_across_v1_v2_and_v3_get_one_value_on_redis() {
    on_redis(cross_version_race).await;
}

#[tokio::test]
async fn the_openapi_descriptions_match_the_schemas_and_list_only_routes_the_server_has() {
    let app = TestApp::spawn().await;
    let auth = app.account("doc@example.com", None).await;
    for version in ["v2", "v3"] {
        let answer = get(&app, None, &format!("/api/{version}/openapi.json")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let doc = answer.json;
        assert_eq!(doc["openapi"], "3.1.0");
        // The derived component schemas and the hand-written JSON Schemas name the same fields.
        for (derived, written) in [
            ("SecretRecord", "SecretRecord"),
            ("SecretDetails", "SecretDetails"),
            ("ReceiptBase", "ReceiptFields"),
            ("ReceiptDetails", "ReceiptDetails"),
            ("ErrorBody", "Error"),
        ] {
            let mut ours: Vec<&String> = doc["components"]["schemas"][derived]["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{derived} in {version}"))
                .keys()
                .collect();
            let mut theirs: Vec<&String> = schemas()["$defs"][written]["properties"]
                .as_object()
                .expect("written schema")
                .keys()
                .collect();
            ours.sort();
            theirs.sort();
            assert_eq!(ours, theirs, "{derived} vs {written}");
        }
        // Every documented operation is served (an unknown route says `NotFound`).
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.len() >= 15, "{version}: {}", paths.len());
        for (path, item) in paths {
            let url = path.replace("{key}", NOBODY);
            for method in item.as_object().expect("item").keys() {
                let req = match method.as_str() {
                    "get" => app.client.get(app.url(&url)),
                    "post" => app.client.post(app.url(&url)).json(&json!({})),
                    "patch" => app.client.patch(app.url(&url)).json(&json!({})),
                    other => panic!("{other} {path}"),
                };
                let answer = Answer::of(req.header("authorization", &auth)).await;
                assert_ne!(answer.json["error_type"], "NotFound", "{method} {path}");
                assert!(
                    answer.status.as_u16() < 500,
                    "{method} {path}: {}",
                    answer.text
                );
            }
        }
    }
}

/// A preview (v2 and v3 show, the web page) marks the receipt `previewed` (v1: `viewed`) and
/// never consumes the secret; a reveal after it still gets the value once. The account's
/// public id is a Basic username in every version, and an id that names nobody is refused.
async fn previews_and_account_ids(app: &TestApp) {
    // Arrange: an account, its public id from `account add`, and Basic by that id.
    let added = crate::helpers::cli(&app.data(), &["account", "add", "id@example.com"]).await;
    let stdout = String::from_utf8_lossy(&added.stdout).into_owned();
    let id = stdout
        .split("id ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("id in the add output")
        .to_owned();
    let token = stdout.lines().last().expect("token line").trim().to_owned();
    assert!(id.starts_with("ac") && id.len() == 66, "{id}");
    let listed = crate::helpers::cli(&app.data(), &["account", "list"]).await;
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&id));
    let by_id = crate::helpers::basic(&id, &token);

    // Basic by id: v1, v2 and v3; an unknown id or a wrong token is refused alike.
    assert_eq!(app.get_as(&by_id, "/api/v1/authcheck").await.status, 200);
    ok(
        get(app, Some(&by_id), "/api/v3/version").await,
        "Version",
        false,
    );
    let nobody = crate::helpers::basic(&format!("ac{}", "0".repeat(64)), &token);
    let wrong = crate::helpers::basic(&id, "not-the-token");
    for auth in [&nobody, &wrong] {
        assert_v2_error(
            &get(app, Some(auth), "/api/v2/version").await,
            401,
            "Unauthorized",
            "Not authorized",
        );
    }
    let created = conceal(app, Some(&by_id), "/api/v2", json!({ "secret": "peek" })).await;
    assert_eq!(created["record"]["receipt"]["custid"], "id@example.com");
    let (skey, rkey) = keys(&created);
    async fn receipt(app: &TestApp, rkey: String) -> Value {
        ok(
            get(app, None, &format!("/api/v2/receipt/{rkey}")).await,
            "Receipt",
            true,
        )
    }
    assert_eq!(receipt(app, rkey.clone()).await["record"]["state"], "new");

    // Act: a v2 show.
    let shown = ok(
        get(app, None, &format!("/api/v2/secret/{skey}")).await,
        "Secret",
        true,
    );

    // Assert: previewed everywhere, and nothing consumed.
    assert_eq!(shown["record"]["state"], "previewed");
    assert_eq!(shown["record"]["is_previewed"], true);
    let record = receipt(app, rkey.clone()).await["record"].clone();
    assert_eq!(record["state"], "previewed");
    assert_eq!(record["is_previewed"], true);
    assert_eq!(record["secret_state"], "previewed");
    assert!(record["previewed"].as_u64().is_some(), "{record}");
    assert_eq!(record["viewed"], record["previewed"]);
    let v1 = app.get_as(&by_id, &format!("/api/v1/private/{rkey}")).await;
    assert_eq!(v1.json["state"], "viewed", "{}", v1.text);
    let revealed = post_continue(app, &format!("/api/v2/secret/{skey}/reveal")).await;
    assert_eq!(
        ok(revealed, "Secret", true)["record"]["secret_value"],
        "peek"
    );
    let record = receipt(app, rkey).await["record"].clone();
    assert_eq!(record["state"], "revealed");
    assert_eq!(record["is_previewed"], false);

    // The web page and a v3 show are previews too (a bot's GET), and consume nothing.
    for preview in ["/secret/", "/api/v3/guest/secret/"] {
        let created = conceal(app, None, "/api/v2/guest", json!({ "secret": "bot" })).await;
        let (skey, rkey) = keys(&created);
        let page = Answer::of(app.client.get(app.url(&format!("{preview}{skey}")))).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let record = receipt(app, rkey).await["record"].clone();
        assert_eq!(record["state"], "previewed", "{preview}");
        let status = get(app, None, &format!("/api/v2/secret/{skey}/status")).await;
        assert_ne!(
            ok(status, "SecretStatus", true)["record"]["state"],
            "unknown"
        );
    }

    // v3 serves upstream's incoming routes as /api/incoming does.
    let v3 = get(app, None, "/api/v3/incoming/config").await;
    let plain = get(app, None, "/api/incoming/config").await;
    assert_eq!((v3.status, &v3.json), (plain.status, &plain.json));
}

#[tokio::test]
async fn previews_mark_receipts_and_account_ids_authenticate_on_sled() {
    previews_and_account_ids(&TestApp::spawn().await).await;
}

#[tokio::test]
async fn previews_mark_receipts_and_account_ids_authenticate_on_redis() {
    on_redis(previews_and_account_ids).await;
}
