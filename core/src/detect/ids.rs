//! National, tax, health and bank identifiers, wallet addresses and network hardware
//! addresses: every class is opt-in (`DetectorOptions`), found from a trigger the scanner
//! already has or a cheap one of its own (a digit sequence, a digit inside a short word, a
//! `:` or `-` between hex pairs), checked by hand against its issuer's shape, and validated
//! last. None of them runs when its switch is off.
//!
//! A bare digit run is how code writes integers, so the classes whose number is just digits
//! (SIN, TFN, ITIN, ABA, Aadhaar, CPF, CNPJ, Steuer-ID, NPI, NIR) count a bare run only with
//! a keyword naming the class shortly before it; in the grouping the issuer prints (`046 454
//! 286`, `123.456.789-09`) the checksum alone decides. ABA and NPI numbers have no printed
//! grouping and always need their keyword.

use memchr::{memchr_iter, memchr2_iter};

use super::gate::{is_word, next_digit};
use super::validate;
use super::{DetectorOptions, Hit};
use crate::finding::Category;

/// How far before a number a keyword naming its class still speaks for it.
pub const KEYWORD_REACH: usize = 32;

/// Supersets of what each class accepts, anchored where its span starts, for the holdback
/// automaton. Letter-led shapes are upper case only, so a trailing word of prose never keeps
/// them alive.
pub const UK_NINO_PATTERN: &str = r"\b[A-Z]{2}(?: ?[0-9]{2}){3} ?[A-D]";
pub const IN_PAN_PATTERN: &str = r"\b[A-Z]{5}[0-9]{4}[A-Z]";
pub const ES_NIE_PATTERN: &str = r"\b[XYZ][0-9]{7}-?[A-Z]";
pub const ES_DNI_PATTERN: &str = r"\b[0-9]{8}-?[A-Z]";
pub const IT_CF_PATTERN: &str =
    r"\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]";
pub const US_DEA_PATTERN: &str = r"\b[A-Z][A-Z9][0-9]{7}";
pub const BITCOIN_BASE58_PATTERN: &str = r"\b[13][1-9A-HJ-NP-Za-km-z]{25,34}";
pub const BITCOIN_SEGWIT_PATTERN: &str =
    r"\b(?:bc1[02-9ac-hj-np-z]{11,87}|BC1[02-9AC-HJ-NP-Z]{11,87})";
pub const ETHEREUM_PATTERN: &str = r"\b0x[0-9a-fA-F]{40}";
pub const MAC_PATTERN: &str =
    r"\b[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|\b[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}";
pub const IPV6_PATTERN: &str = r"(?:\b[0-9A-Fa-f]{1,4}:|\B::)[0-9A-Fa-f:.]{0,44}";
pub const CA_SIN_PATTERN: &str = r"\b[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{3}";
pub const AU_TFN_PATTERN: &str = r"\b[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{3}";
pub const US_ITIN_PATTERN: &str = r"\b9[0-9]{2}[ -]?[0-9]{2}[ -]?[0-9]{4}";
pub const US_ABA_PATTERN: &str = r"\b[0-9]{9}";
pub const US_NPI_PATTERN: &str = r"\b[12][0-9]{9}";
pub const IN_AADHAAR_PATTERN: &str = r"\b[2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}";
pub const BR_CPF_PATTERN: &str = r"\b[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}";
pub const BR_CNPJ_PATTERN: &str = r"\b[0-9]{2}\.?[0-9]{3}\.?[0-9]{3}/?[0-9]{4}-?[0-9]{2}";
pub const DE_STEUER_ID_PATTERN: &str = r"\b[1-9][0-9] ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}";
pub const FR_NIR_PATTERN: &str =
    r"\b[12] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}";

