//! The invitation email: a plain-text and an HTML body from templates
//! (names are user input: the HTML one escapes them).

use minijinja::{context, Environment};
use shared::{access::Role, email::OutgoingEmail};

const TEXT: &str = "\
{{ inviter }} invited you to join the workspace \"{{ workspace }}\" on SaasIt as {{ role }}.

Accept the invitation (sign in or sign up with {{ to }}):
{{ link }}

The link works once and expires on {{ expires }}. If you did not expect this, ignore this email.
";

const HTML: &str = "\
<p>{{ inviter }} invited you to join the workspace <strong>{{ workspace }}</strong> on SaasIt as {{ role }}.</p>
<p><a href=\"{{ link }}\">Accept the invitation</a> (sign in or sign up with {{ to }}).</p>
<p>The link works once and expires on {{ expires }}. If you did not expect this, ignore this email.</p>
";

/// What the email says.
pub struct Invite<'a> {
    pub to: &'a str,
    pub inviter: &'a str,
    pub workspace: &'a str,
    pub role: Role,
    pub app_url: &'a str,
    pub token: &'a str,
    pub expires: chrono::DateTime<chrono::Utc>,
}

pub fn compose(i: &Invite<'_>) -> Result<OutgoingEmail, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("invite.txt", TEXT)?;
    env.add_template("invite.html", HTML)?;
    // In the fragment: browsers never send it to a server (no Referer, no access log).
    let link = format!("{}/invitations/accept#token={}", i.app_url, i.token);
    let ctx = context! {
        inviter => i.inviter,
        workspace => i.workspace,
        role => i.role.as_str(),
        to => i.to,
        // Ours (the configured app URL and a hex token), so not escaped:
        // an href with `&#x2f;` for every slash is valid but unreadable.
        link => minijinja::Value::from_safe_string(link),
        expires => i.expires.format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    Ok(OutgoingEmail {
        to: i.to.to_owned(),
        subject: format!("{} invited you to {} on SaasIt", i.inviter, i.workspace),
        text: env.get_template("invite.txt")?.render(&ctx)?,
        html: Some(env.get_template("invite.html")?.render(&ctx)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_in_html_and_the_link_is_in_both() {
        let e = compose(&Invite {
            to: "sam@example.com",
            inviter: "Ann <script>",
            workspace: "R&D \"lab\"",
            role: Role::Editor,
            app_url: "https://app.example.com",
            token: "abc123",
            expires: chrono::Utc::now(),
        })
        .expect("works");
        let html = e.html.expect("works");
        assert!(html.contains("Ann &lt;script&gt;"), "{html}");
        assert!(html.contains("R&amp;D"), "{html}");
        assert!(e.text.contains("Ann <script>"));
        for body in [&e.text, &html] {
            assert!(body.contains("https://app.example.com/invitations/accept#token=abc123"));
        }
        assert!(e.text.contains("as editor"));
    }
}
