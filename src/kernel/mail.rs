//! Mail as data. Each capability declares its kinds (`MailKind`: a subject and the two
//! bodies from its `templates/` folder, compiled in) and builds `Mail` values with typed
//! constructors; the outbox renders and delivers them off the response path.

/// `mail_kind!("verification_code", "Your {{app_name}} code")`: the kind whose bodies are
/// `templates/verification_code.txt` and `.html` beside the file that names it.
#[macro_export]
macro_rules! mail_kind {
    ($name:literal, $subject:literal) => {
        $crate::kernel::mail::MailKind {
            name: $name,
            subject: $subject,
            text: include_str!(concat!("templates/", $name, ".txt")),
            html: include_str!(concat!("templates/", $name, ".html")),
        }
    };
}

/// One kind of mail: the template name (also the kind logs and metrics name), the subject
/// and the text and HTML bodies, with `{{name}}` placeholders.
#[derive(Debug, PartialEq, Eq)]
pub struct MailKind {
    pub name: &'static str,
    pub subject: &'static str,
    pub text: &'static str,
    pub html: &'static str,
}

/// One outgoing message: a kind, a recipient and the values of its placeholders
/// (`app_name` is filled in by `render`).
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    pub kind: &'static MailKind,
    pub to: String,
    pub values: Vec<(&'static str, String)>,
}

impl Mail {
    pub fn new(kind: &'static MailKind, to: impl Into<String>) -> Self {
        Self {
            kind,
            to: to.into(),
            values: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.values.push((name, value.to_string()));
        self
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// Subject and both bodies with every placeholder filled; HTML-escaped in the HTML part.
    pub fn render(&self, app_name: &str) -> RenderedMail {
        let values: Vec<(&str, &str)> = std::iter::once(("app_name", app_name))
            .chain(self.values.iter().map(|(n, v)| (*n, v.as_str())))
            .collect();
        RenderedMail {
            to: self.to.clone(),
            subject: fill(self.kind.subject, &values, false),
            text: fill(self.kind.text, &values, false),
            html: fill(self.kind.html, &values, true),
        }
    }
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Codes and links are secrets: only the kind and a masked recipient are printed.
        write!(
            f,
            "Mail({}, to {})",
            self.kind.name,
            super::email::redact_email(&self.to)
        )
    }
}

/// Takes mail to deliver off the response path (the Worker defers it with `waitUntil`),
/// so neither a slow mail API nor its failure shows in the answer.
pub trait Outbox {
    fn send(&self, mail: Mail);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn fill(template: &str, values: &[(&str, &str)], escape: bool) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match values.iter().find(|(n, _)| *n == name) {
            Some((_, value)) if escape => escape_html(value, &mut out),
            Some((_, value)) => out.push_str(value),
            // Left as written, so a test sees a placeholder nobody filled.
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn escape_html(raw: &str, out: &mut String) {
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
}

/// For each capability's tests: renders `mail` and fails on a placeholder left unfilled,
/// an app name not escaped in HTML, or a value missing from either body.
#[cfg(test)]
pub fn assert_renders_completely(mail: &Mail) {
    let rendered = mail.render("Auth <System>");
    for part in [&rendered.subject, &rendered.text, &rendered.html] {
        assert!(!part.contains("{{"), "{}: {part}", mail.kind.name);
    }
    assert!(
        rendered.html.contains("Auth &lt;System&gt;"),
        "{}: names are escaped in HTML",
        mail.kind.name
    );
    assert!(rendered.text.contains("Auth <System>"), "{}", mail.kind.name);
    for (name, value) in &mail.values {
        assert!(
            rendered.text.contains(value.as_str()),
            "{}: {name} not in the text",
            mail.kind.name
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GREETING: MailKind = MailKind {
        name: "greeting",
        subject: "Hello from {{app_name}}",
        text: "Go to {{url}} within {{minutes}} minutes.",
        html: "<a href=\"{{url}}\">{{app_name}}</a>",
    };

    #[test]
    fn placeholders_are_filled_and_escaped_in_html_only() {
        let mail = Mail::new(&GREETING, "ada@example.com")
            .with("url", "https://app.example/x?a=1&b=2")
            .with("minutes", 15);
        let rendered = mail.render("A&B");
        assert_eq!(rendered.subject, "Hello from A&B");
        assert_eq!(rendered.text, "Go to https://app.example/x?a=1&b=2 within 15 minutes.");
        assert_eq!(
            rendered.html,
            "<a href=\"https://app.example/x?a=1&amp;b=2\">A&amp;B</a>"
        );
    }

    #[test]
    fn an_unfilled_placeholder_stays_visible() {
        let rendered = Mail::new(&GREETING, "ada@example.com").render("A");
        assert!(rendered.text.contains("{{url}}"));
    }

    #[test]
    fn debug_hides_the_values_and_the_address() {
        let mail = Mail::new(&GREETING, "secret.person@example.com").with("url", "https://x/?token=abc");
        let printed = format!("{mail:?}");
        assert!(
            !printed.contains("token") && !printed.contains("secret.person"),
            "{printed}"
        );
    }
}