/// Keywords that name a class, matched in any ASCII case after a non-letter. Keywords of up
/// to four letters must also end before a non-letter (`SIN`, not `since`); longer ones may
/// begin a compound (`Steueridentifikationsnummer`, `routingNumber`).
pub const CA_SIN_KEYWORDS: &[&str] = &["sin", "social insurance", "assurance sociale", "nas"];
pub const AU_TFN_KEYWORDS: &[&str] = &["tfn", "tax file"];
pub const US_ITIN_KEYWORDS: &[&str] = &["itin", "taxpayer identification"];
pub const US_ABA_KEYWORDS: &[&str] = &["routing", "aba", "rtn", "transit number"];
pub const IN_AADHAAR_KEYWORDS: &[&str] = &["aadhaar", "aadhar", "uidai"];
pub const BR_CPF_KEYWORDS: &[&str] = &["cpf"];
pub const BR_CNPJ_KEYWORDS: &[&str] = &["cnpj"];
pub const DE_STEUER_ID_KEYWORDS: &[&str] = &["steuer", "idnr", "identifikationsnummer"];
pub const US_NPI_KEYWORDS: &[&str] = &["npi", "national provider"];
pub const FR_NIR_KEYWORDS: &[&str] = &["nir", "sécurité sociale", "securite sociale", "insee"];
pub const ETHEREUM_KEYWORDS: &[&str] = &["eth", "ether", "wallet"];

/// Whether one of `keywords` ends within [`KEYWORD_REACH`] bytes before `start`.
pub fn keyword_before(text: &[u8], start: usize, keywords: &[&str]) -> bool {
    let from = start.saturating_sub(KEYWORD_REACH);
    let letter = |i: Option<usize>| {
        i.and_then(|i| text.get(i))
            .is_some_and(u8::is_ascii_alphabetic)
    };
    keywords.iter().any(|k| {
        let k = k.as_bytes();
        (from..start.saturating_sub(k.len()) + 1).any(|p| {
            text.get(p..p + k.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(k))
                && p + k.len() <= start
                && !letter(p.checked_sub(1))
                && (k.len() > 4 || !letter(Some(p + k.len())))
        })
    })
}

/// A digit class of the numeric grammar: its id, switch, printed groupings (lengths and the
/// separators between them), bare length, keywords and validator.
struct NumericClass {
    id: &'static str,
    on: fn(&DetectorOptions) -> bool,
    printed: &'static [(&'static [usize], &'static [u8])],
    bare: Option<usize>,
    keywords: &'static [&'static str],
    check: fn(&[u8]) -> bool,
    checksum: bool,
}

/// In the order a value of two classes' shape is reported when no keyword picks one.
const NUMERIC_CLASSES: &[NumericClass] = &[
    NumericClass {
        id: "ca-sin",
        on: |o| o.ca_sin,
        printed: &[(&[3, 3, 3], b"  "), (&[3, 3, 3], b"--")],
        bare: Some(9),
        keywords: CA_SIN_KEYWORDS,
        check: validate::ca_sin,
        checksum: true,
    },
    NumericClass {
        id: "au-tfn",
        on: |o| o.au_tfn,
        printed: &[(&[3, 3, 3], b"  ")],
        bare: Some(9),
        keywords: AU_TFN_KEYWORDS,
        check: validate::au_tfn,
        checksum: true,
    },
    NumericClass {
        id: "us-itin",
        on: |o| o.us_itin,
        printed: &[(&[3, 2, 4], b"--"), (&[3, 2, 4], b"  ")],
        bare: Some(9),
        keywords: US_ITIN_KEYWORDS,
        check: validate::us_itin,
        checksum: false,
    },
    NumericClass {
        id: "us-aba-routing",
        on: |o| o.us_aba_routing,
        printed: &[],
        bare: Some(9),
        keywords: US_ABA_KEYWORDS,
        check: validate::us_aba_routing,
        checksum: true,
    },
    NumericClass {
        id: "in-aadhaar",
        on: |o| o.in_aadhaar,
        printed: &[(&[4, 4, 4], b"  "), (&[4, 4, 4], b"--")],
        bare: Some(12),
        keywords: IN_AADHAAR_KEYWORDS,
        check: validate::in_aadhaar,
        checksum: true,
    },
    NumericClass {
        id: "br-cpf",
        on: |o| o.br_cpf,
        printed: &[(&[3, 3, 3, 2], b"..-")],
        bare: Some(11),
        keywords: BR_CPF_KEYWORDS,
        check: validate::br_cpf,
        checksum: true,
    },
    NumericClass {
        id: "br-cnpj",
        on: |o| o.br_cnpj,
        printed: &[(&[2, 3, 3, 4, 2], b"../-")],
        bare: Some(14),
        keywords: BR_CNPJ_KEYWORDS,
        check: validate::br_cnpj,
        checksum: true,
    },
    NumericClass {
        id: "de-steuer-id",
        on: |o| o.de_steuer_id,
        printed: &[(&[2, 3, 3, 3], b"   ")],
        bare: Some(11),
        keywords: DE_STEUER_ID_KEYWORDS,
        check: validate::de_steuer_id,
        checksum: true,
    },
    NumericClass {
        id: "us-npi",
        on: |o| o.us_npi,
        printed: &[],
        bare: Some(10),
        keywords: US_NPI_KEYWORDS,
        check: validate::us_npi,
        checksum: true,
    },
];

