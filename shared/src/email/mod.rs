//! The email port: what the product sends (invitations now; account mail
//! later) goes through a [`Mailer`]. On AWS that is SES ([`ses`], feature
//! `ses`); locally and in tests it is an [`outbox::Outbox`], a directory of
//! JSON files that `local outbox` and the tests read back.

pub mod outbox;
#[cfg(feature = "ses")]
pub mod ses;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::future::BoxFuture;

/// One email to one recipient: a plain-text body and, optionally, HTML.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// Bodies carry single-use links: they never reach a log.
impl fmt::Debug for OutgoingEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why an email was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The sender could not be reached or did not answer in time: retry later.
    #[error("email sender unavailable: {0}")]
    Unavailable(String),
    /// The sender refused this message (an unverified address, a suppressed
    /// recipient); retrying the same message will not help.
    #[error("email rejected: {0}")]
    Rejected(String),
}

/// Sends email. Adapters: [`outbox::Outbox`] (local), `ses::SesMailer` (AWS).
pub trait Mailer: Send + Sync + fmt::Debug {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), MailError>>;
}

/// The mailer of a process where none is configured: every send fails as
/// unavailable, so a route that must send answers 503 and changes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMailer;

impl Mailer for NoMailer {
    fn send<'a>(&'a self, _: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async {
            Err(MailError::Unavailable(
                "no email sender is configured (EMAIL_OUTBOX_DIR locally, EMAIL_FROM on AWS)"
                    .into(),
            ))
        })
    }
}
