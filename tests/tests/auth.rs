//! The whole auth flow through the real router against real Postgres.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{encode, EncodingKey, Header};
use saasit_tests::{json, spawn_app, spawn_app_with, Req, TestApp};

const PASSWORD: &str = "correct horse 9";

async fn signed_in(app: &TestApp, email: &str) -> (String, String) {
    let body = app.register(email, PASSWORD).await;
    (
        body["accessToken"].as_str().expect("access").to_owned(),
        body["refreshToken"].as_str().expect("refresh").to_owned(),
    )
}

#[tokio::test]
async fn register_login_me_refresh_logout() {
    let app = spawn_app().await;

    app.send(Req::post("/api/v1/auth/register").json(&json!({
        "email": "  Ada@Example.COM ", "password": PASSWORD, "name": "Ada Lovelace"
    })))
    .await
    .expect(202, None);

    let login = app
        .login("ADA@example.com", PASSWORD)
        .await
        .expect(200, None);
    let reg = &login;
    assert_eq!(reg.body["user"]["email"], "ada@example.com");
    assert_eq!(reg.body["user"]["name"], "Ada Lovelace");
    assert_eq!(reg.body["user"]["tier"], "FREE");
    assert_eq!(reg.body["user"]["emailVerified"], false);
    assert_eq!(reg.body["user"]["hasPassword"], true);
    assert_eq!(reg.body["tokenType"], "Bearer");
    assert_eq!(reg.body["expiresIn"], 900);
    assert_eq!(reg.body["refreshExpiresIn"], 604_800);
    assert!(reg.body["deviceToken"].is_string());
    assert!(reg.body.get("passwordHash").is_none() && !reg.text.contains("argon2"));
    let access = login.body["accessToken"]
        .as_str()
        .expect("access")
        .to_owned();
    let refresh = login.body["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();

    let me = app
        .send(Req::get("/api/v1/auth/me").bearer(&access))
        .await
        .expect(200, None);
    assert_eq!(me.body["email"], "ada@example.com");
    assert_eq!(me.body["id"], reg.body["user"]["id"]);

    let patched = app
        .send(
            Req::patch("/api/v1/auth/me")
                .bearer(&access)
                .json(&json!({ "name": "Countess", "avatarUrl": "https://cdn.example.com/a.png" })),
        )
        .await
        .expect(200, None);
    assert_eq!(patched.body["name"], "Countess");
    assert_eq!(patched.body["avatarUrl"], "https://cdn.example.com/a.png");
    let cleared = app
        .send(
            Req::patch("/api/v1/auth/me")
                .bearer(&access)
                .json(&json!({ "avatarUrl": null })),
        )
        .await
        .expect(200, None);
    assert_eq!(cleared.body["avatarUrl"], serde_json::Value::Null);
    assert_eq!(cleared.body["name"], "Countess");

    let rotated = app.refresh(&refresh).await.expect(200, None);
    let new_access = rotated.body["accessToken"].as_str().expect("access");
    let new_refresh = rotated.body["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(new_refresh, refresh);
    app.send(Req::get("/api/v1/auth/me").bearer(new_access))
        .await
        .expect(200, None);

    app.send(Req::post("/api/v1/auth/logout").json(&json!({ "refreshToken": new_refresh })))
        .await
        .expect(204, None);
    // Idempotent, and the session is gone.
    app.send(Req::post("/api/v1/auth/logout").json(&json!({ "refreshToken": new_refresh })))
        .await
        .expect(204, None);
    app.refresh(&new_refresh)
        .await
        .expect(401, Some("TOKEN_REVOKED"));
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    let (_, first) = signed_in(&app, "grace@example.com").await;

    let second = app.refresh(&first).await.expect(200, None).body["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    // The stolen, already-rotated token comes back, after the grace window.
    sqlx::query("UPDATE refresh_tokens SET rotated_at = now() - interval '1 minute' WHERE rotated_at IS NOT NULL")
        .execute(&app.state.db)
        .await
        .expect("age the rotation");
    let reuse = app.refresh(&first).await.expect(401, Some("TOKEN_REVOKED"));
    assert_eq!(reuse.body["error"]["details"]["reason"], "reuse_detected");
    // The legitimate holder's newer token is dead too.
    app.refresh(&second)
        .await
        .expect(401, Some("TOKEN_REVOKED"));

    // Another sign-in of the same user is a separate family and unaffected.
    let other = app
        .login("grace@example.com", PASSWORD)
        .await
        .expect(200, None);
    app.refresh(other.body["refreshToken"].as_str().expect("refresh"))
        .await
        .expect(200, None);
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_get_the_same_pair() {
    let app = spawn_app().await;
    let (_, refresh) = signed_in(&app, "race@example.com").await;
    // Two tabs, or a retry after a lost response: not theft.
    let (a, b, c) = tokio::join!(
        app.refresh(&refresh),
        app.refresh(&refresh),
        app.refresh(&refresh)
    );
    for r in [&a, &b, &c] {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(a.body["refreshToken"], b.body["refreshToken"]);
    assert_eq!(a.body["accessToken"], c.body["accessToken"]);
    assert_ne!(a.body["refreshToken"], json!(refresh));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens")
        .fetch_one(&app.state.db)
        .await
        .expect("count");
    assert_eq!(stored, 2, "one successor, stored once");
    // The successor works and the session goes on.
    let next = a.body["refreshToken"].as_str().expect("refresh");
    app.refresh(next).await.expect(200, None);

    // Without a grace window, the second presentation is reuse.
    let strict = spawn_app_with(&[("REFRESH_REUSE_GRACE_SECS", "0")]).await;
    let (_, refresh) = signed_in(&strict, "strict@example.com").await;
    strict.refresh(&refresh).await.expect(200, None);
    strict
        .refresh(&refresh)
        .await
        .expect(401, Some("TOKEN_REVOKED"));
}

#[tokio::test]
async fn bad_registrations_get_field_errors() {
    let app = spawn_app().await;
    let invalid_email = app
        .send(
            Req::post("/api/v1/auth/register")
                .json(&json!({ "email": "not-an-email", "password": PASSWORD })),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert_eq!(
        invalid_email.body["error"]["details"]["fields"][0]["field"],
        "email"
    );

    // The length is the document's rule (400); strength is a rule no schema
    // states (422 WEAK_PASSWORD). Both name the field and never echo it.
    for (weak, status, code) in [
        ("short1", 400, "VALIDATION_ERROR"),
        ("onlyletterslong", 422, "WEAK_PASSWORD"),
        ("12345678901234", 422, "WEAK_PASSWORD"),
        ("aaaaaaaaaaa1", 422, "WEAK_PASSWORD"),
        ("my-wilma-password", 422, "WEAK_PASSWORD"),
    ] {
        let r = app
            .send(
                Req::post("/api/v1/auth/register")
                    .json(&json!({ "email": "wilma@example.com", "password": weak })),
            )
            .await
            .expect(status, Some(code));
        assert_eq!(
            r.body["error"]["details"]["fields"][0]["field"], "password",
            "{weak}"
        );
        assert!(
            !r.text.contains(weak),
            "the password is echoed back: {}",
            r.text
        );
    }

    app.register("taken@example.com", PASSWORD).await;
    // Signing up again answers as a new sign-up does (no enumeration).
    app.send(
        Req::post("/api/v1/auth/register")
            .json(&json!({ "email": "TAKEN@example.com", "password": "another pass 7" })),
    )
    .await
    .expect(202, None);
    // The original account is untouched.
    app.login("taken@example.com", PASSWORD)
        .await
        .expect(200, None);
    app.login("taken@example.com", "another pass 7")
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));

    let bad_profile = app
        .send(
            Req::patch("/api/v1/auth/me")
                .bearer(
                    app.login("taken@example.com", PASSWORD).await.body["accessToken"]
                        .as_str()
                        .expect("t"),
                )
                .json(&json!({ "name": "", "avatarUrl": "ftp://x" })),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert_eq!(
        bad_profile.body["error"]["details"]["fields"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = spawn_app().await;
    app.register("lin@example.com", PASSWORD).await;
    let wrong = app
        .login("lin@example.com", "wrong pass 1")
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    let unknown = app
        .login("nobody@example.com", PASSWORD)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    assert_eq!(
        wrong.body["error"]["message"],
        unknown.body["error"]["message"]
    );
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn failed_logins_are_throttled_per_email() {
    let app = spawn_app().await;
    app.register("target@example.com", PASSWORD).await;
    for i in 0..5 {
        let ip = format!("10.0.0.{i}");
        app.send(
            Req::post("/api/v1/auth/login")
                .from_ip(&ip)
                .json(&json!({ "email": "target@example.com", "password": "guess 12345" })),
        )
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    }
    // Blocked even with the right password, from a fresh address.
    let blocked = app
        .send(
            Req::post("/api/v1/auth/login")
                .from_ip("10.0.1.1")
                .json(&json!({ "email": "target@example.com", "password": PASSWORD })),
        )
        .await
        .expect(429, Some("RATE_LIMITED"));
    let retry: u64 = blocked
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    // The rest of the 15-minute window (and a second of margin).
    assert!((1..=901).contains(&retry), "{retry}");
    assert_eq!(blocked.body["error"]["details"]["scope"], "email");
    // Other accounts are unaffected.
    app.register("other@example.com", PASSWORD).await;
    app.login("other@example.com", PASSWORD)
        .await
        .expect(200, None);
}

#[tokio::test]
async fn failed_logins_are_throttled_per_client_ip_and_a_success_is_not_a_failure() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    app.register("a@example.com", PASSWORD).await;
    // Two failures then a success, which takes its own count back: one more
    // failure is still within the limit.
    for _ in 0..2 {
        app.login("a@example.com", "nope nope 1")
            .await
            .expect(401, Some("INVALID_CREDENTIALS"));
    }
    app.login("a@example.com", PASSWORD).await.expect(200, None);
    app.login("a@example.com", "nope nope 1")
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));

    // One address spraying many emails is stopped after 3 failures.
    for n in 0..3 {
        app.send(Req::post("/api/v1/auth/login").from_ip("192.0.2.7").json(
            &json!({ "email": format!("user{n}@example.com"), "password": "spray spray 1" }),
        ))
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    }
    let blocked = app
        .send(
            Req::post("/api/v1/auth/login")
                .from_ip("192.0.2.7")
                .json(&json!({ "email": "user9@example.com", "password": "spray spray 1" })),
        )
        .await
        .expect(429, Some("RATE_LIMITED"));
    assert_eq!(blocked.body["error"]["details"]["scope"], "ip");
    assert!(blocked.header("retry-after").is_some());
}

fn forge(claims: &serde_json::Value, secret: &str) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signs")
}

fn claims_for(user_id: &str, kind: &str, exp_offset: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": user_id, "type": kind, "jti": uuid::Uuid::now_v7(), "iat": now,
        "exp": now + exp_offset, "iss": "saasit", "sid": uuid::Uuid::now_v7()
    })
}

#[tokio::test]
async fn bad_tokens_are_refused_with_exact_codes() {
    let app = spawn_app().await;
    let (access, refresh) = signed_in(&app, "tok@example.com").await;
    let me = app
        .send(Req::get("/api/v1/auth/me").bearer(&access))
        .await
        .expect(200, None);
    let user_id = me.body["id"].as_str().expect("id").to_owned();

    app.send(Req::get("/api/v1/auth/me"))
        .await
        .expect(401, Some("UNAUTHORIZED"));
    app.send(Req::get("/api/v1/auth/me").header("authorization", "Basic Zm9vOmJhcg=="))
        .await
        .expect(401, Some("UNAUTHORIZED"));
    app.send(Req::get("/api/v1/auth/me").bearer("garbage"))
        .await
        .expect(401, Some("TOKEN_INVALID"));

    // Expired, correctly signed.
    let expired = forge(&claims_for(&user_id, "access", -3600), &app.jwt_secret);
    app.send(Req::get("/api/v1/auth/me").bearer(&expired))
        .await
        .expect(401, Some("TOKEN_EXPIRED"));

    // Forged: signed with another key.
    let forged = forge(
        &claims_for(&user_id, "access", 600),
        "an-attacker-key-that-is-long-enough!!",
    );
    app.send(Req::get("/api/v1/auth/me").bearer(&forged))
        .await
        .expect(401, Some("TOKEN_INVALID"));

    // alg: none, no signature.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims_for(&user_id, "access", 600).to_string());
    let none = format!("{header}.{payload}.");
    app.send(Req::get("/api/v1/auth/me").bearer(&none))
        .await
        .expect(401, Some("TOKEN_INVALID"));

    // Wrong issuer.
    let mut foreign = claims_for(&user_id, "access", 600);
    foreign["iss"] = json!("someone-else");
    let foreign = forge(&foreign, &app.jwt_secret);
    app.send(Req::get("/api/v1/auth/me").bearer(&foreign))
        .await
        .expect(401, Some("TOKEN_INVALID"));

    // Wrong type both ways.
    app.send(Req::get("/api/v1/auth/me").bearer(&refresh))
        .await
        .expect(401, Some("TOKEN_INVALID"));
    app.refresh(&access)
        .await
        .expect(401, Some("TOKEN_INVALID"));

    // A correctly signed refresh token we never stored.
    let unknown = forge(&claims_for(&user_id, "refresh", 600), &app.jwt_secret);
    app.refresh(&unknown)
        .await
        .expect(401, Some("TOKEN_INVALID"));
    app.send(Req::post("/api/v1/auth/logout").json(&json!({ "refreshToken": unknown })))
        .await
        .expect(401, Some("TOKEN_INVALID"));
    let expired_refresh = forge(&claims_for(&user_id, "refresh", -3600), &app.jwt_secret);
    app.refresh(&expired_refresh)
        .await
        .expect(401, Some("TOKEN_EXPIRED"));

    // The real refresh token still works after all that.
    app.refresh(&refresh).await.expect(200, None);
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_hashed() {
    let app = spawn_app().await;
    let (_, refresh) = signed_in(&app, "hash@example.com").await;
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM refresh_tokens")
        .fetch_all(&app.state.db)
        .await
        .expect("query");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].len(), 32);
    assert_ne!(stored[0], refresh.as_bytes());
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&app.state.db)
        .await
        .expect("query");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
}