/// Whether any class of [`numeric`] is on: with none, the numeric grammar does nothing more.
pub fn numeric_on(o: &DetectorOptions) -> bool {
    NUMERIC_CLASSES.iter().any(|c| (c.on)(o))
}

/// The class of a whole digit sequence (`groups`: start, end, and the separator before each
/// group), or `None`. A keyword naming a class picks it among those whose checksum passes.
pub fn numeric(text: &[u8], groups: &[(usize, usize, u8)], o: &DetectorOptions) -> Option<Hit> {
    let (&(start, _, _), &(_, end, _)) = (groups.first()?, groups.last()?);
    let mut digits = [0u8; 19];
    let mut n = 0;
    for &(s, e, _) in groups {
        for &c in text.get(s..e).unwrap_or_default() {
            *digits.get_mut(n)? = c;
            n += 1;
        }
    }
    let digits = digits.get(..n)?;
    let lens = || groups.iter().map(|&(s, e, _)| e - s);
    let seps = || groups.iter().skip(1).map(|&(_, _, sep)| sep);
    let mut fallback = None;
    for class in NUMERIC_CLASSES.iter().filter(|c| (c.on)(o)) {
        let printed = class
            .printed
            .iter()
            .any(|(want, sep)| lens().eq(want.iter().copied()) && seps().eq(sep.iter().copied()));
        let bare = groups.len() == 1 && class.bare == Some(n);
        if !printed && !bare {
            continue;
        }
        let named = keyword_before(text, start, class.keywords);
        if (printed || named) && (class.check)(digits) {
            let hit = Hit::new(class.id, Category::Pii, start, end, class.checksum);
            if named {
                return Some(hit);
            }
            fallback = fallback.or(Some(hit));
        }
    }
    fallback
}

/// A French NIR starting at the digit `d`: 15 characters (Corsican departments `2A`/`2B`),
/// either bare (then a keyword must name it) or in the printed groups 1-2-2-2-3-3-2 with one
/// space between each. Returns its end.
pub fn find_nir(text: &[u8], d: usize) -> Option<usize> {
    const GROUPS: [usize; 7] = [1, 2, 2, 2, 3, 3, 2];
    if !matches!(text.get(d), Some(b'1' | b'2')) {
        return None;
    }
    let spaced = text.get(d + 1) == Some(&b' ');
    let mut compact = [0u8; 15];
    let mut n = 0;
    let mut k = d;
    for (gi, len) in GROUPS.iter().enumerate() {
        if gi > 0 && spaced {
            if text.get(k) != Some(&b' ') {
                return None;
            }
            k += 1;
        }
        for j in 0..*len {
            let b = *text.get(k)?;
            let corsica = gi == 3 && j == 1 && matches!(b, b'A' | b'B');
            if !b.is_ascii_digit() && !corsica {
                return None;
            }
            *compact.get_mut(n)? = b;
            n += 1;
            k += 1;
        }
    }
    let after = text.get(k).copied();
    if after
        .is_some_and(|b| is_word(b) || b == b'.' && text.get(k + 1).is_some_and(u8::is_ascii_digit))
    {
        return None;
    }
    let named = || keyword_before(text, d, FR_NIR_KEYWORDS);
    ((spaced || named()) && validate::fr_nir(&compact)).then_some(k)
}

/// Whether any class of [`find_words`] is on.
pub fn words_on(o: &DetectorOptions) -> bool {
    o.uk_nino
        || o.in_pan
        || o.es_dni
        || o.es_nie
        || o.it_codice_fiscale
        || o.us_dea
        || o.bitcoin_address
        || o.ethereum_address
}

