//! Personal data: e-mail addresses, phone numbers, payment cards, US SSNs, IBANs and IP
//! addresses. Each family is found from a cheap trigger (`@`, a digit) and checked by hand;
//! no regex ever runs over prose.

use memchr::memchr_iter;

use super::gate::{is_word, next_digit};
use super::validate;
use super::{DetectorOptions, Hit};
use crate::finding::Category;

/// For the holdback: supersets of what [`classify_numeric`] masks, one per class, anchored where
/// that class's span can begin. Cards and SSNs may begin at any group of a digit sequence (the
/// classifier tries every contiguous run of groups with one consistent separator).
pub const CARD_GROUPS_PATTERN: &str =
    r"[0-9]{13,19}|[0-9]{4}(?: [0-9]{3,}){1,4}|[0-9]{4}(?:-[0-9]{3,}){1,4}";
pub const SSN_GROUPS_PATTERN: &str = r"[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{3}-[0-9]{2}-[0-9]{4}";
/// Phones begin only where the sequence does: `+` and any grouping (international), `(` or a
/// first digit 2-9 and the 3-3-4 shape (national), a trunk `0` and 2-5 groups of 2-5 digits.
pub const PHONE_START_PATTERN: &str = concat!(
    r"\+[0-9]+(?:(?:[ ./-]|\) ?|[ ]?\()[0-9]+){0,12}\)?",
    r"|\([2-9][0-9]{2}(?:\) ?|[ ./-]|[ ]?\()[0-9]{3}(?:[ ./-]|\) ?|[ ]?\()[0-9]{4}\)?",
    r"|[2-9][0-9]{2}(?:-[0-9]{3}-|\.[0-9]{3}\.| [0-9]{3} )[0-9]{4}",
    r"|0[1-9][0-9]{0,3}(?:[ -][0-9]{2,5}){1,4}",
);
pub const IP_START_PATTERN: &str = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}";
/// Superset of what [`find_iban`] accepts, for the viability automaton.
pub const IBAN_PATTERN: &str = r"\b[A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]){10,32}";
/// Superset of what [`find_emails`] accepts, for the viability automaton.
pub const EMAIL_PATTERN: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]*(?:\.[A-Za-z0-9-]*)*";

fn local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// E-mail addresses around each `@`.
pub fn find_emails(text: &[u8], push: &mut impl FnMut(Hit)) {
    let mut covered = 0;
    for at in memchr_iter(b'@', text) {
        if at < covered {
            continue;
        }
        let mut ls = at;
        while ls > 0 && at - ls < 64 && text.get(ls - 1).is_some_and(|&b| local_byte(b)) {
            ls -= 1;
        }
        while text.get(ls) == Some(&b'.') {
            ls += 1;
        }
        if ls >= at {
            continue;
        }
        let mut de = at + 1;
        while de - at < 254 && text.get(de).is_some_and(|&b| domain_byte(b)) {
            de += 1;
        }
        while de > at + 1 && matches!(text.get(de - 1), Some(b'.' | b'-')) {
            de -= 1;
        }
        let domain = text.get(at + 1..de).unwrap_or_default();
        let Some(dot) = domain.iter().rposition(|&b| b == b'.') else {
            continue;
        };
        let tld = domain.get(dot + 1..).unwrap_or_default();
        let labels_ok = domain
            .split(|&b| b == b'.')
            .all(|l| !l.is_empty() && l.first() != Some(&b'-'));
        if tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) || !labels_ok {
            continue;
        }
        if in_uri_authority(text, ls) {
            continue;
        }
        covered = de;
        push(Hit::new("email", Category::Pii, ls, de, false));
    }
}

/// `scheme://user:pass@host`: the `@` belongs to a URI, not an address.
fn in_uri_authority(text: &[u8], local_start: usize) -> bool {
    let from = local_start.saturating_sub(256);
    let before = text.get(from..local_start).unwrap_or_default();
    let word_start = before
        .iter()
        .rposition(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'<' | b'(' | b'`'))
        .map_or(0, |p| p + 1);
    memchr::memmem::find(before.get(word_start..).unwrap_or_default(), b"://").is_some()
}

