//! Account recovery and proof of address: sign-up that tells nobody who has
//! an account, email verification and what it unlocks, password reset and
//! change, and one-time codes — with every abuse case refused.

use saasit_tests::{json, spawn_app, spawn_app_with, Req, TestApp, TestResponse};

const PASSWORD: &str = "correct horse 9";

/// The emails sent to `to`, oldest first: (subject, text).
async fn mail_to(app: &TestApp, to: &str) -> Vec<(String, String)> {
    app.outbox()
        .await
        .into_iter()
        .filter(|s| s.email.to == to)
        .map(|s| (s.email.subject, s.email.text))
        .collect()
}

/// The token of the newest link to `to` whose subject has `subject`.
async fn link_token(app: &TestApp, to: &str, subject: &str) -> String {
    let mail = mail_to(app, to).await;
    let (_, text) = mail
        .iter()
        .rev()
        .find(|(s, _)| s.contains(subject))
        .unwrap_or_else(|| panic!("no {subject:?} email to {to}: {mail:?}"));
    let at = text.find("#token=").expect("a link") + "#token=".len();
    text[at..at + 64].to_owned()
}

/// The six-digit code in the newest sign-in code email to `to`.
async fn code_for(app: &TestApp, to: &str) -> String {
    let mail = mail_to(app, to).await;
    let (_, text) = mail
        .iter()
        .rev()
        .find(|(s, _)| s.contains("sign-in code"))
        .unwrap_or_else(|| panic!("no code to {to}"));
    let at = text.find("code is ").expect("a code") + "code is ".len();
    text[at..at + 6].to_owned()
}

/// Follows a verification link as the holder of `token` (the web app sends it).
async fn verify(app: &TestApp, token: &str, body: serde_json::Value) -> TestResponse {
    app.send(
        Req::post("/api/v1/auth/verify-email")
            .bearer(token)
            .json(&body),
    )
    .await
}

async fn post(app: &TestApp, path: &str, body: serde_json::Value) -> TestResponse {
    app.send(Req::post(path).json(&body)).await
}

