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
                b'+' | b'/'
                    | b'='
                    | b'_'
                    | b'-'
                    | b'.'
                    | b':'
                    | b';'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'%'
                    | b'*'
                    | b'~'
            );
        b += 1;
    }
    t
}
pub static RUN_BYTE: [bool; 256] = run_table();

/// Minimum length of a run worth looking at; every catalogued token is at least this long.
pub const MIN_RUN: usize = 16;

/// Bytes that are neither whitespace nor control (by their low seven bits). Every run byte is
/// one, so a run of run bytes lies inside a run of these.
fn visible(b: u8) -> bool {
    b & 0x7f >= 0x21
}

/// Bit `i` set when byte `i` of the 64-byte block is [`visible`]; eight bytes per step.
fn visible_mask(block: &[u8]) -> u64 {
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut m = 0u64;
    for (k, chunk) in block.chunks_exact(8).take(8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // High bit of each byte set when (b & 0x7f) >= 0x21; no borrow crosses bytes.
        let t = ((x & !HI) | HI).wrapping_sub(0x2121_2121_2121_2121) & HI;
        let packed = ((t >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        m |= packed << (k * 8);
    }
    m
}

/// Bit `j` set when bits `j .. j + min` of `m` are all set.
fn runs_at_least(m: u64, min: usize) -> u64 {
    // The two lengths in use get constant shifts.
    match min {
        12 => {
            let d2 = m & (m >> 1);
            let d4 = d2 & (d2 >> 2);
            let d8 = d4 & (d4 >> 4);
            return d8 & (d4 >> 8);
        }
        16 => {
            let d2 = m & (m >> 1);
            let d4 = d2 & (d2 >> 2);
            let d8 = d4 & (d4 >> 4);
            return d8 & (d8 >> 8);
        }
        _ => {}
    }
    let mut d = m;
    let mut have = 1;
    while have < min {
        let s = (min - have).min(have);
        d &= d >> s;
        have += s;
    }
    d
}

/// Calls `f(start, end)` for every maximal run of [`RUN_BYTE`]s at least `min` long.
///
/// Prose is skipped 64 bytes at a time: a bit mask of visible bytes shows whether the block
/// holds `min` visible bytes in a row at all; only such stretches are examined byte by byte.
pub fn long_runs(text: &[u8], min: usize, mut f: impl FnMut(usize, usize)) {
    let min = min.clamp(1, 32);
    let n = text.len();
    let step = 64 - (min - 1);
    let mut i = 0;
    while let Some(block) = text.get(i..i + 64) {
        let d = runs_at_least(visible_mask(block), min);
        if d == 0 {
            i += step;
            continue;
        }
        let c = i + d.trailing_zeros() as usize;
        let mut rs = c;
        while rs > 0 && text.get(rs - 1).is_some_and(|&b| visible(b)) {
            rs -= 1;
        }
        let mut re = c;
        while text.get(re).is_some_and(|&b| visible(b)) {
            re += 1;
        }
        if let Some(region) = text.get(rs..re) {
            exact_runs(region, min, |s, e| f(rs + s, rs + e));
        }
        i = re + 1;
    }
    // The tail, from the start of the visible stretch the last step may have entered.
    if i >= n {
        return;
    }
    let mut t = i;
    while t > 0 && text.get(t - 1).is_some_and(|&b| visible(b)) {
        t -= 1;
    }
    if let Some(tail) = text.get(t..) {
        exact_runs(tail, min, |s, e| f(t + s, t + e));
    }
}

/// The byte-exact run finder, for stretches the block filter selected.
///
/// Probes the last byte of the next `min`-byte window: when it is not a run byte no run of
/// length `min` can overlap the window, so the search jumps past it.
fn exact_runs(text: &[u8], min: usize, mut f: impl FnMut(usize, usize)) {
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
    fn block_filter_agrees_with_exact_finder() {
        let mut state: u32 = 7;
        let alphabet = b"ab1_ -=:.,\n\t\"AZ";
        for round in 0..200 {
            let len = 1 + round * 3;
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    let pick = (state >> 16) as usize % (alphabet.len() + 8);
                    // Bias towards run bytes so long runs occur.
                    alphabet.get(pick).copied().unwrap_or(b'x')
                })
                .collect();
            for min in [12, 16] {
                let mut fast = Vec::new();
                long_runs(&text, min, |s, e| fast.push((s, e)));
                let mut exact = Vec::new();
                exact_runs(&text, min, |s, e| exact.push((s, e)));
                assert_eq!(
                    fast,
                    exact,
                    "min {min}, text {:?}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }

    #[test]
    fn visible_mask_is_exact() {
        let block: Vec<u8> = (0..64u8)
            .map(|i| if i % 3 == 0 { b' ' } else { b'a' + i % 26 })
            .collect();
        let m = visible_mask(&block);
        for (i, &b) in block.iter().enumerate() {
            assert_eq!(m >> i & 1 == 1, visible(b), "bit {i}");
        }
    }

    #[test]
    fn digit_finder_matches_naive() {
        let text = b"no digits in this part at all... then 7 and later 42";
        assert_eq!(next_digit(text, 0), Some(38));
        assert_eq!(next_digit(text, 39), Some(50));
        assert_eq!(next_digit(b"abc", 0), None);
        let high = "héllo wörld ünïcode ßtraße 9".as_bytes();
        assert_eq!(
            next_digit(high, 0),
            high.iter().position(u8::is_ascii_digit)
        );
    }
}