/// Longest word a class of [`find_words`] spans (a bech32m address).
const MAX_WORD: usize = 90;
/// Most letters a class of [`find_words`] has before its first digit (a codice fiscale's six).
const MAX_LETTERS_BEFORE_DIGIT: usize = 6;

/// Letter-and-digit shapes: UK NINO, India PAN, Spain DNI/NIE, codice fiscale, DEA numbers,
/// Bitcoin and Ethereum addresses. Every one holds a digit within its first seven characters,
/// so the trigger is a digit (the SWAR search) whose word starts at most six letters before
/// it, outside any identifier; each word is looked at once.
pub fn find_words(text: &[u8], o: &DetectorOptions, push: &mut impl FnMut(Hit)) {
    let mut i = 0;
    while let Some(d) = next_digit(text, i) {
        i = d + 1;
        let mut s = d;
        while s > 0
            && d - s < MAX_LETTERS_BEFORE_DIGIT
            && text.get(s - 1).is_some_and(u8::is_ascii_alphabetic)
        {
            s -= 1;
        }
        let before = s.checked_sub(1).and_then(|p| text.get(p)).copied();
        let mut e = d;
        while e - s <= MAX_WORD && text.get(e).is_some_and(u8::is_ascii_alphanumeric) {
            e += 1;
        }
        // Skip the rest of this word whatever it turns out to be.
        let mut skip = e;
        while text.get(skip).is_some_and(|&b| is_word(b)) {
            skip += 1;
        }
        i = i.max(skip);
        if o.uk_nino
            && before == Some(b' ')
            && s == d
            && let Some(hit) = spaced_nino(text, d)
        {
            push(hit);
            continue;
        }
        if before.is_some_and(|b| is_word(b) || b == b'.') || skip != e {
            continue;
        }
        let Some(word) = text.get(s..e) else {
            continue;
        };
        if let Some((id, validated)) = classify_word(text, s, word, o) {
            push(Hit::new(id, Category::Pii, s, e, validated));
            continue;
        }
        // A DNI written with a hyphen before its letter: `12345678-Z`.
        if o.es_dni
            && word.len() == 8
            && text.get(e) == Some(&b'-')
            && let Some(&letter) = text.get(e + 1)
            && !text.get(e + 2).is_some_and(|&b| is_word(b))
            && validate::es_dni(word, letter)
        {
            push(Hit::new("es-dni", Category::Pii, s, e + 2, true));
            i = i.max(e + 2);
        }
    }
}

/// `AB 12 34 56 C`: the NINO in the grouping HMRC prints, from the first digit pair at `d`.
fn spaced_nino(text: &[u8], d: usize) -> Option<Hit> {
    let s = d.checked_sub(3)?;
    if s > 0 && text.get(s - 1).is_some_and(|&b| is_word(b) || b == b'.') {
        return None;
    }
    let at = |i: usize| text.get(i).copied().unwrap_or(0);
    let pairs = [d, d + 3, d + 6]
        .iter()
        .all(|&p| at(p).is_ascii_digit() && at(p + 1).is_ascii_digit());
    let spaces = [d + 2, d + 5, d + 8].iter().all(|&p| at(p) == b' ');
    let end = d + 10;
    (validate::uk_nino_prefix(at(s), at(s + 1))
        && pairs
        && spaces
        && matches!(at(d + 9), b'A'..=b'D')
        && !is_word(at(end)))
    .then(|| Hit::new("uk-nino", Category::Pii, s, end, false))
}

