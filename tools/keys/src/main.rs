//! `make keys`: prints a JWK Set for `JWT_SIGNING_KEYS` on stdout, made with the OS CSPRNG;
//! it writes no file. See signing.md and the README's "Token signing".
//!
//!   edge-auth-keys [--alg EdDSA|ES256]                   a new set with one new key
//!   edge-auth-keys --alg ES256 --keys set.json           set.json with a new key appended
//!   edge-auth-keys --promote KID --keys set.json         set.json with that key first (current)
//!   edge-auth-keys --drop KID --keys set.json            set.json without that key

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};

#[derive(Debug, Default)]
struct Args {
    alg: Option<String>,
    keys: Option<String>,
    promote: Option<String>,
    drop: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().filter(|v| !v.is_empty());
        match flag.as_str() {
            "--alg" => args.alg = value(),
            "--keys" => args.keys = value(),
            "--promote" => args.promote = value(),
            "--drop" => args.drop = value(),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// `2026-11-24` of now, as the kid's date.
fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
        / 86_400;
    let z = days + 719_468;
    let (era, day_of_era) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    format!(
        "{:04}{month:02}{day:02}",
        year_of_era + era * 400 + i64::from(month <= 2)
    )
}

/// `<alg>-<YYYYMMDD>-<6 hex>`.
fn kid(alg: &str) -> String {
    let mut suffix = [0u8; 3];
    OsRng.fill_bytes(&mut suffix);
    let hex: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{hex}", alg.to_ascii_lowercase(), today())
}

fn new_key(alg: &str) -> Result<Value, String> {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    match alg {
        "EdDSA" => {
            let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
            Ok(json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid(alg), "alg": alg, "use": "sig",
                "x": b64(key.verifying_key().as_bytes()), "d": b64(&key.to_bytes()),
            }))
        }
        "ES256" => {
            let key = p256::SecretKey::random(&mut OsRng);
            let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key.public_key(), false);
            let (x, y) = (point.x().ok_or("no x")?, point.y().ok_or("no y")?);
            Ok(json!({
                "kty": "EC", "crv": "P-256", "kid": kid(alg), "alg": alg, "use": "sig",
                "x": b64(x), "y": b64(y), "d": b64(&key.to_bytes()),
            }))
        }
        other => Err(format!("ALG={other}: use EdDSA or ES256")),
    }
}

fn read_set(path: &str) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let set: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    set["keys"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("{path} is not a JWK Set ({{\"keys\": [...]}})"))
}

fn position(keys: &[Value], kid: &str) -> Result<usize, String> {
    keys.iter()
        .position(|key| key["kid"] == kid)
        .ok_or_else(|| format!("no key {kid:?} in the set"))
}

fn run(args: Args) -> Result<Vec<Value>, String> {
    let mut keys = match &args.keys {
        Some(path) => read_set(path)?,
        None if args.promote.is_some() || args.drop.is_some() => {
            return Err("PROMOTE and DROP need KEYS=set.json".into())
        }
        None => Vec::new(),
    };
    if let Some(kid) = &args.promote {
        let key = keys.remove(position(&keys, kid)?);
        keys.insert(0, key);
    } else if let Some(kid) = &args.drop {
        let at = position(&keys, kid)?;
        if keys.len() == 1 {
            return Err(format!(
                "{kid} is the only key of the set: add and promote another first"
            ));
        }
        keys.remove(at);
    } else {
        keys.push(new_key(args.alg.as_deref().unwrap_or("EdDSA"))?);
    }
    Ok(keys)
}

fn main() {
    match parse_args().and_then(run) {
        Ok(keys) => println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "keys": keys })).expect("JSON")
        ),
        Err(error) => {
            eprintln!("keys: {error}");
            std::process::exit(2);
        }
    }
}
