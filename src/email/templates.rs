//! Renders `templates/`: compiled into the Worker, `{{name}}` placeholders filled in,
//! HTML-escaped in the HTML part.

use crate::domain::Mail;

/// Subject and the two bodies for one kind, from `templates/{kind}.txt` and `.html`.
struct Template {
    kind: &'static str,
    subject: &'static str,
    text: &'static str,
    html: &'static str,
}

macro_rules! template {
    ($kind:literal, $subject:literal) => {
        Template {
            kind: $kind,
            subject: $subject,
            text: include_str!(concat!("../../templates/", $kind, ".txt")),
            html: include_str!(concat!("../../templates/", $kind, ".html")),
        }
    };
}

const TEMPLATES: &[Template] = &[
    template!("verification_code", "Your {{app_name}} verification code"),
    template!("account_exists", "You already have a {{app_name}} account"),
    template!("password_reset", "Reset your {{app_name}} password"),
    template!("password_changed", "Your {{app_name}} password was changed"),
    template!("email_change_code", "Confirm your new {{app_name}} email address"),
    template!(
        "email_change_notice",
        "A change of your {{app_name}} email address was requested"
    ),
    template!("account_locked", "Sign-in to your {{app_name}} account is paused"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn render(mail: &Mail, app_name: &str) -> RenderedMail {
    let template = TEMPLATES
        .iter()
        .find(|t| t.kind == mail.kind())
        .expect("every mail kind has a template");
    let mut values: Vec<(&str, String)> = vec![("app_name", app_name.to_owned())];
    match mail {
        Mail::VerificationCode {
            code, expires_minutes, ..
        }
        | Mail::EmailChangeCode {
            code, expires_minutes, ..
        } => {
            values.extend([("code", code.clone()), ("expires_minutes", expires_minutes.to_string())]);
        }
        Mail::AccountExists { reset_url, .. } => values.push(("reset_url", reset_url.clone())),
        Mail::PasswordResetLink {
            reset_url,
            expires_minutes,
            ..
        } => {
            values.extend([
                ("reset_url", reset_url.clone()),
                ("expires_minutes", expires_minutes.to_string()),
            ]);
        }
        Mail::PasswordChanged { .. } => {}
        Mail::EmailChangeRequested { new_email, .. } => values.push(("new_email", new_email.clone())),
        Mail::AccountLocked {
            reset_url,
            retry_after_seconds,
            ..
        } => {
            values.extend([
                ("reset_url", reset_url.clone()),
                ("retry_after_seconds", retry_after_seconds.to_string()),
            ]);
        }
    }
    RenderedMail {
        to: mail.recipient().to_owned(),
        subject: fill(template.subject, &values, false),
        text: fill(template.text, &values, false),
        html: fill(template.html, &values, true),
    }
}

fn fill(template: &str, values: &[(&str, String)], escape: bool) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        let value = if escape { escape_html(value) } else { value.clone() };
        out = out.replace(&format!("{{{{{name}}}}}"), &value);
    }
    out
}

fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Mail> {
        let to = "ada@example.com".to_owned();
        vec![
            Mail::VerificationCode {
                to: to.clone(),
                code: "042817".into(),
                expires_minutes: 15,
            },
            Mail::AccountExists {
                to: to.clone(),
                reset_url: "https://app.example/forgot-password".into(),
            },
            Mail::PasswordResetLink {
                to: to.clone(),
                reset_url: "https://app.example/reset-password?token=abc&x=1".into(),
                expires_minutes: 30,
            },
            Mail::PasswordChanged { to: to.clone() },
            Mail::EmailChangeCode {
                to: to.clone(),
                code: "123456".into(),
                expires_minutes: 15,
            },
            Mail::EmailChangeRequested {
                to: to.clone(),
                new_email: "n***@example.org".into(),
            },
            Mail::AccountLocked {
                to,
                reset_url: "https://app.example/forgot-password".into(),
                retry_after_seconds: 30,
            },
        ]
    }

    #[test]
    fn every_kind_renders_with_no_placeholder_left() {
        for mail in every_kind() {
            let rendered = render(&mail, "Auth <System>");
            for part in [&rendered.subject, &rendered.text, &rendered.html] {
                assert!(!part.contains("{{"), "{}: {part}", mail.kind());
            }
            assert!(
                rendered.html.contains("Auth &lt;System&gt;"),
                "{}: names are escaped in HTML",
                mail.kind()
            );
            assert!(rendered.text.contains("Auth <System>"));
        }
    }

    #[test]
    fn codes_and_links_reach_the_body() {
        let mails = every_kind();
        assert!(render(&mails[0], "A").text.contains("042817"));
        let reset = render(&mails[2], "A");
        assert!(reset.text.contains("token=abc&x=1"));
        assert!(reset.html.contains("token=abc&amp;x=1"));
    }
}