/// Which class a whole word (letters and digits, bounded by non-word bytes) is, and whether a
/// checksum confirmed it (NINO prefixes, PAN holder types and a one-case Ethereum address
/// are shape rules only).
fn classify_word(
    text: &[u8],
    s: usize,
    word: &[u8],
    o: &DetectorOptions,
) -> Option<(&'static str, bool)> {
    let at = |i: usize| word.get(i).copied().unwrap_or(0);
    let all = |r: std::ops::Range<usize>, f: fn(&u8) -> bool| {
        word.get(r).is_some_and(|w| w.iter().all(f))
    };
    let upper = u8::is_ascii_uppercase;
    let digit = u8::is_ascii_digit;
    match word.len() {
        9 => {
            if o.uk_nino
                && validate::uk_nino_prefix(at(0), at(1))
                && all(2..8, digit)
                && matches!(at(8), b'A'..=b'D')
            {
                return Some(("uk-nino", false));
            }
            if o.es_nie
                && all(1..8, digit)
                && upper(&at(8))
                && validate::es_nie(at(0), word.get(1..8)?, at(8))
            {
                return Some(("es-nie", true));
            }
            if o.es_dni && all(0..8, digit) && validate::es_dni(word.get(..8)?, at(8)) {
                return Some(("es-dni", true));
            }
            if o.us_dea && upper(&at(0)) && validate::us_dea(word) {
                return Some(("us-dea", true));
            }
        }
        10 if o.in_pan
            && all(0..5, upper)
            && all(5..9, digit)
            && upper(&at(9))
            && validate::in_pan_holder(at(3)) =>
        {
            return Some(("in-pan", false));
        }
        16 if o.it_codice_fiscale && validate::it_codice_fiscale(word) => {
            return Some(("it-codice-fiscale", true));
        }
        42 if o.ethereum_address && word.starts_with(b"0x") => {
            let hex = word.get(2..)?;
            let has_lower = hex.iter().any(u8::is_ascii_lowercase);
            let has_upper = hex.iter().any(u8::is_ascii_uppercase);
            let mixed = has_lower && has_upper;
            let ok = if mixed {
                validate::eip55(hex)
            } else {
                hex.iter().all(u8::is_ascii_hexdigit) && keyword_before(text, s, ETHEREUM_KEYWORDS)
            };
            if ok {
                return Some(("ethereum-address", mixed));
            }
        }
        _ => {}
    }
    if o.bitcoin_address {
        let base58 = matches!(at(0), b'1' | b'3')
            && (26..=35).contains(&word.len())
            && validate::bitcoin_base58(word);
        let segwit = (at(0) | 0x20) == b'b' && validate::bitcoin_segwit(word);
        if base58 || segwit {
            return Some(("bitcoin-address", true));
        }
    }
    None
}

/// Whether any class of [`find_hex_addresses`] is on.
pub fn hex_on(o: &DetectorOptions) -> bool {
    o.ipv6_address || o.mac_address
}

/// IPv6 addresses (RFC 4291 text forms) from each `:`, MAC addresses (IEEE 802 `01-23-45-…`
/// and the colon form) from each `:` or `-` two hex digits into a word.
pub fn find_hex_addresses(text: &[u8], o: &DetectorOptions, push: &mut impl FnMut(Hit)) {
    let mut covered = 0;
    let mut look = |c: usize, covered: &mut usize| {
        if c < *covered {
            return;
        }
        if o.mac_address
            && let Some(s) = c.checked_sub(2)
            && let Some(end) = mac(text, s)
        {
            push(Hit::new("mac-address", Category::Pii, s, end, false));
            *covered = end;
            return;
        }
        if o.ipv6_address
            && text.get(c) == Some(&b':')
            && let Some((s, end)) = ipv6_from_colon(text, c)
        {
            push(Hit::new("ipv6-address", Category::Pii, s, end, false));
            *covered = end;
        }
    };
    if o.mac_address {
        for c in memchr2_iter(b':', b'-', text) {
            look(c, &mut covered);
        }
    } else {
        for c in memchr_iter(b':', text) {
            look(c, &mut covered);
        }
    }
}

/// A MAC address of six hex pairs starting at `s`, one separator (`:` or `-`) throughout, not
/// part of a longer run of pairs (a fingerprint) or of a word. All-equal octets
/// (`00:00:…`, `ff:ff:…`) are placeholders and broadcast, not a device.
fn mac(text: &[u8], s: usize) -> Option<usize> {
    let hex = |i: usize| text.get(i).is_some_and(u8::is_ascii_hexdigit);
    let sep = *text.get(s + 2)?;
    let before = s.checked_sub(1).and_then(|p| text.get(p)).copied();
    if before.is_some_and(|b| is_word(b) || b == sep || b == b'.') {
        return None;
    }
    for g in 0..6 {
        let p = s + 3 * g;
        if !hex(p) || !hex(p + 1) || (g < 5 && text.get(p + 2) != Some(&sep)) {
            return None;
        }
    }
    let end = s + 17;
    let after = text.get(end).copied();
    if after.is_some_and(|b| is_word(b) || (b == sep && hex(end + 1)) || b == b'.' && hex(end + 1))
    {
        return None;
    }
    let octets = text.get(s..end)?;
    let first = octets.get(..2)?;
    let same = octets
        .chunks(3)
        .all(|g| g.get(..2).is_some_and(|p| p.eq_ignore_ascii_case(first)));
    (!same).then_some(end)
}

