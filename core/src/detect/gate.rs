//! Cheap pre-filters that decide where the expensive matchers run at all. Prose is mostly
//! short words separated by spaces, so these skip it in strides instead of byte by byte.

/// Bytes that can be part of a token run: credentials, URLs with userinfo, connection strings,
/// base64/hex/percent-encoded blobs.
const fn run_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'+' | b'/' | b'=' | b'_' | b'-' | b'.' | b':' | b';' | b'@' | b'!' | b'$' | b'%'
                    | b'*' | b'~'
            );
        b += 1;
    }
    t
}
pub static RUN_BYTE: [bool; 256] = run_table();

/// Minimum length of a run worth looking at; every catalogued token is at least this long.
pub const MIN_RUN: usize = 16;

/// Calls `f(start, end)` for every maximal run of [`RUN_BYTE`]s at least `min` long.
///
/// Probes the last byte of the next `min`-byte window: when it is not a run byte no run of
/// length `min` can overlap the window, so the search jumps past it.
pub fn long_runs(text: &[u8], min: usize, mut f: impl FnMut(usize, usize)) {
    let min = min.max(1);
    let n = text.len();
    // Invariant: `i == 0` or `text[i - 1]` is not a run byte.
    let mut i = 0;
    while i + min <= n {
        let p = i + min - 1;
        if !text.get(p).is_some_and(|&b| RUN_BYTE[usize::from(b)]) {
            i = p + 1;
            continue;
        }
        let mut s = p;
        while s > i && text.get(s - 1).is_some_and(|&b| RUN_BYTE[usize::from(b)]) {
            s -= 1;
        }
        let mut e = p + 1;
        while text.get(e).is_some_and(|&b| RUN_BYTE[usize::from(b)]) {
            e += 1;
        }
        if e - s >= min {
            f(s, e);
        }
        i = e + 1;
    }
}

/// Position of the first ASCII digit at or after `from`, eight bytes at a time.
pub fn next_digit(text: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = text.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // Bytes in 0x30..=0x39: (x - 0x30) has no borrow into the high bit and (x + 0x46)
        // (0x39 + 0x46 = 0x7f) stays below 0x80; exact for ASCII, a superset check otherwise.
        let ge = (x | HI).wrapping_sub(LO * 0x30) & HI;
        let le = !((x & !HI).wrapping_add(LO * 0x46)) & HI;
        let ascii = !x & HI;
        if ge & le & ascii != 0 {
            break;
        }
        i += 8;
    }
    text.get(i..)?
        .iter()
        .position(u8::is_ascii_digit)
        .map(|p| i + p)
}

pub fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Largest char boundary `<= i`.
pub fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Smallest char boundary `>= i`.
pub fn ceil_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_found_exactly() {
        let text = b"short words only here, then AKIAIX6EA6QOM66ZJOJY and x";
        let mut got = Vec::new();
        long_runs(text, MIN_RUN, |s, e| got.push((s, e)));
        assert_eq!(got, vec![(28, 48)]);
        let mut got = Vec::new();
        long_runs(b"0123456789abcdef", 16, |s, e| got.push((s, e)));
        assert_eq!(got, vec![(0, 16)]);
        let mut got = Vec::new();
        long_runs(b"0123456789abcde", 16, |s, e| got.push((s, e)));
        assert!(got.is_empty());
    }

    #[test]
    fn digit_finder_matches_naive() {
        let text = b"no digits in this part at all... then 7 and later 42";
        assert_eq!(next_digit(text, 0), Some(38));
        assert_eq!(next_digit(text, 39), Some(50));
        assert_eq!(next_digit(b"abc", 0), None);
        let high = "héllo wörld ünïcode ßtraße 9".as_bytes();
        assert_eq!(next_digit(high, 0), high.iter().position(u8::is_ascii_digit));
    }
}
