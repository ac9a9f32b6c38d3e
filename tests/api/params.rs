//! Parameters from every source real clients use, and every kind of bad input.

use std::io::Write;

use reqwest::multipart::Form;
use serde_json::json;

use crate::helpers::{Answer, TestApp};

async fn reveal_value(app: &TestApp, body: serde_json::Value) -> serde_json::Value {
    app.reveal_shared(&body).await["value"].clone()
}

#[tokio::test]
async fn share_accepts_query_urlencoded_multipart_and_json() {
    let app = TestApp::spawn().await;
    let url = app.url("/api/v1/share");

    let body = Answer::of(
        app.client
            .post(format!("{url}?secret=from%20query&ttl=120")),
    )
    .await
    .ok();
    assert_eq!(body["ttl"], 120);
    assert_eq!(reveal_value(&app, body).await, "from query");

    let body = app
        .share(&[("secret", "from form & more"), ("ttl", "180")])
        .await
        .ok();
    assert_eq!(body["ttl"], 180);
    assert_eq!(reveal_value(&app, body).await, "from form & more");

    let form = Form::new()
        .text("secret", "from multipart")
        .text("ttl", "240");
    let body = Answer::of(app.client.post(&url).multipart(form)).await.ok();
    assert_eq!(body["ttl"], 240);
    assert_eq!(reveal_value(&app, body).await, "from multipart");

    let body = Answer::of(
        app.client
            .post(&url)
            .json(&json!({"secret": "from json ✓", "ttl": 300, "passphrase": null})),
    )
    .await
    .ok();
    assert_eq!(body["ttl"], 300);
    assert_eq!(body["passphrase_required"], false);
    assert_eq!(reveal_value(&app, body).await, "from json ✓");
}

#[tokio::test]
async fn body_wins_over_query() {
    let app = TestApp::spawn().await;
    let body = Answer::of(
        app.client
            .post(app.url("/api/v1/share?secret=query&ttl=3600"))
            .form(&[("secret", "body")]),
    )
    .await
    .ok();
    assert_eq!(body["ttl"], 3600, "query fills what the body lacks");
    assert_eq!(reveal_value(&app, body).await, "body");
}

#[tokio::test]
async fn passphrase_for_reveal_comes_from_json_too() {
    let app = TestApp::spawn().await;
    let (key, _) = app.share_guarded("json pass", "p4ss word").await;
    assert_eq!(
        Answer::of(
            app.client
                .post(app.url(&format!("/api/v1/secret/{key}")))
                .json(&json!({"passphrase": "p4ss word"}))
        )
        .await
        .ok()["value"],
        "json pass"
    );
}