/// The IPv6 address whose first `:` is at `c`, as `(start, end)`.
fn ipv6_from_colon(text: &[u8], c: usize) -> Option<(usize, usize)> {
    let hex = |i: usize| text.get(i).is_some_and(u8::is_ascii_hexdigit);
    let mut s = c;
    while s > 0 && c - s < 4 && hex(s - 1) {
        s -= 1;
    }
    let before = s.checked_sub(1).and_then(|p| text.get(p)).copied();
    if before.is_some_and(|b| is_word(b) || b == b':' || b == b'.') {
        return None;
    }
    if s == c && text.get(c + 1) != Some(&b':') {
        return None;
    }
    let end = ipv6(text, s)?;
    Some((s, end))
}

/// An IPv6 address at `s` in RFC 4291 text form: eight groups of 1–4 hex digits, or fewer
/// around one `::`, optionally closing with a dotted IPv4 address. To stay clear of paths in
/// code (`f16::E`, `C::C5`, `Add::add`), at least three groups must be written, one of them
/// must hold a digit, and the letters must share one case.
/// Returns its end.
fn ipv6(text: &[u8], s: usize) -> Option<usize> {
    let hex = |i: usize| text.get(i).is_some_and(u8::is_ascii_hexdigit);
    let mut k = s;
    let mut groups = 0;
    let mut elided = false;
    let mut digit = false;
    if text.get(k..k + 2) == Some(b"::") {
        elided = true;
        k += 2;
    }
    loop {
        let g = k;
        while hex(k) && k - g < 5 {
            k += 1;
        }
        let len = k - g;
        if len == 0 {
            // Only `::` may end an address; a lone `:` before something else does not.
            let after_elision = k >= 2 && text.get(k - 2..k) == Some(b"::");
            if !after_elision {
                return None;
            }
            break;
        }
        if len > 4 {
            return None;
        }
        if text.get(k) == Some(&b'.') && groups <= 6 {
            let end = ipv4_tail(text, g)?;
            groups += 2;
            digit = true;
            k = end;
            break;
        }
        digit |= text
            .get(g..k)
            .is_some_and(|t| t.iter().any(u8::is_ascii_digit));
        groups += 1;
        if groups > 8 {
            return None;
        }
        match (text.get(k), text.get(k + 1)) {
            (Some(b':'), Some(b':')) if !elided => {
                elided = true;
                k += 2;
            }
            (Some(b':'), Some(&b)) if b.is_ascii_hexdigit() => k += 1,
            _ => break,
        }
    }
    let complete = if elided { groups <= 7 } else { groups == 8 };
    let after = text.get(k).copied();
    let joined = after.is_some_and(|b| is_word(b) || b == b':');
    let dotted = after == Some(b'.') && text.get(k + 1).is_some_and(u8::is_ascii_alphanumeric);
    let clean = !joined && !dotted;
    // Addresses are written in one case (RFC 5952 asks for lower); `Add::add` is code.
    let written = text.get(s..k).unwrap_or_default();
    let one_case =
        !(written.iter().any(u8::is_ascii_lowercase) && written.iter().any(u8::is_ascii_uppercase));
    (complete && clean && digit && one_case && groups >= 3).then_some(k)
}

/// A dotted IPv4 address closing an IPv6 address, from `g`. Returns its end.
fn ipv4_tail(text: &[u8], g: usize) -> Option<usize> {
    let mut k = g;
    for part in 0..4 {
        if part > 0 {
            if text.get(k) != Some(&b'.') {
                return None;
            }
            k += 1;
        }
        let p = k;
        let mut v = 0u32;
        while let Some(&b) = text.get(k).filter(|b| b.is_ascii_digit()) {
            v = v * 10 + u32::from(b - b'0');
            k += 1;
        }
        if k == p || k - p > 3 || v > 255 {
            return None;
        }
    }
    Some(k)
}

