//! The enrollment QR code as SVG, drawn by the Worker: error correction M (the level is
//! not raised even where it would fit), one path of unit squares, a 4-module quiet zone,
//! no XML prolog, no script and no external reference.

use qrcodegen::{QrCode, QrCodeEcc, QrSegment, Version};

const QUIET_ZONE: i32 = 4;

/// The QR code of `text` as an `<svg>` element, or `None` when it does not fit a QR code.
pub fn svg(text: &str) -> Option<String> {
    let segments = QrSegment::make_segments(text);
    let qr =
        QrCode::encode_segments_advanced(&segments, QrCodeEcc::Medium, Version::MIN, Version::MAX, None, false).ok()?;
    let size = qr.size();
    let full = size + 2 * QUIET_ZONE;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE));
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {full} {full}\" shape-rendering=\"crispEdges\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_otpauth_uri_becomes_a_plain_svg_at_level_m() {
        let uri = "otpauth://totp/Auth%20System:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
                   &issuer=Auth%20System&algorithm=SHA1&digits=6&period=30";
        let svg = svg(uri).unwrap();
        assert!(svg.starts_with("<svg "), "no prolog");
        assert!(svg.ends_with("</svg>"));
        for absent in ["<script", "href", "<?xml", "url(", "<image", "<foreignObject"] {
            assert!(!svg.contains(absent), "{absent}");
        }
        let qr = QrCode::encode_segments_advanced(
            &QrSegment::make_segments(uri),
            QrCodeEcc::Medium,
            Version::MIN,
            Version::MAX,
            None,
            false,
        )
        .unwrap();
        assert_eq!(qr.error_correction_level(), QrCodeEcc::Medium);
        let squares = svg.matches('M').count();
        let dark = (0..qr.size())
            .flat_map(|y| (0..qr.size()).map(move |x| (x, y)))
            .filter(|(x, y)| qr.get_module(*x, *y))
            .count();
        assert_eq!(squares, dark, "one square per dark module");
    }
}
