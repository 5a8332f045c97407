//! The mailer on AWS: SES (API v2, `SendEmail` with simple content) from the
//! configured sender identity. Throttling, timeouts and unreachable
//! endpoints are [`MailError::Unavailable`]; SES refusing the message (an
//! unverified sender, a suppressed recipient, a paused account) is
//! [`MailError::Rejected`].

use aws_sdk_sesv2::{
    error::SdkError,
    operation::send_email::SendEmailError,
    types::{Body, Content, Destination, EmailContent, Message},
    Client,
};

use super::{MailError, Mailer, OutgoingEmail};
use crate::future::BoxFuture;

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    from: String,
}

impl SesMailer {
    pub fn new(client: Client, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }

    pub fn from_config(sdk: &aws_config::SdkConfig, from: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), from)
    }

    /// The Lambda's mailer: SES in the function's region, sending as
    /// `EMAIL_FROM` (required).
    pub async fn from_settings(settings: &crate::settings::Settings) -> anyhow::Result<Self> {
        let from = settings
            .aws
            .require("EMAIL_FROM", &settings.email.from)?
            .to_owned();
        Ok(Self::from_config(
            &crate::runs::aws::sdk_config(None).await,
            from,
        ))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn content(text: &str) -> anyhow::Result<Content> {
        Ok(Content::builder().data(text).charset("UTF-8").build()?)
    }

    fn message(email: &OutgoingEmail) -> anyhow::Result<EmailContent> {
        let mut body = Body::builder().text(Self::content(&email.text)?);
        if let Some(html) = &email.html {
            body = body.html(Self::content(html)?);
        }
        let message = Message::builder()
            .subject(Self::content(&email.subject)?)
            .body(body.build())
            .build();
        Ok(EmailContent::builder().simple(message).build())
    }
}

fn classify(e: SdkError<SendEmailError>) -> MailError {
    match &e {
        SdkError::ServiceError(s) => match s.err() {
            SendEmailError::TooManyRequestsException(_)
            | SendEmailError::LimitExceededException(_) => {
                MailError::Unavailable(format!("SES throttled: {}", s.err()))
            }
            other => MailError::Rejected(format!("SES: {other}")),
        },
        _ => MailError::Unavailable(format!("SES unreachable: {e}")),
    }
}

impl Mailer for SesMailer {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            let content =
                Self::message(email).map_err(|e| MailError::Rejected(format!("message: {e}")))?;
            self.client
                .send_email()
                .from_email_address(&self.from)
                .destination(Destination::builder().to_addresses(&email.to).build())
                .content(content)
                .send()
                .await
                .map(|_| ())
                .map_err(classify)
        })
    }
}

/// The state with the mail sender a Lambda should use: the outbox when
/// `EMAIL_OUTBOX_DIR` is set (it is already), else SES as `EMAIL_FROM`; with
/// neither, none (routes that must send answer 503), said once at start.
pub async fn mailer_for(state: crate::AppState) -> anyhow::Result<crate::AppState> {
    if state.settings.email.outbox_dir.is_some() {
        return Ok(state);
    }
    if state.settings.email.from.is_empty() {
        tracing::warn!("neither EMAIL_OUTBOX_DIR nor EMAIL_FROM is set: no email can be sent");
        return Ok(state);
    }
    let ses = SesMailer::from_settings(&state.settings).await?;
    Ok(state.with_mailer(std::sync::Arc::new(ses)))
}