fn token_of(r: &TestResponse, field: &str) -> String {
    r.body[field].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn sign_up_answers_the_same_for_a_taken_address_and_verification_unlocks_the_gated_actions() {
    let app = spawn_app().await;
    let fresh = app
        .sign_up("new@example.com", PASSWORD)
        .await
        .expect(202, None);
    app.register("taken@example.com", PASSWORD).await;
    let taken = app
        .sign_up("taken@example.com", "some other pass 4")
        .await
        .expect(202, None);
    assert_eq!(fresh.body, taken.body, "the answers must not differ");
    // The owner of the taken address hears about it; the new one gets a link.
    let notes = mail_to(&app, "taken@example.com").await;
    let (subject, text) = notes.last().expect("a note");
    assert!(subject.contains("already have"), "{notes:?}");
    assert!(!text.contains("#token="));
    app.login("taken@example.com", "some other pass 4")
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));

    // Unverified: signed in, but not trusted with people, money or keys.
    let login = app
        .login("new@example.com", PASSWORD)
        .await
        .expect(200, None);
    assert_eq!(login.body["user"]["emailVerified"], false);
    let token = token_of(&login, "accessToken");
    let team = app.team(&token, "Lab").await;
    let refused = app
        .send(
            Req::post(&format!("/api/v1/workspaces/{team}/invitations"))
                .bearer(&token)
                .json(&json!({"email": "friend@example.com", "role": "editor"})),
        )
        .await
        .expect(403, Some("EMAIL_NOT_VERIFIED"));
    assert_eq!(refused.body["error"]["details"]["action"], "inviteMembers");
    let refused = app
        .send(
            Req::post("/api/v1/api-keys")
                .bearer(&token)
                .json(&json!({"name": "ci", "scopes": ["workflows:read"]})),
        )
        .await
        .expect(403, Some("EMAIL_NOT_VERIFIED"));
    assert_eq!(refused.body["error"]["details"]["action"], "createApiKey");

    // A new link retires the first; the first is then refused as used.
    let first = link_token(&app, "new@example.com", "Verify").await;
    app.send(Req::post("/api/v1/auth/verify-email/resend").bearer(&token))
        .await
        .expect(202, None);
    let second = link_token(&app, "new@example.com", "Verify").await;
    assert_ne!(first, second);
    verify(&app, &token, json!({"token": first}))
        .await
        .expect(410, Some("LINK_USED"));
    let verified = verify(&app, &token, json!({"token": second}))
        .await
        .expect(200, None);
    assert_eq!(verified.body["emailVerified"], true);
    // Replayed: refused, and nothing changes.
    verify(&app, &token, json!({"token": second}))
        .await
        .expect(410, Some("LINK_USED"));
    verify(&app, &token, json!({"token": "0".repeat(64)}))
        .await
        .expect(404, Some("NOT_FOUND"));
    verify(&app, &token, json!({"token": "short"}))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    app.send(Req::post("/api/v1/auth/verify-email/resend").bearer(&token))
        .await
        .expect(409, Some("CONFLICT"));
    // Now the gated actions work.
    app.send(
        Req::post(&format!("/api/v1/workspaces/{team}/invitations"))
            .bearer(&token)
            .json(&json!({"email": "friend@example.com", "role": "editor"})),
    )
    .await
    .expect(201, None);

    // An expired link is told apart from an unknown one.
    app.sign_up("late@example.com", PASSWORD)
        .await
        .expect(202, None);
    let late = link_token(&app, "late@example.com", "Verify").await;
    let late_token = token_of(
        &app.login("late@example.com", PASSWORD)
            .await
            .expect(200, None),
        "accessToken",
    );
    // Followed by someone signed in to another account: nothing happens, and
    // the link still works for its own account.
    verify(&app, &token, json!({"token": late}))
        .await
        .expect(404, Some("NOT_FOUND"));
    post(&app, "/api/v1/auth/verify-email", json!({"token": late}))
        .await
        .expect(401, Some("UNAUTHORIZED"));
    sqlx::query("UPDATE account_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.state.db)
        .await
        .expect("expire");
    verify(&app, &late_token, json!({"token": late}))
        .await
        .expect(410, Some("LINK_EXPIRED"));
    // Links are stored only as hashes.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM account_tokens")
        .fetch_all(&app.state.db)
        .await
        .expect("hashes");
    assert!(stored.iter().all(|h| h.len() == 32 && h != late.as_bytes()));
}

#[tokio::test]
async fn an_unverified_account_cannot_take_an_invited_seat() {
    let app = spawn_app().await;
    let (_, owner) = app.user("owner@example.com").await;
    let team = app.team(&owner, "Lab").await;
    app.send(
        Req::post(&format!("/api/v1/workspaces/{team}/invitations"))
            .bearer(&owner)
            .json(&json!({"email": "victim@example.com", "role": "editor"})),
    )
    .await
    .expect(201, None);
    // Someone signs up with the invited address without owning it.
    app.sign_up("victim@example.com", PASSWORD)
        .await
        .expect(202, None);
    let squatter = token_of(
        &app.login("victim@example.com", PASSWORD)
            .await
            .expect(200, None),
        "accessToken",
    );
    let invite = app
        .outbox()
        .await
        .into_iter()
        .rev()
        .find(|s| s.email.subject.contains("invited you"))
        .expect("invitation");
    let at = invite.email.text.find("token=").expect("link") + "token=".len();
    let token = &invite.email.text[at..at + 64];
    app.send(
        Req::post("/api/v1/invitations/accept")
            .bearer(&squatter)
            .json(&json!({"token": token})),
    )
    .await
    .expect(403, Some("EMAIL_NOT_VERIFIED"));
}

