//! Prepares two data files for the Worker, in OUT_DIR:
//!
//! - the common-password list, front-coded: each entry is stored as how many leading bytes
//!   it shares with the entry before it (as the byte `b'0' + n`), then the rest of it, then
//!   a newline. The list is sorted, so neighbours share much: the Worker carries 24 KB of it
//!   gzipped instead of 30. `kernel::password` decodes it once per isolate;
//! - `openapi.json` without the white space between tokens (the committed file is pretty
//!   for review; the Worker serves it compact, half the bytes).

use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    front_code_common_passwords(&out);
    minify_openapi(&out);
}

fn minify_openapi(out: &str) {
    let source = "openapi.json";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).expect("openapi.json is readable");
    let mut compact = String::with_capacity(text.len() / 2);
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') | (false, _, '"') => in_string = !in_string,
            (false, _, c) if c.is_whitespace() => continue,
            _ => {}
        }
        compact.push(c);
    }
    std::fs::write(Path::new(out).join("openapi.min.json"), compact).expect("OUT_DIR is writable");
}

fn front_code_common_passwords(out: &str) {
    let source = "data/common-passwords.txt";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read(source).expect("data/common-passwords.txt is readable");
    let mut coded = Vec::with_capacity(text.len());
    let mut previous: &[u8] = &[];
    for entry in text.split(|&b| b == b'\n').filter(|e| !e.is_empty()) {
        assert!(previous < entry, "{source} must be sorted bytewise without duplicates");
        let shared = previous.iter().zip(entry).take_while(|(a, b)| a == b).count();
        assert!(shared <= 72, "{source}: an entry longer than a password can be");
        coded.push(b'0' + shared as u8);
        coded.extend_from_slice(&entry[shared..]);
        coded.push(b'\n');
        previous = entry;
    }
    std::fs::write(Path::new(out).join("common-passwords.front"), coded).expect("OUT_DIR is writable");
}
