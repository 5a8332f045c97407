//! The email port's contract, against the local outbox and SES (on moto):
//! what is sent arrives with its recipient, subject and bodies; a sender the
//! service refuses is `Rejected`; a service that cannot be reached is
//! `Unavailable`. And an invitation end to end with SES as the mailer.

use std::sync::Arc;

use saasit_tests::{json, moto::Moto, spawn_app, Req};
use serde_json::Value;
use shared::email::{outbox::Outbox, ses::SesMailer, MailError, Mailer, OutgoingEmail};
use uuid::Uuid;

const FROM: &str = "no-reply@saasit.example.com";

fn email(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.into(),
        subject: "Ann invited you to Research".into(),
        text: "Accept: https://app.example.com/invitations/accept?token=abc".into(),
        html: Some(
            "<p><a href=\"https://app.example.com/invitations/accept?token=abc\">Accept</a></p>"
                .into(),
        ),
    }
}

/// What moto's SES kept: (recipient, subject, body) of each message sent.
async fn ses_sent(moto: &Moto) -> Vec<(String, String, String)> {
    let data: Value = reqwest::get(format!("{}/moto-api/data.json", moto.url))
        .await
        .expect("moto data")
        .json()
        .await
        .expect("json");
    data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m["destinations"]["ToAddresses"][0]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                m["subject"].as_str().unwrap_or_default().to_owned(),
                m["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn verified_ses(moto: &Moto) -> SesMailer {
    let ses = SesMailer::from_config(&moto.sdk, FROM);
    ses.client()
        .create_email_identity()
        .email_identity(FROM)
        .send()
        .await
        .expect("identity");
    ses
}

#[tokio::test]
async fn email_contract_local_outbox_and_ses() {
    // Local: the outbox keeps what was sent, in order.
    let dir = std::env::temp_dir().join(format!("outbox-contract-{}", Uuid::now_v7().simple()));
    let outbox = Outbox::new(&dir);
    outbox.send(&email("sam@example.com")).await.expect("send");
    outbox.send(&email("bob@example.com")).await.expect("send");
    let kept = outbox.read().await.expect("read");
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].email, email("sam@example.com"));
    assert_eq!(kept[1].email.to, "bob@example.com");
    std::fs::remove_dir_all(&dir).expect("cleanup");

    // SES: the same messages arrive (moto keeps the HTML body when there is one).
    let moto = Moto::start().await;
    let ses = verified_ses(&moto).await;
    ses.send(&email("sam@example.com")).await.expect("send");
    let mut plain = email("bob@example.com");
    plain.html = None;
    ses.send(&plain).await.expect("send");
    let sent = ses_sent(&moto).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].0, "sam@example.com");
    assert_eq!(sent[0].1, "Ann invited you to Research");
    assert!(sent[0]
        .2
        .contains("<a href=\"https://app.example.com/invitations/accept?token=abc\">"));
    assert_eq!(sent[1].2, plain.text);

    // An identity SES has not verified: refused, not worth retrying.
    let unverified = SesMailer::from_config(&moto.sdk, "someone-else@example.org");
    let err = unverified
        .send(&email("sam@example.com"))
        .await
        .expect_err("refused");
    assert!(matches!(err, MailError::Rejected(_)), "{err:?}");
    assert_eq!(ses_sent(&moto).await.len(), 2);

    // Nothing listening: unavailable, worth retrying.
    let nowhere = shared::runs::aws::emulator_sdk_config("http://127.0.0.1:9").await;
    let err = SesMailer::from_config(&nowhere, FROM)
        .send(&email("sam@example.com"))
        .await
        .expect_err("refused");
    assert!(matches!(err, MailError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn an_invitation_goes_out_through_ses() {
    let moto = Moto::start().await;
    let mut app = spawn_app().await;
    app.state = app
        .state
        .clone()
        .with_mailer(Arc::new(verified_ses(&moto).await));
    app.router = local::app(app.state.clone());
    let owner = app.access_token("ann@example.com").await;
    let ws = app
        .send(
            Req::post("/api/v1/workspaces")
                .bearer(&owner)
                .json(&json!({"name": "Lab"})),
        )
        .await
        .expect(201, None)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.send(
        Req::post(&format!("/api/v1/workspaces/{ws}/invitations"))
            .bearer(&owner)
            .json(&json!({"email": "sam@example.com", "role": "editor"})),
    )
    .await
    .expect(201, None);
    // Ann's verification link went out through SES too; then the invitation.
    let sent: Vec<_> = ses_sent(&moto)
        .await
        .into_iter()
        .filter(|s| s.0 == "sam@example.com")
        .collect();
    assert_eq!(sent.len(), 1);
    let body = &sent[0].2;
    let at = body.find("token=").expect("link") + "token=".len();
    let token = &body[at..at + 64];
    let sam = app.access_token("sam@example.com").await;
    let joined = app
        .send(
            Req::post("/api/v1/invitations/accept")
                .bearer(&sam)
                .json(&json!({"token": token})),
        )
        .await
        .expect(200, None)
        .body;
    assert_eq!(joined["workspace"]["name"], "Lab");
}