#[tokio::test]
async fn password_reset_works_once_signs_everyone_out_and_never_tells_who_has_an_account() {
    let app = spawn_app().await;
    let first = app.register("rita@example.com", PASSWORD).await;
    let old_refresh = first["refreshToken"].as_str().expect("refresh").to_owned();
    let old_access = first["accessToken"].as_str().expect("access").to_owned();
    let key = app
        .send(
            Req::post("/api/v1/api-keys")
                .bearer(&old_access)
                .json(&json!({"name": "ci", "scopes": ["workflows:read"]})),
        )
        .await
        .expect(201, None)
        .body["secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    let known = post(
        &app,
        "/api/v1/auth/password/forgot",
        json!({"email": "Rita@example.com"}),
    )
    .await
    .expect(202, None);
    let unknown = post(
        &app,
        "/api/v1/auth/password/forgot",
        json!({"email": "nobody@example.com"}),
    )
    .await
    .expect(202, None);
    assert_eq!(known.body, unknown.body);
    // The unknown address is told by email, not in the answer.
    let told = mail_to(&app, "nobody@example.com").await;
    assert!(told[0].1.contains("there is none"), "{told:?}");
    let token = link_token(&app, "rita@example.com", "Reset").await;
    let expires: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT expires_at FROM account_tokens WHERE purpose = 'reset_password'",
    )
    .fetch_one(&app.state.db)
    .await
    .expect("expiry");
    let minutes = (expires - chrono::Utc::now()).num_minutes();
    assert!((29..=30).contains(&minutes), "{minutes}");

    // A weak password is refused and the link still works.
    post(
        &app,
        "/api/v1/auth/password/reset",
        json!({"token": token, "password": "aaaaaaaaaaa1"}),
    )
    .await
    .expect(422, Some("WEAK_PASSWORD"));
    post(
        &app,
        "/api/v1/auth/password/reset",
        json!({"token": token, "password": "brand new horse 5"}),
    )
    .await
    .expect(204, None);
    // Every session is signed out (its access tokens at once, and the
    // account's API keys); the old password is gone; the new one works.
    app.refresh(&old_refresh)
        .await
        .expect(401, Some("TOKEN_REVOKED"));
    app.send(Req::get("/api/v1/auth/me").bearer(&old_access))
        .await
        .expect(401, Some("TOKEN_REVOKED"));
    app.send(Req::get("/api/v1/workflows").bearer(&key))
        .await
        .expect(401, Some("TOKEN_REVOKED"));
    app.login("rita@example.com", PASSWORD)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    app.login("rita@example.com", "brand new horse 5")
        .await
        .expect(200, None);
    // Replay of the used link.
    post(
        &app,
        "/api/v1/auth/password/reset",
        json!({"token": token, "password": "another horse 6"}),
    )
    .await
    .expect(410, Some("LINK_USED"));
    // Two links: only the newest works, and not after 30 minutes.
    post(
        &app,
        "/api/v1/auth/password/forgot",
        json!({"email": "rita@example.com"}),
    )
    .await
    .expect(202, None);
    let older = link_token(&app, "rita@example.com", "Reset").await;
    post(
        &app,
        "/api/v1/auth/password/forgot",
        json!({"email": "rita@example.com"}),
    )
    .await
    .expect(202, None);
    let newest = link_token(&app, "rita@example.com", "Reset").await;
    post(
        &app,
        "/api/v1/auth/password/reset",
        json!({"token": older, "password": "another horse 6"}),
    )
    .await
    .expect(410, Some("LINK_USED"));
    sqlx::query(
        "UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL",
    )
    .execute(&app.state.db)
    .await
    .expect("expire");
    post(
        &app,
        "/api/v1/auth/password/reset",
        json!({"token": newest, "password": "another horse 6"}),
    )
    .await
    .expect(410, Some("LINK_EXPIRED"));
}