async fn raw_post(app: &TestApp, content_type: &str, body: Vec<u8>) -> Answer {
    Answer::of(
        app.client
            .post(app.url("/api/v1/share"))
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

const NOT_UTF8: &str = "Parameters must be valid UTF-8";
const BAD_JSON: &str = "Malformed JSON body";
const BAD_MULTIPART: &str = "Malformed multipart body";
const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const MULTIPART: &str = "multipart/form-data; boundary=XyZ";
/// The start of a multipart body with one field, `secret`.
const SECRET_PART: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"secret\"\r\n\r\n";

/// Posts `body` as `content_type` to the share endpoint and asserts the refusal 400 `message`.
async fn assert_refused(app: &TestApp, content_type: &str, body: &[u8], message: &str) {
    raw_post(app, content_type, body.to_vec())
        .await
        .assert_error(400, message);
}

#[tokio::test]
async fn invalid_utf8_is_refused_in_every_encoding() {
    let app = TestApp::spawn().await;
    let bad = [0xff, 0xfe];
    assert_refused(&app, FORM, b"secret=%ff%fe%fd", NOT_UTF8).await;
    let json = [&b"{\"secret\":\""[..], &bad, b"\"}"].concat();
    assert_refused(&app, JSON, &json, BAD_JSON).await;
    let multipart = [SECRET_PART, &bad, b"\r\n--XyZ--\r\n"].concat();
    assert_refused(&app, MULTIPART, &multipart, NOT_UTF8).await;
    Answer::of(app.client.post(app.url("/api/v1/share?secret=%c3%28")))
        .await
        .assert_error(400, NOT_UTF8);
}

#[tokio::test]
async fn malformed_bodies_get_clear_errors() {
    let app = TestApp::spawn().await;
    assert_refused(&app, JSON, b"{\"secret\": ", BAD_JSON).await;
    assert_refused(&app, JSON, b"[\"secret\"]", BAD_JSON).await;
    let unterminated = [SECRET_PART, b"unterminated"].concat();
    assert_refused(&app, MULTIPART, &unterminated, BAD_MULTIPART).await;
    assert_refused(&app, "multipart/form-data", b"no boundary", BAD_MULTIPART).await;
    let unsupported = raw_post(&app, "text/csv", b"secret,x".to_vec()).await;
    assert_eq!(unsupported.intended, Some(415));
}

#[tokio::test]
async fn a_ten_megabyte_body_gets_a_clean_error() {
    let app = TestApp::spawn().await;
    let mut body = b"secret=".to_vec();
    body.resize(10 * 1024 * 1024, b'a');
    let answer = raw_post(&app, "application/x-www-form-urlencoded", body).await;
    answer.assert_error(413, "Secret value exceeds the maximum size of 10000 bytes");

    // Without a Content-Length up front (chunked), the limit still holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..160).map(|_| Ok(vec![b'a'; 64 * 1024])).collect();
    let stream = futures_util::stream::iter(chunks);
    let resp = app
        .client
        .post(app.url("/api/v1/share"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    // The server may answer before the client finishes sending and close the connection;
    // either way it must not have stored anything or crashed.
    if let Ok(resp) = resp {
        Answer::from(resp)
            .await
            .assert_error(413, "Secret value exceeds the maximum size of 10000 bytes");
    }
    app.get("/api/v1/status").await.ok();
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_without_inflating() {
    let app = TestApp::spawn().await;
    // 100 MB of zeros compresses to about 100 KB; build it with the flate format by hand-free
    // means: a stored gzip stream would be big, so use the system gzip.
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        let zeros = vec![b'a'; 1024 * 1024];
        stdin.write_all(b"secret=").expect("write");
        for _ in 0..100 {
            stdin.write_all(&zeros).expect("write");
        }
    }
    let bomb = child.wait_with_output().expect("gzip output").stdout;
    assert!(bomb.len() < 200 * 1024, "compressed to {}", bomb.len());
    let answer = Answer::of(
        app.client
            .post(app.url("/api/v1/share"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("content-encoding", "gzip")
            .body(bomb),
    )
    .await;
    assert_eq!(answer.intended, Some(415), "{}", answer.text);
    assert!(answer.json["message"]
        .as_str()
        .expect("message")
        .contains("not supported"));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_not_found() {
    let app = TestApp::spawn().await;
    for path in ["/api/v1/nope", "/api/v9/share", "/api"] {
        let answer = app.get(path).await;
        assert_eq!(answer.status, 404);
        assert_eq!(answer.json, json!({"error": "Not Found"}), "{path}");
    }
    // v2 and v3 say it in their own shape (tests/api/v2.rs).
    let answer = app.get("/api/v2/share").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json["error_type"], "NotFound");
    // Outside the API, browsers get a page.
    let page = app.get("/nothing/here").await;
    assert_eq!(page.status, 404);
    assert!(page.text.contains("id=\"not-found\""), "{}", page.text);
    let answer = app.get(&format!("/api/v1/secret/{}", "a".repeat(62))).await;
    assert_eq!(answer.json, json!({"error": "Not Found"}));
}

#[tokio::test]
async fn status_is_nominal() {
    let app = TestApp::spawn().await;
    let body = app.get("/api/v1/status").await.ok();
    assert_eq!(body, json!({"status": "nominal", "locale": "en"}));
}

#[tokio::test]
async fn any_authorization_header_is_refused_while_no_accounts_exist() {
    let app = TestApp::spawn().await;
    let headers = [
        "Basic YWxpY2VAZXhhbXBsZS5jb206dG9rZW4=",
        "Basic !!!notbase64",
        "Bearer abc",
        "",
    ];
    for value in headers {
        app.get_as(value, "/api/v1/status")
            .await
            .assert_not_authorized();
        app.share_as(value, &[("secret", "s")])
            .await
            .assert_not_authorized();
    }
    app.get("/api/v1/authcheck").await.assert_not_authorized();
    for prefix in ["private", "metadata", "receipt"] {
        app.get(&format!("/api/v1/{prefix}/recent"))
            .await
            .assert_not_authorized();
    }
}
