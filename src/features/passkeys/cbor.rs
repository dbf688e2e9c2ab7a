//! The CBOR (RFC 8949) WebAuthn needs read: attestation objects and COSE keys. Definite
//! lengths only (CTAP2's canonical form), bounded nesting; anything else is refused rather
//! than guessed at.

/// A decoded item. Floats, tags and other simple values are refused: WebAuthn has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cbor {
    /// Major types 0 and 1: `-1 - n` for negatives fits i128 for every 64-bit `n`.
    Int(i128),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    Map(Vec<(Cbor, Cbor)>),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed CBOR: {0}")]
pub struct CborError(&'static str);

const MAX_DEPTH: usize = 8;

impl Cbor {
    /// The one item `bytes` hold, with nothing after it.
    pub fn decode_all(bytes: &[u8]) -> Result<Self, CborError> {
        let (item, used) = Self::decode_prefix(bytes)?;
        if used != bytes.len() {
            return Err(CborError("bytes after the item"));
        }
        Ok(item)
    }

    /// The item at the start of `bytes` and how many bytes it took.
    pub fn decode_prefix(bytes: &[u8]) -> Result<(Self, usize), CborError> {
        let mut reader = Reader { bytes, at: 0 };
        let item = reader.item(0)?;
        Ok((item, reader.at))
    }

    /// The value under an integer key of a map (COSE keys).
    pub fn get_int(&self, key: i128) -> Option<&Cbor> {
        self.get(&Cbor::Int(key))
    }

    /// The value under a text key of a map (attestation objects).
    pub fn get_text(&self, key: &str) -> Option<&Cbor> {
        self.get(&Cbor::Text(key.to_owned()))
    }

    fn get(&self, key: &Cbor) -> Option<&Cbor> {
        match self {
            Cbor::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i128> {
        match self {
            Cbor::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Cbor::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], CborError> {
        let end = self.at.checked_add(n).ok_or(CborError("length overflow"))?;
        let slice = self.bytes.get(self.at..end).ok_or(CborError("truncated"))?;
        self.at = end;
        Ok(slice)
    }

    /// The argument of a head whose additional information is `info`.
    fn argument(&mut self, info: u8) -> Result<u64, CborError> {
        let width = match info {
            0..=23 => return Ok(u64::from(info)),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            31 => return Err(CborError("indefinite lengths are not accepted")),
            _ => return Err(CborError("reserved additional information")),
        };
        Ok(self
            .take(width)?
            .iter()
            .fold(0u64, |n, byte| (n << 8) | u64::from(*byte)))
    }

    /// A length, bounded by what is left to read (each element takes at least a byte), so
    /// no claimed length allocates more than the input.
    fn length(&mut self, info: u8) -> Result<usize, CborError> {
        let n = self.argument(info)?;
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(CborError("truncated"));
        }
        Ok(n as usize)
    }

    fn item(&mut self, depth: usize) -> Result<Cbor, CborError> {
        if depth > MAX_DEPTH {
            return Err(CborError("nested too deeply"));
        }
        let head = *self.take(1)?.first().expect("took one byte");
        let (major, info) = (head >> 5, head & 0x1f);
        Ok(match major {
            0 => Cbor::Int(i128::from(self.argument(info)?)),
            1 => Cbor::Int(-1 - i128::from(self.argument(info)?)),
            2 => {
                let n = self.length(info)?;
                Cbor::Bytes(self.take(n)?.to_vec())
            }
            3 => {
                let n = self.length(info)?;
                let text = std::str::from_utf8(self.take(n)?).map_err(|_| CborError("text is not UTF-8"))?;
                Cbor::Text(text.to_owned())
            }
            4 => {
                let n = self.length(info)?;
                Cbor::Array((0..n).map(|_| self.item(depth + 1)).collect::<Result<_, _>>()?)
            }
            5 => {
                let n = self.length(info)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let key = self.item(depth + 1)?;
                    let value = self.item(depth + 1)?;
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(CborError("duplicate map key"));
                    }
                    entries.push((key, value));
                }
                Cbor::Map(entries)
            }
            7 => match info {
                20 => Cbor::Bool(false),
                21 => Cbor::Bool(true),
                22 => Cbor::Null,
                _ => return Err(CborError("unsupported simple value or float")),
            },
            _ => return Err(CborError("tags are not accepted")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_8949_examples_decode() {
        assert_eq!(Cbor::decode_all(&[0x00]), Ok(Cbor::Int(0)));
        assert_eq!(Cbor::decode_all(&[0x18, 0x64]), Ok(Cbor::Int(100)));
        assert_eq!(Cbor::decode_all(&[0x20]), Ok(Cbor::Int(-1)));
        assert_eq!(Cbor::decode_all(&[0x38, 0x63]), Ok(Cbor::Int(-100)));
        assert_eq!(
            Cbor::decode_all(&[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Ok(Cbor::Int(-18_446_744_073_709_551_616))
        );
        assert_eq!(Cbor::decode_all(&[0x44, 1, 2, 3, 4]), Ok(Cbor::Bytes(vec![1, 2, 3, 4])));
        assert_eq!(Cbor::decode_all(&[0x62, 0x49, 0x45]), Ok(Cbor::Text("IE".into())));
        assert_eq!(
            Cbor::decode_all(&[0x82, 0x01, 0x82, 0x02, 0x03]),
            Ok(Cbor::Array(vec![
                Cbor::Int(1),
                Cbor::Array(vec![Cbor::Int(2), Cbor::Int(3)])
            ]))
        );
        let map = Cbor::decode_all(&[0xa2, 0x61, 0x61, 0x01, 0x20, 0xf5]).unwrap();
        assert_eq!(map.get_text("a"), Some(&Cbor::Int(1)));
        assert_eq!(map.get_int(-1), Some(&Cbor::Bool(true)));
        assert_eq!(Cbor::decode_all(&[0xf6]), Ok(Cbor::Null));
    }

    #[test]
    fn malformed_input_is_refused_without_allocating_what_it_claims() {
        for bad in [
            &[][..],
            &[0x5f, 0x41, 0x00, 0xff],                               // indefinite byte string
            &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // a huge claimed length
            &[0x9b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00], // a huge array
            &[0x44, 1, 2],                                           // truncated
            &[0x62, 0xff, 0xfe],                                     // not UTF-8
            &[0xa2, 0x01, 0x02, 0x01, 0x03],                         // duplicate key
            &[0xc0, 0x00],                                           // a tag
            &[0xfa, 0, 0, 0, 0],                                     // a float
            &[0x00, 0x00],                                           // trailing bytes
        ] {
            assert!(Cbor::decode_all(bad).is_err(), "{bad:02x?}");
        }
        let deep = [0x81; 20].iter().copied().chain([0x00]).collect::<Vec<_>>();
        assert_eq!(Cbor::decode_all(&deep), Err(CborError("nested too deeply")));
    }

    #[test]
    fn a_prefix_reports_how_much_it_took() {
        assert_eq!(
            Cbor::decode_prefix(&[0x41, 0x07, 0xaa, 0xbb]),
            Ok((Cbor::Bytes(vec![7]), 2))
        );
    }
}
