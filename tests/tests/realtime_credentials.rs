//! WebSocket connections end with their credentials (issue 10, defect 8):
//! checked once at connect, they used to live for API Gateway's two hours,
//! past their token's expiry, a logout or a revoked session. Now a
//! connection is closed (a `closing` frame with the reason, then a close
//! frame with the reason's code) when its token expires, unless the client
//! renewed it with a fresh token, and at once when its session is revoked.

use std::time::Duration;

use saasit_tests::{json, spawn_app_with, spawn_stack_with, test_pipeline_config, ws, Req};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(15);

fn field(v: &Value, name: &str) -> String {
    v[name].as_str().expect(name).to_owned()
}

async fn alive(c: &mut ws::WsClient) -> bool {
    c.send(&json!({"action": "ping"})).await;
    c.next(Duration::from_secs(5))
        .await
        .is_some_and(|f| f["type"] == "pong")
}

#[tokio::test]
async fn a_connection_closes_when_its_token_expires_unless_renewed() {
    // Access tokens live 4 s here.
    let app = spawn_app_with(&[("JWT_ACCESS_TTL_SECS", "4")]).await;
    let s = spawn_stack_with(app, test_pipeline_config()).await;
    let signed = s
        .app
        .register("ws-exp@example.com", "correct horse 9")
        .await;
    let first = field(&signed, "accessToken");
    let mut plain = ws::connect(&s.base_url, Some(&first))
        .await
        .expect("connect");
    let mut renewing = ws::connect(&s.base_url, Some(&first))
        .await
        .expect("connect");

    // Halfway through, the client refreshes and hands the socket its new token.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let fresh = s
        .app
        .refresh(&field(&signed, "refreshToken"))
        .await
        .expect(200, None)
        .body;
    let second = field(&fresh, "accessToken");
    renewing
        .send(&json!({"action": "authenticate", "token": second, "requestId": 1}))
        .await;
    let ack = renewing.next(LIMIT).await.expect("answer");
    assert_eq!(ack["type"], "authenticated", "{ack}");
    assert_eq!(ack["requestId"], 1);

    // The first token expires: its connection is told why and closed.
    let (frames, close) = plain.closed(LIMIT).await;
    assert_eq!(close, Some((4001, "token_expired".to_owned())));
    let last = frames.last().expect("a closing frame");
    assert_eq!(last["type"], "closing");
    assert_eq!(last["reason"], "token_expired");

    // The renewed one lives on, until its new token expires too.
    assert!(alive(&mut renewing).await, "the renewed connection is open");
    let (_, close) = renewing.closed(LIMIT).await;
    assert_eq!(close, Some((4001, "token_expired".to_owned())));

    // A token of someone else cannot renew a connection.
    let other = s
        .app
        .register("ws-exp2@example.com", "correct horse 9")
        .await;
    let mut c = ws::connect(&s.base_url, Some(&field(&other, "accessToken")))
        .await
        .expect("connect");
    let mine = field(
        &s.app
            .refresh(&field(&fresh, "refreshToken"))
            .await
            .expect(200, None)
            .body,
        "accessToken",
    );
    c.send(&json!({"action": "authenticate", "token": mine}))
        .await;
    assert_eq!(c.next(LIMIT).await.expect("answer")["code"], "FORBIDDEN");
    c.send(&json!({"action": "authenticate"})).await;
    assert_eq!(
        c.next(LIMIT).await.expect("answer")["code"],
        "VALIDATION_ERROR"
    );
    assert!(alive(&mut c).await);
}

#[tokio::test]
async fn signing_out_or_a_reused_refresh_token_closes_the_sessions_connections() {
    let app = spawn_app_with(&[]).await;
    let s = spawn_stack_with(app, test_pipeline_config()).await;
    let one = s
        .app
        .register("ws-out@example.com", "correct horse 9")
        .await;
    let two = s
        .app
        .login("ws-out@example.com", "correct horse 9")
        .await
        .expect(200, None)
        .body;
    let mut c1 = ws::connect(&s.base_url, Some(&field(&one, "accessToken")))
        .await
        .expect("connect");
    let mut c2 = ws::connect(&s.base_url, Some(&field(&two, "accessToken")))
        .await
        .expect("connect");

    s.app
        .send(
            Req::post("/api/v1/auth/logout")
                .json(&json!({"refreshToken": field(&one, "refreshToken")})),
        )
        .await
        .expect(204, None);
    let (frames, close) = c1.closed(LIMIT).await;
    assert_eq!(close, Some((4003, "session_revoked".to_owned())));
    assert_eq!(frames.last().expect("closing")["reason"], "session_revoked");
    // The other sign-in is another session: its connection stays.
    assert!(alive(&mut c2).await);
    // The signed-out session's access token opens nothing any more.
    assert_eq!(
        ws::connect(&s.base_url, Some(&field(&one, "accessToken")))
            .await
            .err(),
        Some(401)
    );

    // A refresh token used twice revokes its session: that closes c2.
    let refresh = field(&two, "refreshToken");
    s.app.refresh(&refresh).await.expect(200, None);
    // Presented again after the grace window.
    sqlx::query("UPDATE refresh_tokens SET rotated_at = now() - interval '1 minute' WHERE rotated_at IS NOT NULL")
        .execute(&s.app.state.db)
        .await
        .expect("age the rotation");
    s.app.refresh(&refresh).await.expect(401, None);
    let (_, close) = c2.closed(LIMIT).await;
    assert_eq!(close, Some((4003, "session_revoked".to_owned())));
}
