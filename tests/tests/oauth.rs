//! Sign-in with Google and GitHub against the local OAuth double: the code
//! flow with PKCE, state and (Google) a nonce in a signed ID token; accounts
//! made, found again by the provider's subject, and linked to an existing
//! account only through an address the provider verified; and every forged,
//! replayed or broken step refused.

use local::oauth_double::{Faults, OAuthDouble, Person};
use saasit_tests::{json, spawn_app, spawn_app_with, Req, TestApp, TestResponse};

const PASSWORD: &str = "correct horse 9";

async fn with_double() -> (TestApp, OAuthDouble) {
    let double = OAuthDouble::start().await.expect("the OAuth double starts");
    let env = double.env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    (spawn_app_with(&pairs).await, double)
}

/// Starts a sign-in: the authorization URL and this browser's binding.
async fn start(app: &TestApp, provider: &str) -> (String, String) {
    let r = app
        .send(Req::post(&format!("/api/v1/auth/oauth/{provider}/start")).json(&json!({})))
        .await
        .expect(200, None);
    let field = |k: &str| r.body[k].as_str().expect(k).to_owned();
    (field("authorizationUrl"), field("binding"))
}

/// Follows the authorization URL at the provider as `email`: the code and
/// state the provider put on the redirect back to the web app.
async fn at_provider(url: &str, email: &str) -> (String, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = http
        .get(format!("{url}&login_hint={email}"))
        .send()
        .await
        .expect("the double answers");
    assert!(resp.status().is_redirection(), "{:?}", resp.text().await);
    let to = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        to.starts_with("http://127.0.0.1:3000/auth/callback?"),
        "{to}"
    );
    let url = url::Url::parse(&to).expect("url");
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .expect(k)
    };
    (get("code"), get("state"))
}

async fn finish(
    app: &TestApp,
    provider: &str,
    code: &str,
    state: &str,
    binding: &str,
) -> TestResponse {
    app.send(
        Req::post(&format!("/api/v1/auth/oauth/{provider}/callback"))
            .json(&json!({"code": code, "state": state, "binding": binding})),
    )
    .await
}

async fn sign_in(app: &TestApp, provider: &str, email: &str) -> TestResponse {
    let (url, binding) = start(app, provider).await;
    let (code, state) = at_provider(&url, email).await;
    finish(app, provider, &code, &state, &binding).await
}

#[tokio::test]
async fn google_and_github_make_an_account_then_find_it_again() {
    let (app, _double) = with_double().await;
    let listed = app
        .send(Req::get("/api/v1/auth/oauth/providers"))
        .await
        .expect(200, None);
    assert_eq!(listed.body["providers"], json!(["google", "github"]));

    for provider in ["google", "github"] {
        let email = format!("new-{provider}@example.com");
        let first = sign_in(&app, provider, &email).await.expect(200, None);
        assert_eq!(first.body["user"]["email"], email.as_str());
        assert_eq!(first.body["user"]["emailVerified"], true);
        assert_eq!(first.body["user"]["hasPassword"], false);
        assert!(first.body["accessToken"].is_string() && first.body["deviceToken"].is_string());
        let again = sign_in(&app, provider, &email).await.expect(200, None);
        assert_eq!(again.body["user"]["id"], first.body["user"]["id"]);
        let token = first.body["accessToken"].as_str().expect("token");
        app.send(Req::get("/api/v1/auth/me").bearer(token))
            .await
            .expect(200, None);
    }
    let identities: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_identities")
        .fetch_one(&app.state.db)
        .await
        .expect("count");
    assert_eq!(identities, 2);
    // The authorization asked for PKCE (S256), and Google's for a nonce.
    let (url, _) = start(&app, "google").await;
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("nonce="),
        "{url}"
    );
}

#[tokio::test]
async fn an_identity_links_to_an_existing_account_only_through_a_verified_address() {
    let (app, double) = with_double().await;
    let existing = app.register("ada@example.com", PASSWORD).await;
    let linked = sign_in(&app, "github", "ada@example.com")
        .await
        .expect(200, None);
    assert_eq!(linked.body["user"]["id"], existing["user"]["id"]);
    // The password still works: nothing was taken from a verified account.
    app.login("ada@example.com", PASSWORD)
        .await
        .expect(200, None);

    // A provider that has not verified the address can neither link nor make.
    double.add_person(Person {
        subject: "777".into(),
        email: "unproven@example.com".into(),
        verified: false,
        name: "Un".into(),
    });
    app.register("unproven@example.com", PASSWORD).await;
    for provider in ["google", "github"] {
        let r = sign_in(&app, provider, "unproven@example.com")
            .await
            .expect(403, Some("FORBIDDEN"));
        assert_eq!(r.body["error"]["details"]["reason"], "email_not_verified");
    }
    let linked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM oauth_identities WHERE subject = '777'")
            .fetch_one(&app.state.db)
            .await
            .expect("count");
    assert_eq!(linked, 0);
}