#[tokio::test]
async fn two_resets_racing_with_one_link_change_the_password_once() {
    let app = spawn_app().await;
    app.register("twin@example.com", PASSWORD).await;
    post(
        &app,
        "/api/v1/auth/password/forgot",
        json!({"email": "twin@example.com"}),
    )
    .await
    .expect(202, None);
    let token = link_token(&app, "twin@example.com", "Reset").await;
    let (a, b) = tokio::join!(
        post(
            &app,
            "/api/v1/auth/password/reset",
            json!({"token": token, "password": "first horse 11"})
        ),
        post(
            &app,
            "/api/v1/auth/password/reset",
            json!({"token": token, "password": "second horse 22"})
        ),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 410], "{} / {}", a.text, b.text);
    let winner = if a.status == 204 {
        "first horse 11"
    } else {
        "second horse 22"
    };
    app.login("twin@example.com", winner)
        .await
        .expect(200, None);
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_signs_out_the_other_sessions() {
    let app = spawn_app().await;
    let here = app.register("cam@example.com", PASSWORD).await;
    let there = app
        .login("cam@example.com", PASSWORD)
        .await
        .expect(200, None);
    let access = here["accessToken"].as_str().expect("access");
    let change = |current: &str, new: &str| {
        Req::post("/api/v1/auth/password/change")
            .bearer(access)
            .json(&json!({"currentPassword": current, "newPassword": new}))
    };
    app.send(change("wrong pass 99", "fresh horse 77"))
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    app.send(change(PASSWORD, "short"))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    app.send(change(PASSWORD, "fresh horse 77"))
        .await
        .expect(204, None);
    // This session goes on; the other one is signed out.
    app.refresh(here["refreshToken"].as_str().expect("refresh"))
        .await
        .expect(200, None);
    app.refresh(&token_of(&there, "refreshToken"))
        .await
        .expect(401, Some("TOKEN_REVOKED"));
    app.login("cam@example.com", "fresh horse 77")
        .await
        .expect(200, None);
}

