//! Validators run after a pattern matched: issuer checksums, structure checks, entropy floors
//! and the placeholder filter. All are total functions over arbitrary input.

use base64::Engine as _;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// GitHub (`ghp_` ...) and npm (`npm_`) tokens: `prefix_` + 30 payload chars + 6 base62 chars
/// encoding the CRC32 of the payload.
pub fn crc32_base62(token: &str) -> bool {
    let Some((_, body)) = token.split_once('_') else {
        return false;
    };
    let body = body.as_bytes();
    if body.len() != 36 {
        return false;
    }
    let (payload, check) = body.split_at(30);
    let mut n = crc32fast::hash(payload);
    let mut expect = [b'0'; 6];
    for slot in expect.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    expect == check
}

/// Luhn checksum over the ASCII digits of `s`; other characters are ignored.
pub fn luhn(s: &str) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    let mut count = 0;
    for b in s.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
        count += 1;
    }
    count > 1 && sum.is_multiple_of(10)
}

/// Card numbers also need a plausible issuer prefix (IIN) for their length.
pub fn card_issuer_plausible(digits: &[u8]) -> bool {
    let n = digits.len();
    let p = |k: usize| -> u32 {
        digits
            .iter()
            .take(k)
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    match digits.first() {
        Some(b'4') => matches!(n, 13 | 16 | 19),
        Some(b'5') => n == 16 && (51..=55).contains(&p(2)),
        Some(b'2') => n == 16 && (2221..=2720).contains(&p(4)),
        Some(b'3') => {
            (n == 15 && matches!(p(2), 34 | 37))
                || (n == 14 && matches!(p(2), 30 | 36 | 38 | 39))
                || ((16..=19).contains(&n) && (3528..=3589).contains(&p(4)))
        }
        Some(b'6') => {
            (16..=19).contains(&n)
                && (p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3)) || p(2) == 62)
        }
        _ => false,
    }
}

/// IBAN lengths per country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

pub fn iban_length(country: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(cc, _)| cc.as_slice() == country)
        .map(|&(_, n)| n)
}

/// ISO 7064 mod-97 over an IBAN given as its compact alphanumeric characters.
pub fn iban_mod97(compact: &[u8]) -> bool {
    if compact.len() < 5 || iban_length(compact.get(..2).unwrap_or_default()) != Some(compact.len())
    {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for &b in tail.iter().chain(head) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// US SSN rules since randomisation (2011): area not 000, 666 or 9xx; group not 00; serial not
/// 0000.
pub fn us_ssn(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// JWT/JWS structure: the header decodes (base64url) to a JSON object with an `alg` member.
pub fn jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        return false;
    };
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let Ok(header) = engine.decode(header.trim_end_matches('=')) else {
        return false;
    };
    let Ok(header) = serde_json::from_slice::<serde_json::Value>(&header) else {
        return false;
    };
    header.get("alg").is_some_and(|a| a.is_string())
        && engine.decode(payload.trim_end_matches('=')).is_ok()
}

const BECH32_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// Bech32 checksum (BIP-173) of a string such as `AGE-SECRET-KEY-1...`.
pub fn bech32(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let Some(sep) = lower.rfind('1') else {
        return false;
    };
    let (hrp, data) = (&lower.as_bytes()[..sep], &lower.as_bytes()[sep + 1..]);
    if hrp.is_empty() || data.len() < 6 {
        return false;
    }
    let mut values = Vec::with_capacity(hrp.len() * 2 + 1 + data.len());
    values.extend(hrp.iter().map(|b| b >> 5));
    values.push(0);
    values.extend(hrp.iter().map(|b| b & 31));
    for b in data {
        match BECH32_CHARSET.iter().position(|c| c == b) {
            Some(v) => values.push(v as u8),
            None => return false,
        }
    }
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x1ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk == 1
}

/// A PEM body must carry real key material, not `...` or `<key>`.
pub fn pem_body(block: &str) -> bool {
    let body = block
        .split_once("-----")
        .and_then(|(_, rest)| rest.split_once("-----"))
        .map_or("", |(_, body)| body);
    let body = body.split("-----END").next().unwrap_or("");
    let b64 = body
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .count();
    b64 >= 40 && shannon_entropy(body.as_bytes()) >= 3.5
}

/// Shannon entropy in bits per byte.
pub fn shannon_entropy(s: &[u8]) -> f32 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f32 / n;
            -p * p.log2()
        })
        .sum()
}

/// Words that mark a documentation placeholder rather than a live secret.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "xxxx",
    "your_",
    "your-",
    "yourkey",
    "your_api",
    "placeholder",
    "redacted",
    "dummy",
    "sample",
    "changeme",
    "change_me",
    "change-me",
    "replace",
    "insert",
    "fake",
    "<",
    ">",
    "...",
    "${",
    "{{",
    "$(",
    "%(",
    "****",
    "••",
    "notreal",
    "not_real",
    "foobar",
];

/// Whole values that are defaults or stand-ins, never live secrets.
const PLACEHOLDER_VALUES: &[&str] = &[
    "password", "passwd", "pass", "pwd", "secret", "changeme", "admin", "root", "user", "guest",
    "test", "postgres", "mysql", "redis", "letmein", "default", "token", "apikey",
];

/// Values an assignment often holds that are code, not secrets.
const CODE_WORDS: &[&str] = &[
    "environ",
    "getenv",
    "process.env",
    "secrets.",
    "config.",
    "settings.",
    "os.",
    "env(",
    "vault:",
    "null",
    "none",
    "true",
    "false",
    "undefined",
    "string",
    "required",
    "optional",
    "password",
    "secret",
    "token",
    "bearer",
    "function",
    "hidden",
];

/// True when `value` looks like a placeholder: stop-words, long repeats, counting sequences,
/// or too few distinct characters.
pub fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if PLACEHOLDER_VALUES.contains(&lower.as_str()) {
        return true;
    }
    if PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    let bytes = lower.as_bytes();
    let mut run = 1;
    let mut seq = 1;
    for pair in bytes.windows(2) {
        run = if pair[0] == pair[1] { run + 1 } else { 1 };
        seq = if pair[1] == pair[0].wrapping_add(1) {
            seq + 1
        } else {
            1
        };
        if run >= 6 || seq >= 6 {
            return true;
        }
    }
    let mut seen = [false; 256];
    let distinct = bytes
        .iter()
        .filter(|&&b| !std::mem::replace(&mut seen[usize::from(b)], true))
        .count();
    distinct < 5.min(bytes.len())
}

/// Generic assignment values must not be code references or type names.
pub fn is_code_reference(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    CODE_WORDS.iter().any(|w| lower.contains(w)) || value.starts_with('$')
}

/// Generic passwords need at least two character classes: `letmeinplease` is prose.
pub fn char_classes(value: &str) -> usize {
    let b = value.as_bytes();
    [
        b.iter().any(u8::is_ascii_lowercase),
        b.iter().any(u8::is_ascii_uppercase),
        b.iter().any(u8::is_ascii_digit),
        b.iter().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|&&x| x)
    .count()
}
