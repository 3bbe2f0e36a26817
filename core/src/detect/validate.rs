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

/// Standard base64 of `user:password`: both parts non-empty, printable ASCII (no spaces in the
/// user), and the password not a placeholder. What HTTP Basic and Docker's `auths` carry.
pub fn base64_user_password(value: &str) -> bool {
    use base64::Engine as _;
    let Ok(plain) = base64::engine::general_purpose::STANDARD.decode(value.trim()) else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(&plain) else {
        return false;
    };
    let Some((user, password)) = text.split_once(':') else {
        return false;
    };
    !user.is_empty()
        && !password.is_empty()
        && user.bytes().all(|b| b.is_ascii_graphic())
        && password.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && !is_placeholder(password)
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

/// The numeric value of an ASCII digit; letters and other bytes give `None`.
fn digit(b: u8) -> Option<u32> {
    b.is_ascii_digit().then(|| u32::from(b - b'0'))
}

/// The values of `digits` when every byte is an ASCII digit and there are exactly `N`.
fn digits_of<const N: usize>(digits: &[u8]) -> Option<[u32; N]> {
    let mut out = [0u32; N];
    if digits.len() != N {
        return None;
    }
    for (slot, &b) in out.iter_mut().zip(digits) {
        *slot = digit(b)?;
    }
    Some(out)
}

/// Canada's Social Insurance Number (9 digits): Luhn. A first digit of 0 is never assigned
/// (it marks sample numbers) and 8 belongs to business numbers.
pub fn ca_sin(digits: &[u8]) -> bool {
    digits_of::<9>(digits).is_some_and(|d| !matches!(d.first(), Some(0 | 8)))
        && std::str::from_utf8(digits).is_ok_and(luhn)
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];

const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// Verhoeff check over ASCII digits (the check digit last): the dihedral-group scheme UIDAI
/// uses for Aadhaar, which catches every transposition Luhn misses.
pub fn verhoeff(digits: &[u8]) -> bool {
    let mut c = 0u8;
    for (i, &b) in digits.iter().rev().enumerate() {
        let Some(d) = digit(b) else { return false };
        let p = VERHOEFF_P
            .get(i % 8)
            .and_then(|row| row.get(d as usize))
            .copied()
            .unwrap_or(0);
        c = VERHOEFF_D
            .get(usize::from(c))
            .and_then(|row| row.get(usize::from(p)))
            .copied()
            .unwrap_or(0);
    }
    !digits.is_empty() && c == 0
}

/// India's Aadhaar: 12 digits, the first 2–9 (0 and 1 are not issued), Verhoeff check digit.
pub fn in_aadhaar(digits: &[u8]) -> bool {
    digits_of::<12>(digits).is_some_and(|d| d.first().is_some_and(|&f| f >= 2)) && verhoeff(digits)
}

/// Sum of `digits` times `weights`, for the mod-11 schemes below.
fn weighted(digits: &[u32], weights: &[u32]) -> u32 {
    digits.iter().zip(weights).map(|(d, w)| d * w).sum()
}

/// A Brazilian mod-11 check digit: 0 when the remainder is below 2, else 11 minus it.
fn br_check(sum: u32) -> u32 {
    match sum % 11 {
        r @ 2.. => 11 - r,
        _ => 0,
    }
}

/// Brazil's CPF (11 digits): two mod-11 check digits (weights 10..2, then 11..2). Numbers of
/// one repeated digit pass the arithmetic but are not issued.
pub fn br_cpf(digits: &[u8]) -> bool {
    let Some(d) = digits_of::<11>(digits) else {
        return false;
    };
    let first = br_check(weighted(&d, &[10, 9, 8, 7, 6, 5, 4, 3, 2]));
    let second = br_check(weighted(&d, &[11, 10, 9, 8, 7, 6, 5, 4, 3, 2]));
    d.iter().any(|&x| Some(&x) != d.first())
        && d.get(9) == Some(&first)
        && d.get(10) == Some(&second)
}

/// Brazil's CNPJ (14 digits): two mod-11 check digits with the weights 5..2,9..2 and
/// 6..2,9..2. Repeated digits are rejected as for the CPF.
pub fn br_cnpj(digits: &[u8]) -> bool {
    let Some(d) = digits_of::<14>(digits) else {
        return false;
    };
    let first = br_check(weighted(&d, &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]));
    let second = br_check(weighted(&d, &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]));
    d.iter().any(|&x| Some(&x) != d.first())
        && d.get(12) == Some(&first)
        && d.get(13) == Some(&second)
}