#[tokio::test]
async fn a_one_time_code_signs_up_then_in_and_is_refused_when_wrong_used_or_expired() {
    let app = spawn_app().await;
    let sent = post(
        &app,
        "/api/v1/auth/request-otp",
        json!({"email": "Otto@example.com", "purpose": "signup"}),
    )
    .await
    .expect(200, None);
    assert_eq!(sent.body["expiresIn"], 300);
    let code = code_for(&app, "otto@example.com").await;
    // Stored only as a keyed hash.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT code_hash FROM otp_codes")
        .fetch_one(&app.state.db)
        .await
        .expect("hash");
    assert_eq!(stored.len(), 32);

    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r = post(
        &app,
        "/api/v1/auth/verify-otp",
        json!({"email": "otto@example.com", "code": wrong}),
    )
    .await
    .expect(401, Some("INVALID_CREDENTIALS"));
    assert_eq!(r.body["error"]["details"]["reason"], "wrong_code");
    assert_eq!(r.body["error"]["details"]["attemptsLeft"], 4);
    post(
        &app,
        "/api/v1/auth/verify-otp",
        json!({"email": "otto@example.com", "code": "12ab56"}),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    let ok = post(
        &app,
        "/api/v1/auth/verify-otp",
        json!({"email": "otto@example.com", "code": code}),
    )
    .await
    .expect(200, None);
    assert_eq!(ok.body["user"]["email"], "otto@example.com");
    assert_eq!(ok.body["user"]["emailVerified"], true);
    assert_eq!(ok.body["user"]["hasPassword"], false);
    // Used once.
    let again = post(
        &app,
        "/api/v1/auth/verify-otp",
        json!({"email": "otto@example.com", "code": code}),
    )
    .await
    .expect(401, Some("INVALID_CREDENTIALS"));
    assert_eq!(again.body["error"]["details"]["reason"], "no_live_code");
    // A second code signs the same account in; an expired one does not.
    post(
        &app,
        "/api/v1/auth/request-otp",
        json!({"email": "otto@example.com"}),
    )
    .await
    .expect(200, None);
    let next = code_for(&app, "otto@example.com").await;
    sqlx::query("UPDATE otp_codes SET expires_at = now() - interval '1 second'")
        .execute(&app.state.db)
        .await
        .expect("expire");
    let expired = post(
        &app,
        "/api/v1/auth/verify-otp",
        json!({"email": "otto@example.com", "code": next}),
    )
    .await
    .expect(401, Some("INVALID_CREDENTIALS"));
    assert_eq!(expired.body["error"]["details"]["reason"], "no_live_code");
    post(
        &app,
        "/api/v1/auth/request-otp",
        json!({"email": "otto@example.com"}),
    )
    .await
    .expect(200, None);
    let fresh = code_for(&app, "otto@example.com").await;
    let again = post(
        &app,
        "/api/v1/auth/verify-otp",
        json!({"email": "otto@example.com", "code": fresh}),
    )
    .await
    .expect(200, None);
    assert_eq!(again.body["user"]["id"], ok.body["user"]["id"]);
    // A passwordless account cannot be signed in to with a password.
    app.login("otto@example.com", PASSWORD)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
}

#[tokio::test]
async fn parallel_guesses_at_a_code_get_five_attempts_in_all() {
    let app = spawn_app().await;
    post(
        &app,
        "/api/v1/auth/request-otp",
        json!({"email": "guess@example.com"}),
    )
    .await
    .expect(200, None);
    let code = code_for(&app, "guess@example.com").await;
    let wrong: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "{:06}",
                (code.parse::<u32>().expect("digits") + 1 + i) % 1_000_000
            )
        })
        .collect();
    let guesses = wrong.iter().map(|g| {
        post(
            &app,
            "/api/v1/auth/verify-otp",
            json!({"email": "guess@example.com", "code": g}),
        )
    });
    let answers = futures_util::future::join_all(guesses).await;
    let reasons: Vec<&str> = answers
        .iter()
        .map(|r| {
            r.body["error"]["details"]["reason"]
                .as_str()
                .expect("reason")
        })
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "wrong_code").count(),
        5,
        "{reasons:?}"
    );
    assert_eq!(reasons.iter().filter(|r| **r == "no_live_code").count(), 15);
    // Out of attempts: even the right code is refused now.
    post(
        &app,
        "/api/v1/auth/verify-otp",
        json!({"email": "guess@example.com", "code": code}),
    )
    .await
    .expect(401, Some("INVALID_CREDENTIALS"));
}

#[tokio::test]
async fn fresh_codes_do_not_give_a_guesser_fresh_chances_without_end() {
    let app = spawn_app_with(&[("RATE_LIMIT_OTP_EMAIL", "7/1d")]).await;
    let mut wrong = 0;
    // Two codes' worth of wrong guesses, from many addresses.
    for round in 0..2 {
        post(
            &app,
            "/api/v1/auth/request-otp",
            json!({"email": "cap@example.com"}),
        )
        .await
        .expect(200, None);
        let code = code_for(&app, "cap@example.com").await;
        let bad = if code == "000000" { "000001" } else { "000000" };
        for i in 0..5 {
            let r = app
                .send(
                    Req::post("/api/v1/auth/verify-otp")
                        .from_ip(&format!("10.7.{round}.{i}"))
                        .json(&json!({"email": "cap@example.com", "code": bad})),
                )
                .await;
            if r.status == 401 {
                wrong += 1;
            } else {
                let r = r.expect(429, Some("RATE_LIMITED"));
                assert_eq!(r.body["error"]["details"]["scope"], "email");
            }
        }
    }
    assert_eq!(wrong, 7, "seven tries a day for the address, across codes");
    // Even the right code of a fresh one waits now; other addresses do not.
    post(
        &app,
        "/api/v1/auth/request-otp",
        json!({"email": "cap@example.com"}),
    )
    .await
    .expect(200, None);
    let code = code_for(&app, "cap@example.com").await;
    post(
        &app,
        "/api/v1/auth/verify-otp",
        json!({"email": "cap@example.com", "code": code}),
    )
    .await
    .expect(429, Some("RATE_LIMITED"));
    post(
        &app,
        "/api/v1/auth/request-otp",
        json!({"email": "free@example.com"}),
    )
    .await
    .expect(200, None);
    let code = code_for(&app, "free@example.com").await;
    post(
        &app,
        "/api/v1/auth/verify-otp",
        json!({"email": "free@example.com", "code": code}),
    )
    .await
    .expect(200, None);
}