/// Digit-triggered families: cards, SSNs, phones, IBANs, IP addresses.
pub fn find_numeric(text: &[u8], options: &DetectorOptions, push: &mut impl FnMut(Hit)) {
    let ids = super::ids::numeric_on(options);
    let mut i = 0;
    while let Some(d) = next_digit(text, i) {
        i = d + 1;
        if options.iban
            && let Some(end) = find_iban(text, d)
        {
            push(Hit::new("iban", Category::Pii, d - 2, end, true));
            i = end;
            continue;
        }
        let prev = d.checked_sub(1).and_then(|p| text.get(p)).copied();
        let start = match prev {
            Some(b'+' | b'(') => d - 1,
            _ => d,
        };
        let before = start.checked_sub(1).and_then(|p| text.get(p)).copied();
        if before.is_some_and(|b| is_word(b) || b == b'.') {
            // Inside an identifier, hash or version: skip the rest of it.
            while text.get(i).is_some_and(|&b| is_word(b)) {
                i += 1;
            }
            continue;
        }
        if options.fr_nir
            && start == d
            && let Some(end) = super::ids::find_nir(text, d)
        {
            push(Hit::new("fr-nir", Category::Pii, d, end, true));
            i = end;
            continue;
        }
        let span = parse_numeric(text, start);
        i = i.max(span.end);
        if text.get(span.end).is_some_and(|&b| is_word(b)) {
            while text.get(i).is_some_and(|&b| is_word(b)) {
                i += 1;
            }
            continue;
        }
        if span.total >= 7 || (options.ip_address && span.count == 4) {
            classify_numeric(text, start, &span, options, ids, push);
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Group {
    start: usize,
    end: usize,
    /// The separator between the previous group and this one (`)` for `) ` and ` (`).
    sep: u8,
}

const MAX_GROUPS: usize = 13;

struct NumericSpan {
    end: usize,
    groups: [Group; MAX_GROUPS],
    count: usize,
    total: usize,
}

impl NumericSpan {
    fn groups(&self) -> &[Group] {
        self.groups.get(..self.count).unwrap_or_default()
    }
}

/// The grammar of a digit group sequence (`+1 (415) 555-0100`, `4111-1111-1111-1111`,
/// `330-28-2276`, `10.0.0.1`): `[+(]?[0-9]+(?:(?:[ ./-]|\) ?|[ ]?\()[0-9]+){0,12}\)?`.
/// Hand-written matcher for exactly that grammar, anchored at `start` (which holds a
/// digit, `+` or `(` followed by a digit), greedy like the regex.
fn parse_numeric(text: &[u8], start: usize) -> NumericSpan {
    let digit = |k: usize| text.get(k).is_some_and(u8::is_ascii_digit);
    let mut span = NumericSpan {
        end: start,
        groups: [Group::default(); MAX_GROUPS],
        count: 0,
        total: 0,
    };
    let mut k = start;
    if matches!(text.get(k), Some(b'+' | b'(')) {
        k += 1;
    }
    let mut sep = 0u8;
    loop {
        let gs = k;
        while digit(k) {
            k += 1;
        }
        if let Some(g) = span.groups.get_mut(span.count) {
            *g = Group {
                start: gs,
                end: k,
                sep,
            };
        }
        span.count += 1;
        span.total += k - gs;
        span.end = k;
        if span.count >= MAX_GROUPS {
            break;
        }
        // One separator, then digits.
        let next = match text.get(k) {
            Some(&b @ (b' ' | b'.' | b'/' | b'-')) if digit(k + 1) => Some((b, k + 1)),
            Some(b')') if text.get(k + 1) == Some(&b' ') && digit(k + 2) => Some((b')', k + 2)),
            Some(b')') if digit(k + 1) => Some((b')', k + 1)),
            Some(b' ') if text.get(k + 1) == Some(&b'(') && digit(k + 2) => Some((b')', k + 2)),
            Some(b'(') if digit(k + 1) => Some((b')', k + 1)),
            _ => None,
        };
        match next {
            Some((b, at)) => {
                sep = b;
                k = at;
            }
            None => break,
        }
    }
    if text.get(span.end) == Some(&b')') {
        span.end += 1;
    }
    span
}

/// `ids`: whether an opt-in digit class (`ids.rs`) is on, asked once per text.
fn classify_numeric(
    text: &[u8],
    start: usize,
    span: &NumericSpan,
    options: &DetectorOptions,
    ids: bool,
    push: &mut impl FnMut(Hit),
) {
    let end = span.end;
    let groups = span.groups();
    let len = |i: usize| groups.get(i).map_or(0, |g| g.end - g.start);
    let sep = |i: usize| groups.get(i).map_or(0, |g| g.sep);
    let shape = |want: &[usize]| {
        groups.len() == want.len() && want.iter().enumerate().all(|(i, &n)| len(i) == n)
    };
    let plus = text.get(start) == Some(&b'+');
    let paren = text.get(start) == Some(&b'(');
    let total = span.total;

    if options.us_ssn
        && !plus
        && !paren
        && shape(&[3, 2, 4])
        && sep(1) == b'-'
        && sep(2) == b'-'
        && ssn_ok(text, groups, 0)
    {
        push(Hit::new("us-ssn", Category::Pii, start, end, true));
        return;
    }
    if ids && !plus && !paren {
        let mut compact = [(0usize, 0usize, 0u8); MAX_GROUPS];
        for (slot, g) in compact.iter_mut().zip(groups) {
            *slot = (g.start, g.end, g.sep);
        }
        if let Some(hit) = super::ids::numeric(
            text,
            compact.get(..groups.len()).unwrap_or_default(),
            options,
        ) {
            push(hit);
            return;
        }
    }
    if options.phone {
        let first_digit = groups
            .first()
            .and_then(|g| text.get(g.start))
            .copied()
            .unwrap_or(b'0');
        let national = shape(&[3, 3, 4])
            && first_digit >= b'2'
            && (paren || (sep(1) == sep(2) && matches!(sep(1), b'-' | b'.' | b' ')));
        let international = plus
            && (8..=15).contains(&total)
            && (groups.len() >= 2 || total >= 10)
            && ((1..=3).contains(&len(0)) || groups.len() == 1);
        // National numbers with a trunk `0` and a non-zero area code: `020 7946 0958`.
        let trunk = !plus
            && !paren
            && first_digit == b'0'
            && text.get(start + 1).is_some_and(|&b| b != b'0')
            && (10..=11).contains(&total)
            && (2..=5).contains(&groups.len())
            && (0..groups.len()).all(|i| (2..=5).contains(&len(i)))
            && (1..groups.len()).all(|i| matches!(sep(i), b' ' | b'-'));
        if national || international || trunk {
            push(Hit::new("phone", Category::Pii, start, end, false));
            return;
        }
    }
    if plus || paren {
        return;
    }
    if options.ip_address
        && groups.len() == 4
        && (1..4).all(|i| sep(i) == b'.')
        && groups.iter().all(|g| {
            let s = text.get(g.start..g.end).unwrap_or_default();
            s.len() <= 3 && s.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0')) <= 255
        })
    {
        push(Hit::new("ip-address", Category::Pii, start, end, false));
        return;
    }
    // Cards and SSNs: any contiguous run of groups with one consistent separator.
    for a in 0..groups.len() {
        let mut count = 0;
        for b in a..groups.len() {
            count += len(b);
            if b > a && (sep(b) != sep(a + 1) || !matches!(sep(b), b' ' | b'-')) {
                break;
            }
            if count > 19 {
                break;
            }
            let (Some(ga), Some(gb)) = (groups.get(a), groups.get(b)) else {
                break;
            };
            if options.us_ssn
                && b == a + 2
                && len(a) == 3
                && len(a + 1) == 2
                && len(b) == 4
                && ssn_ok(text, groups, a)
            {
                push(Hit::new("us-ssn", Category::Pii, ga.start, gb.end, true));
                return;
            }
            if options.payment_card
                && (13..=19).contains(&count)
                // Grouped cards open with four digits in every issuer's layout (4-4-4-4,
                // Amex's 4-6-5, Diners' 4-6-4): a run of three-digit groups is a phone.
                && (a == b || (len(a) == 4 && (a..=b).all(|i| len(i) >= 3)))
            {
                let mut digits = [0u8; 19];
                let mut n = 0;
                for g in groups.get(a..=b).unwrap_or_default() {
                    for &c in text.get(g.start..g.end).unwrap_or_default() {
                        if let Some(slot) = digits.get_mut(n) {
                            *slot = c;
                            n += 1;
                        }
                    }
                }
                let digits = digits.get(..n).unwrap_or_default();
                if validate::card_issuer_plausible(digits)
                    && validate::luhn(std::str::from_utf8(digits).unwrap_or(""))
                    && (a != b || bare_run_is_card(text, ga.start, gb.end))
                {
                    push(Hit::new(
                        "credit-card",
                        Category::Pii,
                        ga.start,
                        gb.end,
                        true,
                    ));
                    return;
                }
            }
        }
    }
}

/// How far before a bare digit run a card keyword still speaks for it.
const CARD_KEYWORD_REACH: usize = 32;

/// A run of 13–19 digits with no separators is, in code and generated tables, far more often an
/// integer literal (a constant, a table row, a hash) than a payment card; one in ten such literals
/// passes Luhn by chance. People write cards grouped or beside a word that names them, so a bare
/// run counts only with a card keyword shortly before it, or outside the shapes integer literals
/// take in source code.
fn bare_run_is_card(text: &[u8], start: usize, end: usize) -> bool {
    card_keyword_before(text, start) || !integer_literal_context(text, start, end)
}

fn card_keyword_before(text: &[u8], start: usize) -> bool {
    const KEYWORDS: [&[u8]; 7] = [
        b"card", b"visa", b"amex", b"master", b"credit", b"debit", b"payment",
    ];
    let window = text
        .get(start.saturating_sub(CARD_KEYWORD_REACH)..start)
        .unwrap_or_default();
    KEYWORDS
        .iter()
        .any(|k| window.windows(k.len()).any(|w| w.eq_ignore_ascii_case(k)))
}

/// The last byte of `text` that is not white space, with its index.
fn last_non_space(text: &[u8]) -> Option<(usize, u8)> {
    text.iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map(|i| (i, text[i]))
}

/// The run is an element of a list or call (`[`, `(`, `{` before it, or `,` after a number
/// or an expression), carries a type suffix or ends a statement (`u64`, `_`, `;` right after
/// it), is a table row of its own (`    4111…,` on a line), follows another long number (a
/// table of constants), or is an operand (after `<`, `>`, `*`, `/`, `^`, `%`, or negative).
fn integer_literal_context(text: &[u8], start: usize, end: usize) -> bool {
    let before = text.get(..start).unwrap_or_default();
    let listed = match last_non_space(before) {
        Some((_, b'[' | b'(' | b'{')) => true,
        // After a comma only when what the comma follows is a number or an expression
        // (`[0x1f, N`, `f(x), N`): a field of a data row (`Smith,N`, `"Smith",N`) is where
        // card numbers are pasted, and must still count.
        Some((comma, b',')) => match last_non_space(&before[..comma]) {
            Some((_, b')' | b']' | b'}')) => true,
            Some((at, b)) if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' => {
                let token_start = before[..=at]
                    .iter()
                    .rposition(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.'))
                    .map_or(0, |p| p + 1);
                before[token_start].is_ascii_digit()
            }
            _ => false,
        },
        _ => false,
    };
    let suffixed = text
        .get(end)
        .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_' || b == b';');
    // A line holding only the number and a comma: a row of a table in source code.
    let line_start = before
        .iter()
        .rev()
        .take_while(|&&b| b != b'\n')
        .all(|b| b.is_ascii_whitespace());
    let table_row = line_start && text.get(end) == Some(&b',');
    let window = before
        .get(start.saturating_sub(CARD_KEYWORD_REACH)..)
        .unwrap_or_default();
    let mut run = 0;
    let after_long_number = window.iter().any(|b| {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        run >= 6
    });
    // An operand: `z_i < N`, `> N`, `x * N`, or a negative number (`mantissa -N`).
    let operand = matches!(
        last_non_space(before),
        Some((_, b'<' | b'>' | b'*' | b'/' | b'^' | b'%'))
    ) || (before.last() == Some(&b'-')
        && before
            .len()
            .checked_sub(2)
            .and_then(|i| before.get(i))
            .is_none_or(|b| b.is_ascii_whitespace() || matches!(b, b'(' | b'[' | b'{' | b',')));
    listed || suffixed || table_row || after_long_number || operand
}

fn ssn_ok(text: &[u8], groups: &[Group], a: usize) -> bool {
    let num = |g: Option<&Group>| -> u32 {
        g.and_then(|g| text.get(g.start..g.end))
            .unwrap_or_default()
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    validate::us_ssn(
        num(groups.get(a)),
        num(groups.get(a + 1)),
        num(groups.get(a + 2)),
    )
}

/// An IBAN whose check digits start at `d` (country code at `d - 2`). Returns its end.
pub fn find_iban(text: &[u8], d: usize) -> Option<usize> {
    let cs = d.checked_sub(2)?;
    let cc = text.get(cs..d)?;
    if !cc.iter().all(u8::is_ascii_uppercase) || !text.get(d + 1)?.is_ascii_digit() {
        return None;
    }
    if cs > 0 && text.get(cs - 1).is_some_and(|&b| is_word(b)) {
        return None;
    }
    let want = validate::iban_length(cc)?;
    let mut compact = Vec::with_capacity(want);
    compact.extend_from_slice(cc);
    let mut k = d;
    let mut end = d;
    while compact.len() < want {
        match text.get(k) {
            Some(&b) if b.is_ascii_digit() || b.is_ascii_uppercase() => {
                compact.push(b);
                k += 1;
                end = k;
            }
            Some(b' ' | b'-')
                if k > d
                    && text
                        .get(k + 1)
                        .is_some_and(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) =>
            {
                k += 1
            }
            _ => return None,
        }
    }
    if text.get(end).is_some_and(|&b| is_word(b)) {
        return None;
    }
    validate::iban_mod97(&compact).then_some(end)
}