/// The control letters of Spain's DNI and NIE, indexed by the number mod 23.
const ES_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// Spain's DNI: 8 digits and the letter of their value mod 23.
pub fn es_dni(digits: &[u8], letter: u8) -> bool {
    let Some(d) = digits_of::<8>(digits) else {
        return false;
    };
    let n = d.iter().fold(0u32, |a, x| a * 10 + x);
    ES_LETTERS.get((n % 23) as usize) == Some(&letter)
}

/// Spain's NIE: `X`, `Y` or `Z` (read as 0, 1, 2) before 7 digits, and the DNI letter of that
/// 8-digit number.
pub fn es_nie(prefix: u8, digits: &[u8], letter: u8) -> bool {
    let lead = match prefix {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        _ => return false,
    };
    let Some(d) = digits_of::<7>(digits) else {
        return false;
    };
    let n = d.iter().fold(lead, |a, x| a * 10 + x);
    ES_LETTERS.get((n % 23) as usize) == Some(&letter)
}

/// Values of the characters in odd positions (1st, 3rd, … counting from 1) of an Italian
/// codice fiscale, for `0`–`9` and `A`–`Z` alike (the decree's table).
const CF_ODD: [u32; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

/// Letters that stand for a digit in a codice fiscale after an homocode substitution
/// (`L` = 0 … `V` = 9).
pub const CF_OMOCODE: &[u8; 10] = b"LMNPQRSTUV";

/// The digit a codice fiscale position holds: itself, or an homocode letter's digit.
pub fn cf_digit(b: u8) -> Option<u32> {
    digit(b).or_else(|| {
        CF_OMOCODE
            .iter()
            .position(|&c| c == b)
            .and_then(|p| u32::try_from(p).ok())
    })
}

/// Italy's codice fiscale (16 characters): six letters of name and surname, year, month letter,
/// day (plus 40 for women), the municipality code, and a check letter over the first 15
/// characters (odd positions by [`CF_ODD`], even ones by their own value, sum mod 26).
pub fn it_codice_fiscale(code: &[u8]) -> bool {
    const MONTHS: &[u8] = b"ABCDEHLMPRST";
    if code.len() != 16 {
        return false;
    }
    let at = |i: usize| code.get(i).copied().unwrap_or(0);
    let letters = [0, 1, 2, 3, 4, 5, 11, 15]
        .iter()
        .all(|&i| at(i).is_ascii_uppercase());
    let numbers = [6, 7, 9, 10, 12, 13, 14]
        .iter()
        .all(|&i| cf_digit(at(i)).is_some());
    if !letters || !numbers || !MONTHS.contains(&at(8)) {
        return false;
    }
    let day = cf_digit(at(9)).unwrap_or(0) * 10 + cf_digit(at(10)).unwrap_or(0);
    if !((1..=31).contains(&day) || (41..=71).contains(&day)) {
        return false;
    }
    let value = |b: u8| -> Option<u32> {
        match b {
            b'0'..=b'9' => Some(u32::from(b - b'0')),
            b'A'..=b'Z' => Some(u32::from(b - b'A')),
            _ => None,
        }
    };
    let mut sum = 0u32;
    for (i, &b) in code.iter().take(15).enumerate() {
        let v = match value(b) {
            Some(v) => v,
            None => return false,
        };
        sum += if i % 2 == 0 {
            CF_ODD.get(v as usize).copied().unwrap_or(0)
        } else {
            v
        };
    }
    u8::try_from(sum % 26).is_ok_and(|r| at(15) == b'A' + r)
}

/// France's NIR (numéro de sécurité sociale), 15 characters compact: sex, year, month,
/// department (`2A`/`2B` for Corsica), commune, order number, and a key of 97 minus the
/// 13-digit number mod 97 (Corsica counted as 19 and 18).
pub fn fr_nir(compact: &[u8]) -> bool {
    if compact.len() != 15 || !matches!(compact.first(), Some(b'1' | b'2')) {
        return false;
    }
    let mut n: u64 = 0;
    for (i, &b) in compact.iter().take(13).enumerate() {
        let d = match (i, b) {
            (5, b'2') if matches!(compact.get(6), Some(b'A' | b'B')) => 1,
            (6, b'A') if compact.get(5) == Some(&b'2') => 9,
            (6, b'B') if compact.get(5) == Some(&b'2') => 8,
            _ => match digit(b) {
                Some(d) => d,
                None => return false,
            },
        };
        n = n * 10 + u64::from(d);
    }
    let month = compact
        .get(3..5)
        .and_then(digits_of::<2>)
        .map_or(0, |[a, b]| a * 10 + b);
    let key = compact
        .get(13..15)
        .and_then(digits_of::<2>)
        .map(|[a, b]| u64::from(a * 10 + b));
    // Months 20–42 and 50–99 are issued when the birth month is unknown.
    let month_ok =
        (1..=12).contains(&month) || (20..=42).contains(&month) || (50..=99).contains(&month);
    month_ok && key == Some(97 - n % 97)
}

/// Germany's Steuerliche Identifikationsnummer (11 digits): no leading 0; in the first ten
/// digits exactly one digit occurs twice or three times (three times never in a row) and
/// the rest at most once; the last digit is the ISO 7064 MOD 11,10 check.
pub fn de_steuer_id(digits: &[u8]) -> bool {
    let Some(d) = digits_of::<11>(digits) else {
        return false;
    };
    let body = d.get(..10).unwrap_or_default();
    if body.first() == Some(&0) {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in body {
        if let Some(c) = counts.get_mut(x as usize) {
            *c += 1;
        }
    }
    let repeated: Vec<usize> = (0..10)
        .filter(|&i| counts.get(i).is_some_and(|&c| c >= 2))
        .collect();
    let [r] = repeated.as_slice() else {
        return false;
    };
    match counts.get(*r) {
        Some(2) => {}
        Some(3) => {
            let in_a_row = body.windows(3).any(|w| w.iter().all(|&x| x as usize == *r));
            if in_a_row {
                return false;
            }
        }
        _ => return false,
    }
    let mut product = 10u32;
    for &x in body {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = match 11 - product {
        10 => 0,
        c => c,
    };
    d.get(10) == Some(&check)
}

/// Australia's Tax File Number (9 digits): weights 1, 4, 3, 7, 5, 8, 6, 9, 10, sum mod 11 = 0.
pub fn au_tfn(digits: &[u8]) -> bool {
    digits_of::<9>(digits)
        .is_some_and(|d| weighted(&d, &[1, 4, 3, 7, 5, 8, 6, 9, 10]).is_multiple_of(11))
}

/// US ITIN (9 digits): area 9xx and a group the IRS assigns to ITINs (50–65, 70–88, 90–92,
/// 94–99). No check digit exists.
pub fn us_itin(digits: &[u8]) -> bool {
    let Some(d) = digits_of::<9>(digits) else {
        return false;
    };
    let group = d.get(3).copied().unwrap_or(0) * 10 + d.get(4).copied().unwrap_or(0);
    d.first() == Some(&9)
        && ((50..=65).contains(&group)
            || (70..=88).contains(&group)
            || (90..=92).contains(&group)
            || (94..=99).contains(&group))
}

/// US ABA routing transit number (9 digits): weights 3, 7, 1 repeated, sum mod 10 = 0, and a
/// Federal Reserve prefix (00–12 banks, 21–32 thrifts, 61–72 electronic, 80 traveller's
/// cheques).
pub fn us_aba_routing(digits: &[u8]) -> bool {
    let Some(d) = digits_of::<9>(digits) else {
        return false;
    };
    let prefix = d.first().copied().unwrap_or(0) * 10 + d.get(1).copied().unwrap_or(0);
    let known =
        prefix <= 12 || (21..=32).contains(&prefix) || (61..=72).contains(&prefix) || prefix == 80;
    known
        && weighted(&d, &[3, 7, 1, 3, 7, 1, 3, 7, 1]).is_multiple_of(10)
        && d.iter().any(|&x| x != 0)
}

/// US National Provider Identifier (10 digits, first 1 or 2): Luhn over the number prefixed
/// with `80840` (the health-industry issuer prefix of ISO 7812).
pub fn us_npi(digits: &[u8]) -> bool {
    let Some(d) = digits_of::<10>(digits) else {
        return false;
    };
    if !matches!(d.first(), Some(1 | 2)) {
        return false;
    }
    let mut full = [0u8; 15];
    full.get_mut(..5)
        .into_iter()
        .for_each(|s| s.copy_from_slice(b"80840"));
    full.get_mut(5..)
        .into_iter()
        .for_each(|s| s.copy_from_slice(digits));
    std::str::from_utf8(&full).is_ok_and(luhn)
}

/// US DEA registration number: a registrant-type letter, the registrant's initial (or `9`),
/// and 7 digits whose last is the final digit of (1st + 3rd + 5th) + 2 × (2nd + 4th + 6th).
pub fn us_dea(code: &[u8]) -> bool {
    const TYPES: &[u8] = b"ABCDEFGHJKLMPRSTUX";
    let (Some(&kind), Some(&initial)) = (code.first(), code.get(1)) else {
        return false;
    };
    let Some(d) = code.get(2..).and_then(digits_of::<7>) else {
        return false;
    };
    let odd = d.first().copied().unwrap_or(0)
        + d.get(2).copied().unwrap_or(0)
        + d.get(4).copied().unwrap_or(0);
    let even = d.get(1).copied().unwrap_or(0)
        + d.get(3).copied().unwrap_or(0)
        + d.get(5).copied().unwrap_or(0);
    TYPES.contains(&kind)
        && (initial.is_ascii_uppercase() || initial == b'9')
        && d.get(6) == Some(&((odd + 2 * even) % 10))
}

/// UK National Insurance number prefix: the letters HMRC never allocates (D, F, I, Q, U, V
/// first; D, F, I, O, Q, U, V second) and the reserved pairs BG, GB, KN, NK, NT, TN, ZZ.
pub fn uk_nino_prefix(first: u8, second: u8) -> bool {
    first.is_ascii_uppercase()
        && second.is_ascii_uppercase()
        && !b"DFIQUV".contains(&first)
        && !b"DFIOQUV".contains(&second)
        && ![b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"].contains(&&[first, second])
}

/// India's PAN holder-type letter (4th character): company, person, Hindu undivided family,
/// firm, association of persons, trust, body of individuals, local authority, artificial
/// juridical person, government.
pub fn in_pan_holder(b: u8) -> bool {
    b"CPHFATBLJG".contains(&b)
}

const BASE58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// A Bitcoin Base58Check address: 25 bytes (version 0x00 for P2PKH, written with a leading
/// `1`, or 0x05 for P2SH, a leading `3`), the last four the double SHA-256 of the first 21.
pub fn bitcoin_base58(address: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let mut bytes = [0u8; 25];
    for &c in address {
        let Some(v) = BASE58.iter().position(|&a| a == c) else {
            return false;
        };
        let mut carry = v as u32;
        for b in bytes.iter_mut().rev() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        if carry != 0 {
            return false;
        }
    }
    // Each leading `1` is one leading zero byte; any other count is not the canonical text.
    let ones = address.iter().take_while(|&&c| c == b'1').count();
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    let version_ok = match bytes.first() {
        Some(0) => ones == zeros.min(21) && ones >= 1,
        Some(5) => ones == 0 && address.first() == Some(&b'3'),
        _ => false,
    };
    let (payload, check) = bytes.split_at(21);
    let digest = Sha256::digest(Sha256::digest(payload));
    version_ok && digest.get(..4) == Some(check)
}

/// The bech32 checksum residue of `hrp` and `data` (5-bit values, checksum included): 1 for
/// bech32 (BIP-173), 0x2bc830a3 for bech32m (BIP-350).
fn bech32_polymod(hrp: &[u8], data: &[u8]) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let values = hrp
        .iter()
        .map(|b| b >> 5)
        .chain(std::iter::once(0))
        .chain(hrp.iter().map(|b| b & 31))
        .chain(data.iter().copied());
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
    chk
}

/// A Bitcoin segwit address (`bc1…`, one case throughout): witness version 0 with bech32 and
/// a 20- or 32-byte program, versions 1–16 with bech32m and 2–40 bytes (BIP-173, BIP-350).
pub fn bitcoin_segwit(address: &[u8]) -> bool {
    let lower = address.iter().any(u8::is_ascii_lowercase);
    let upper = address.iter().any(u8::is_ascii_uppercase);
    if lower && upper || !(14..=90).contains(&address.len()) {
        return false;
    }
    let text: Vec<u8> = address.iter().map(u8::to_ascii_lowercase).collect();
    let Some(rest) = text.strip_prefix(b"bc1") else {
        return false;
    };
    let mut data = Vec::with_capacity(rest.len());
    for c in rest {
        match BECH32_CHARSET.iter().position(|a| a == c) {
            Some(v) => data.push(v as u8),
            None => return false,
        }
    }
    let Some((&version, program)) = data.split_first() else {
        return false;
    };
    let Some(program) = program.get(..program.len().saturating_sub(6)) else {
        return false;
    };
    // The program regrouped from 5-bit to 8-bit values; leftover bits must be zero padding.
    let (mut acc, mut bits, mut len) = (0u32, 0u32, 0usize);
    for &v in program {
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            len += 1;
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 4 || acc != 0 {
        return false;
    }
    let residue = bech32_polymod(b"bc", &data);
    match version {
        0 => residue == 1 && matches!(len, 20 | 32),
        1..=16 => residue == 0x2bc8_30a3 && (2..=40).contains(&len),
        _ => false,
    }
}

/// Keccak-256 as Ethereum uses it (the original Keccak padding, not SHA-3's).
pub fn keccak256(input: &[u8]) -> [u8; 32] {
    use sha3::Digest as _;
    sha3::Keccak256::digest(input).into()
}

/// EIP-55 mixed-case checksum of the 40 hex digits of an Ethereum address: a letter is upper
/// case exactly where the matching nibble of keccak-256(lower-case hex) is 8 or more.
pub fn eip55(hex40: &[u8]) -> bool {
    if hex40.len() != 40 || !hex40.iter().all(u8::is_ascii_hexdigit) {
        return false;
    }
    let lower: Vec<u8> = hex40.iter().map(u8::to_ascii_lowercase).collect();
    let hash = keccak256(&lower);
    hex40.iter().enumerate().all(|(i, &c)| {
        let byte = hash.get(i / 2).copied().unwrap_or(0);
        let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
        !c.is_ascii_alphabetic() || c.is_ascii_uppercase() == (nibble >= 8)
    })
}
