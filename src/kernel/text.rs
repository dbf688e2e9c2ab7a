//! Unicode lower case, for addresses and the common-password check. ASCII is lowered here;
//! anything else, in the Worker, by the JavaScript runtime's `String.prototype.toLowerCase`
//! (its ICU tables) and, natively, by `str::to_lowercase`. Both are Unicode's default full
//! lower-case mapping, final sigma included. The one place the kernel asks its runtime for
//! anything: Rust's own case tables would cost the bundle 8 KB gzip (issue 14).

/// `text` in lower case.
pub fn lowercase(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    unicode_lowercase(text)
}

#[cfg(target_arch = "wasm32")]
fn unicode_lowercase(text: &str) -> String {
    js_sys::JsString::from(text).to_lower_case().into()
}

#[cfg(not(target_arch = "wasm32"))]
fn unicode_lowercase(text: &str) -> String {
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_case_is_unicodes_with_the_final_sigma() {
        for (text, lowered) in [
            ("Ada@Example.COM", "ada@example.com"),
            ("ÉLODIE.ÜNÏ@EXAMPLE.COM", "élodie.ünï@example.com"),
            ("ΟΔΟΣ.1@EXAMPLE.COM", "οδος.1@example.com"),
            ("ΣΑΣ", "σας"),
            ("ПРИВЕТ", "привет"),
            ("İ", "i\u{307}"),
            ("already lower", "already lower"),
        ] {
            assert_eq!(lowercase(text), lowered, "{text}");
        }
    }
}
