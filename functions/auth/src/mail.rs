//! Account email: what it says (plain text and HTML from templates; names
//! are escaped in HTML) and how it is sent: at most `RATE_LIMIT_MAIL` per
//! address per window (past that the request answers the same and sends
//! nothing), with a bounded wait for the sender.

use std::time::Duration;

use minijinja::{context, Environment, Value};
use shared::{
    email::{MailError, OutgoingEmail},
    ratelimit::{self, Bucket},
    ApiError, AppState,
};

/// The longest a request waits for its email to be accepted for delivery.
const SEND_WITHIN: Duration = Duration::from_secs(5);

/// One account email.
pub enum Mail<'a> {
    /// Prove the address: a link to `/verify-email`.
    Verify { name: &'a str, token: &'a str },
    /// Someone signed up with an address that already has an account.
    AlreadyRegistered { name: &'a str },
    /// Choose a new password: a link to `/reset-password`.
    Reset { name: &'a str, token: &'a str },
    /// A reset was asked for an address with no account.
    NoAccount,
    /// A six-digit sign-in code.
    Code { code: &'a str },
}

const LAYOUT_TEXT: &str =
    "{{ body }}\n\nIf you did not ask for this, ignore this email: nothing changes.\n";
const LAYOUT_HTML: &str =
    "{{ body }}<p>If you did not ask for this, ignore this email: nothing changes.</p>\n";

fn parts(mail: &Mail<'_>) -> (&'static str, &'static str, &'static str) {
    match mail {
        Mail::Verify { .. } => (
            "Verify your email address for SaasIt",
            "Hello {{ name }},\n\nConfirm this address to finish setting up your account:\n{{ link }}\n\nThe link works once and expires on {{ expires }}.",
            "<p>Hello {{ name }},</p><p><a href=\"{{ link }}\">Confirm this address</a> to finish setting up your account.</p><p>The link works once and expires on {{ expires }}.</p>",
        ),
        Mail::AlreadyRegistered { .. } => (
            "You already have a SaasIt account",
            "Hello {{ name }},\n\nSomeone (perhaps you) tried to sign up with this address, which already has an account.\nSign in at {{ app }}/login, or choose a new password at {{ app }}/forgot-password.",
            "<p>Hello {{ name }},</p><p>Someone (perhaps you) tried to sign up with this address, which already has an account.</p><p><a href=\"{{ app }}/login\">Sign in</a>, or <a href=\"{{ app }}/forgot-password\">choose a new password</a>.</p>",
        ),
        Mail::Reset { .. } => (
            "Reset your SaasIt password",
            "Hello {{ name }},\n\nChoose a new password:\n{{ link }}\n\nThe link works once and expires on {{ expires }}. Every device signed in to your account will be signed out.",
            "<p>Hello {{ name }},</p><p><a href=\"{{ link }}\">Choose a new password</a>.</p><p>The link works once and expires on {{ expires }}. Every device signed in to your account will be signed out.</p>",
        ),
        Mail::NoAccount => (
            "SaasIt password reset",
            "Someone (perhaps you) asked to reset the password of a SaasIt account with this address, but there is none.\nSign up at {{ app }}/signup, or sign in with a one-time code.",
            "<p>Someone (perhaps you) asked to reset the password of a SaasIt account with this address, but there is none.</p><p><a href=\"{{ app }}/signup\">Sign up</a>, or sign in with a one-time code.</p>",
        ),
        Mail::Code { .. } => (
            "Your SaasIt sign-in code",
            "Your sign-in code is {{ code }}.\n\nIt works once, for {{ minutes }} minutes.",
            "<p>Your sign-in code is <strong>{{ code }}</strong>.</p><p>It works once, for {{ minutes }} minutes.</p>",
        ),
    }
}

/// The email as sent to `to`. `expires` is when its link stops working.
pub fn compose(
    mail: &Mail<'_>,
    to: &str,
    app_url: &str,
    expires: chrono::DateTime<chrono::Utc>,
) -> Result<OutgoingEmail, minijinja::Error> {
    let (subject, text, html) = parts(mail);
    let mut env = Environment::new();
    env.add_template("body.txt", text)?;
    env.add_template("body.html", html)?;
    env.add_template("layout.txt", LAYOUT_TEXT)?;
    env.add_template("layout.html", LAYOUT_HTML)?;
    // Links are ours (the configured app URL and a hex token), so not escaped;
    // the token goes in the fragment, which browsers never send to a server.
    let link = match mail {
        Mail::Verify { token, .. } => format!("{app_url}/verify-email#token={token}"),
        Mail::Reset { token, .. } => format!("{app_url}/reset-password#token={token}"),
        _ => String::new(),
    };
    let name = match mail {
        Mail::Verify { name, .. } | Mail::AlreadyRegistered { name } | Mail::Reset { name, .. } => {
            *name
        }
        _ => "",
    };
    let code = match mail {
        Mail::Code { code } => *code,
        _ => "",
    };
    let ctx = context! {
        name => name,
        link => Value::from_safe_string(link),
        app => Value::from_safe_string(app_url.to_owned()),
        code => code,
        minutes => crate::otp::CODE_LIFETIME.as_secs() / 60,
        expires => expires.format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    let body_text = env.get_template("body.txt")?.render(&ctx)?;
    let body_html = env.get_template("body.html")?.render(&ctx)?;
    Ok(OutgoingEmail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: env
            .get_template("layout.txt")?
            .render(context! { body => body_text })?,
        html: Some(
            env.get_template("layout.html")?
                .render(context! { body => Value::from_safe_string(body_html) })?,
        ),
    })
}

/// Counts one account email to `to`: false when the address had its share
/// for now (then nothing is made or sent, and the request answers the same).
pub async fn may_send(state: &AppState, to: &str) -> Result<bool, ApiError> {
    budget(state, Bucket::Mail, to).await
}

/// The same for a notice (someone signed up with, or asked to reset, the
/// address): its own budget, so notices cannot use up the codes and links a
/// person needs to get back in.
pub async fn may_send_notice(state: &AppState, to: &str) -> Result<bool, ApiError> {
    budget(state, Bucket::MailNotice, to).await
}

async fn budget(state: &AppState, bucket: Bucket, to: &str) -> Result<bool, ApiError> {
    let limit = state.settings.auth.limits.mail;
    let allowed = ratelimit::hit(state, bucket, to, limit).await?.allowed;
    if !allowed {
        tracing::info!("account email held: the address is past its mail limit");
    }
    Ok(allowed)
}

/// Sends `mail` to `to` (counted with [`may_send`] first). A sender that is
/// down or slow is a 503; one that refuses the address is logged and
/// answered like a sent one.
pub async fn deliver(
    state: &AppState,
    to: &str,
    mail: &Mail<'_>,
    expires: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    let email =
        compose(mail, to, &state.settings.email.app_url, expires).map_err(ApiError::internal)?;
    let sent = match tokio::time::timeout(SEND_WITHIN, state.mailer.send(&email)).await {
        Ok(sent) => sent,
        Err(_) => Err(MailError::Unavailable(format!(
            "no answer from the email service within {SEND_WITHIN:?}"
        ))),
    };
    match sent {
        Ok(()) => Ok(()),
        Err(e @ MailError::Unavailable(_)) => {
            Err(ApiError::unavailable(e).with_details(serde_json::json!({ "reason": "email" })))
        }
        Err(e @ MailError::Rejected(_)) => {
            // A bounced or suppressed address: the same answer as a sent one.
            tracing::warn!(error = %e, "account email rejected by the sender");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_codes_are_in_both_bodies_and_names_are_escaped() {
        let at = chrono::Utc::now();
        let e = compose(
            &Mail::Verify {
                name: "Ann <b>",
                token: "abc",
            },
            "ann@example.com",
            "https://app.example.com",
            at,
        )
        .expect("composes");
        let html = e.html.expect("html");
        assert!(html.contains("Ann &lt;b&gt;"), "{html}");
        for body in [&e.text, &html] {
            assert!(body.contains("https://app.example.com/verify-email#token=abc"));
            assert!(body.contains("ignore this email"));
        }
        let c = compose(
            &Mail::Code { code: "012345" },
            "a@example.com",
            "http://x",
            at,
        )
        .expect("composes");
        assert!(c.text.contains("012345") && c.text.contains("5 minutes"));
        let r = compose(&Mail::NoAccount, "a@example.com", "http://x", at).expect("composes");
        assert!(r.text.contains("http://x/signup"));
    }
}
