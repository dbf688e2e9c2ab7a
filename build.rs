//! Front-codes the common-password list for the Worker: each entry is stored as how many
//! leading bytes it shares with the entry before it (as the byte `b'0' + n`), then the rest
//! of it, then a newline. The list is sorted, so neighbours share much: the Worker carries
//! 24 KB of it gzipped instead of 30. `domain::password` decodes it once per isolate.

use std::path::Path;

fn main() {
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
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out).join("common-passwords.front"), coded).expect("OUT_DIR is writable");
}