#[tokio::test]
async fn a_provider_proving_the_address_secures_an_account_someone_else_signed_up_with() {
    let (app, _double) = with_double().await;
    app.sign_up("victim@example.com", PASSWORD)
        .await
        .expect(202, None);
    let squatter = app
        .login("victim@example.com", PASSWORD)
        .await
        .expect(200, None);
    let owner = sign_in(&app, "google", "victim@example.com")
        .await
        .expect(200, None);
    assert_eq!(owner.body["user"]["emailVerified"], true);
    assert_eq!(owner.body["user"]["hasPassword"], false);
    app.login("victim@example.com", PASSWORD)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    app.refresh(squatter.body["refreshToken"].as_str().expect("refresh"))
        .await
        .expect(401, Some("TOKEN_REVOKED"));
}

#[tokio::test]
async fn forged_replayed_and_broken_sign_ins_are_refused() {
    let (app, double) = with_double().await;
    // A state used twice.
    let (url, binding) = start(&app, "google").await;
    let (code, state) = at_provider(&url, "once@example.com").await;
    finish(&app, "google", &code, &state, &binding)
        .await
        .expect(200, None);
    let r = finish(&app, "google", &code, &state, &binding)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    assert_eq!(r.body["error"]["details"]["reason"], "unknown_state");
    // A state made up, or one from another provider.
    finish(&app, "google", &code, "made-up", &binding)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    let (url, binding) = start(&app, "github").await;
    let (code, state) = at_provider(&url, "cross@example.com").await;
    let r = finish(&app, "google", &code, &state, &binding)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    assert_eq!(r.body["error"]["details"]["reason"], "unknown_state");
    // A code that is not the one the provider issued for this state.
    let (url, binding) = start(&app, "google").await;
    let (_, state) = at_provider(&url, "forged@example.com").await;
    let r = finish(&app, "google", "code-forged", &state, &binding)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    assert_eq!(r.body["error"]["details"]["reason"], "provider_refused");
    // An ID token whose nonce is not this sign-in's.
    double.set_faults(Faults {
        wrong_nonce: true,
        ..Faults::default()
    });
    let r = sign_in(&app, "google", "nonce@example.com")
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    assert_eq!(r.body["error"]["details"]["reason"], "provider_refused");
    // The provider down: 503, and a retry once it is back works.
    double.set_faults(Faults {
        token_down: true,
        ..Faults::default()
    });
    let r = sign_in(&app, "github", "later@example.com")
        .await
        .expect(503, Some("SERVICE_UNAVAILABLE"));
    assert_eq!(r.body["error"]["details"]["reason"], "oauth_provider");
    double.set_faults(Faults::default());
    sign_in(&app, "github", "later@example.com")
        .await
        .expect(200, None);
    // Too late.
    let (url, binding) = start(&app, "google").await;
    let (code, state) = at_provider(&url, "slow@example.com").await;
    sqlx::query(
        "UPDATE oauth_states SET expires_at = now() - interval '1 second' WHERE used_at IS NULL",
    )
    .execute(&app.state.db)
    .await
    .expect("expire");
    finish(&app, "google", &code, &state, &binding)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    // Nobody was made by any of that.
    let made: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE email IN ('forged@example.com', 'nonce@example.com', 'slow@example.com', 'cross@example.com')",
    )
    .fetch_one(&app.state.db)
    .await
    .expect("count");
    assert_eq!(made, 0);
}

#[tokio::test]
async fn a_sign_in_finishes_only_in_the_browser_that_started_it() {
    let (app, _double) = with_double().await;
    // Login CSRF: the attacker starts a sign-in, consents with their own
    // account, and gets the victim's browser to finish it with the code.
    let (url, attacker_binding) = start(&app, "github").await;
    let (code, state) = at_provider(&url, "attacker@example.com").await;
    let (_, victim_binding) = start(&app, "github").await;
    let r = finish(&app, "github", &code, &state, &victim_binding)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    assert_eq!(r.body["error"]["details"]["reason"], "unknown_state");
    // The attempt spent nothing: the starting browser still finishes.
    finish(&app, "github", &code, &state, &attacker_binding)
        .await
        .expect(200, None);
}

#[tokio::test]
async fn redirects_stay_in_the_web_app_and_unknown_providers_are_not_found() {
    let (app, _double) = with_double().await;
    // The provider sends the browser back to one page of the web app, not one
    // a request names.
    app.send(
        Req::post("/api/v1/auth/oauth/google/start")
            .json(&json!({"redirectUri": "https://evil.example.com/callback"})),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    let (url, _) = start(&app, "google").await;
    let url = url::Url::parse(&url).expect("url");
    let back = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned());
    assert_eq!(back.as_deref(), Some("http://127.0.0.1:3000/auth/callback"));
    app.send(Req::post("/api/v1/auth/oauth/myspace/start").json(&json!({})))
        .await
        .expect(404, Some("NOT_FOUND"));
    // A deployment without providers has none to offer.
    let plain = spawn_app().await;
    let listed = plain
        .send(Req::get("/api/v1/auth/oauth/providers"))
        .await
        .expect(200, None);
    assert_eq!(listed.body["providers"], json!([]));
    let r = plain
        .send(Req::post("/api/v1/auth/oauth/google/start").json(&json!({})))
        .await
        .expect(404, Some("NOT_FOUND"));
    assert_eq!(r.body["error"]["details"]["reason"], "not_configured");
}