#[tokio::test]
async fn codes_and_resets_are_limited_per_client_address_and_mail_per_recipient() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_OTP_REQUEST", "5/15m"),
        ("RATE_LIMIT_RECOVERY", "2/15m"),
        ("RATE_LIMIT_MAIL", "3/15m"),
        ("RATE_LIMIT_SIGNUP", "2/1h"),
    ])
    .await;
    for i in 0..5 {
        app.send(
            Req::post("/api/v1/auth/request-otp")
                .from_ip("198.51.100.1")
                .json(&json!({"email": format!("p{i}@example.com")})),
        )
        .await
        .expect(200, None);
    }
    let blocked = app
        .send(
            Req::post("/api/v1/auth/request-otp")
                .from_ip("198.51.100.1")
                .json(&json!({"email": "p9@example.com"})),
        )
        .await
        .expect(429, Some("RATE_LIMITED"));
    assert!(blocked.header("retry-after").is_some());
    assert_eq!(blocked.header("ratelimit-limit"), Some("5"));
    assert_eq!(blocked.header("ratelimit-policy"), Some("5;w=900"));
    assert_eq!(blocked.body["error"]["details"]["scope"], "ip");
    // Another address is not held up.
    app.send(
        Req::post("/api/v1/auth/request-otp")
            .from_ip("198.51.100.2")
            .json(&json!({"email": "p9@example.com"})),
    )
    .await
    .expect(200, None);

    // One recipient gets at most three account emails a window, and the
    // answer does not change when one is held.
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        app.send(
            Req::post("/api/v1/auth/request-otp")
                .from_ip(ip)
                .json(&json!({"email": "flood@example.com"})),
        )
        .await
        .expect(200, None);
    }
    assert_eq!(mail_to(&app, "flood@example.com").await.len(), 3);

    for _ in 0..2 {
        app.send(
            Req::post("/api/v1/auth/password/forgot")
                .from_ip("192.0.2.50")
                .json(&json!({"email": "x@example.com"})),
        )
        .await
        .expect(202, None);
    }
    app.send(
        Req::post("/api/v1/auth/password/forgot")
            .from_ip("192.0.2.50")
            .json(&json!({"email": "x@example.com"})),
    )
    .await
    .expect(429, Some("RATE_LIMITED"));
    for (n, status) in [(0, 202), (1, 202), (2, 429)] {
        app.send(
            Req::post("/api/v1/auth/register")
                .from_ip("192.0.2.60")
                .json(&json!({"email": format!("s{n}@example.com"), "password": PASSWORD})),
        )
        .await
        .expect(status, None);
    }
}