/// What the holdback needs from one class: its superset pattern, and whether the pattern can
/// start on a letter (then a trailing capital or short upper-case word may begin it).
pub struct Holdback {
    pub id: &'static str,
    pub pattern: &'static str,
    pub letter_led: bool,
}

/// The holdback patterns of the enabled classes.
pub fn holdback(o: &DetectorOptions) -> Vec<Holdback> {
    let all: [(bool, &'static str, &'static str, bool); 21] = [
        (o.uk_nino, "uk-nino", UK_NINO_PATTERN, true),
        (o.in_pan, "in-pan", IN_PAN_PATTERN, true),
        (o.es_nie, "es-nie", ES_NIE_PATTERN, true),
        (o.es_dni, "es-dni", ES_DNI_PATTERN, false),
        (
            o.it_codice_fiscale,
            "it-codice-fiscale",
            IT_CF_PATTERN,
            true,
        ),
        (o.us_dea, "us-dea", US_DEA_PATTERN, true),
        (
            o.bitcoin_address,
            "bitcoin-address",
            BITCOIN_BASE58_PATTERN,
            false,
        ),
        (
            o.bitcoin_address,
            "bitcoin-address",
            BITCOIN_SEGWIT_PATTERN,
            true,
        ),
        (
            o.ethereum_address,
            "ethereum-address",
            ETHEREUM_PATTERN,
            false,
        ),
        (o.mac_address, "mac-address", MAC_PATTERN, false),
        (o.ipv6_address, "ipv6-address", IPV6_PATTERN, false),
        (o.ca_sin, "ca-sin", CA_SIN_PATTERN, false),
        (o.au_tfn, "au-tfn", AU_TFN_PATTERN, false),
        (o.us_itin, "us-itin", US_ITIN_PATTERN, false),
        (o.us_aba_routing, "us-aba-routing", US_ABA_PATTERN, false),
        (o.us_npi, "us-npi", US_NPI_PATTERN, false),
        (o.in_aadhaar, "in-aadhaar", IN_AADHAAR_PATTERN, false),
        (o.br_cpf, "br-cpf", BR_CPF_PATTERN, false),
        (o.br_cnpj, "br-cnpj", BR_CNPJ_PATTERN, false),
        (o.de_steuer_id, "de-steuer-id", DE_STEUER_ID_PATTERN, false),
        (o.fr_nir, "fr-nir", FR_NIR_PATTERN, false),
    ];
    all.into_iter()
        .filter(|c| c.0)
        .map(|(_, id, pattern, letter_led)| Holdback {
            id,
            pattern,
            letter_led,
        })
        .collect()
}

/// Keywords before which a short trailing run is held rather than released: the detection
/// keywords, and for the classes found by shape alone the words that name them.
pub fn hold_keywords(o: &DetectorOptions) -> Vec<&'static str> {
    let all: [(bool, &'static [&'static str]); 20] = [
        (o.ca_sin, CA_SIN_KEYWORDS),
        (o.au_tfn, AU_TFN_KEYWORDS),
        (o.us_itin, US_ITIN_KEYWORDS),
        (o.us_aba_routing, US_ABA_KEYWORDS),
        (o.in_aadhaar, IN_AADHAAR_KEYWORDS),
        (o.br_cpf, BR_CPF_KEYWORDS),
        (o.br_cnpj, BR_CNPJ_KEYWORDS),
        (o.de_steuer_id, DE_STEUER_ID_KEYWORDS),
        (o.us_npi, US_NPI_KEYWORDS),
        (o.fr_nir, FR_NIR_KEYWORDS),
        (o.ethereum_address, ETHEREUM_KEYWORDS),
        (o.uk_nino, &["nino", "national insurance"]),
        (o.in_pan, &["pan"]),
        (o.es_dni, &["dni", "nif"]),
        (o.es_nie, &["nie"]),
        (o.it_codice_fiscale, &["codice fiscale"]),
        (o.us_dea, &["dea"]),
        (o.bitcoin_address, &["bitcoin", "btc"]),
        (o.mac_address, &["mac"]),
        (o.ipv6_address, &["ipv6"]),
    ];
    all.into_iter()
        .filter(|c| c.0)
        .flat_map(|c| c.1.iter().copied())
        .collect()
}