#[tokio::test]
async fn a_code_secures_an_account_someone_else_signed_up_with_your_address() {
    let app = spawn_app().await;
    // The squatter signs up with the victim's address and stays signed in.
    app.sign_up("vic@example.com", PASSWORD)
        .await
        .expect(202, None);
    let squatter = app
        .login("vic@example.com", PASSWORD)
        .await
        .expect(200, None);
    // The victim proves the address with a code.
    post(
        &app,
        "/api/v1/auth/request-otp",
        json!({"email": "vic@example.com"}),
    )
    .await
    .expect(200, None);
    let code = code_for(&app, "vic@example.com").await;
    let victim = post(
        &app,
        "/api/v1/auth/verify-otp",
        json!({"email": "vic@example.com", "code": code}),
    )
    .await
    .expect(200, None);
    assert_eq!(victim.body["user"]["emailVerified"], true);
    assert_eq!(victim.body["user"]["hasPassword"], false);
    // The squatter's password and session are void.
    app.login("vic@example.com", PASSWORD)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    app.refresh(&token_of(&squatter, "refreshToken"))
        .await
        .expect(401, Some("TOKEN_REVOKED"));
    // Their access token dies at once too, so it cannot mint a key (or
    // anything) in the minutes it had left.
    app.send(Req::get("/api/v1/auth/me").bearer(&token_of(&squatter, "accessToken")))
        .await
        .expect(401, Some("TOKEN_REVOKED"));
    app.send(
        Req::post("/api/v1/api-keys")
            .bearer(&token_of(&squatter, "accessToken"))
            .json(&json!({"name": "backdoor", "scopes": ["workflows:read"]})),
    )
    .await
    .expect(401, Some("TOKEN_REVOKED"));
}

#[tokio::test]
async fn parallel_password_guesses_cannot_pass_the_limit_and_a_known_device_is_never_locked_out() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    let known = app.register("dev@example.com", PASSWORD).await;
    let device = known["deviceToken"]
        .as_str()
        .expect("device token")
        .to_owned();

    // Twelve guesses at once from twelve addresses: three are checked.
    let guesses = (0..12).map(|i| {
        app.send(
            Req::post("/api/v1/auth/login")
                .from_ip(&format!("10.9.0.{i}"))
                .json(
                    &json!({"email": "dev@example.com", "password": format!("guess number {i}")}),
                ),
        )
    });
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers.iter().filter(|r| r.status == 401).count();
    let refused = answers.iter().filter(|r| r.status == 429).count();
    assert_eq!((checked, refused), (3, 9));

    // The owner, from an unknown client, waits like the attacker...
    let blocked = app
        .send(
            Req::post("/api/v1/auth/login")
                .from_ip("10.9.1.1")
                .json(&json!({"email": "dev@example.com", "password": PASSWORD})),
        )
        .await
        .expect(429, Some("RATE_LIMITED"));
    assert_eq!(blocked.body["error"]["details"]["scope"], "email");
    // ...but from a device that signed in before, gets in.
    let back = app
        .send(Req::post("/api/v1/auth/login").from_ip("10.9.1.2").json(
            &json!({"email": "dev@example.com", "password": PASSWORD, "deviceToken": device}),
        ))
        .await
        .expect(200, None);
    // A device token for another account does not lift the limit.
    let other = app.register("other@example.com", PASSWORD).await;
    app.send(
        Req::post("/api/v1/auth/login")
            .from_ip("10.9.1.3")
            .json(&json!({"email": "dev@example.com", "password": PASSWORD, "deviceToken": other["deviceToken"]})),
    )
    .await
    .expect(429, Some("RATE_LIMITED"));
    assert!(back.body["deviceToken"].is_string());

    // A one-time code always works, and clears the lock.
    post(
        &app,
        "/api/v1/auth/request-otp",
        json!({"email": "dev@example.com"}),
    )
    .await
    .expect(200, None);
    let code = code_for(&app, "dev@example.com").await;
    post(
        &app,
        "/api/v1/auth/verify-otp",
        json!({"email": "dev@example.com", "code": code}),
    )
    .await
    .expect(200, None);
    app.send(
        Req::post("/api/v1/auth/login")
            .from_ip("10.9.1.4")
            .json(&json!({"email": "dev@example.com", "password": PASSWORD})),
    )
    .await
    .expect(200, None);
}
