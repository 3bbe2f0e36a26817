//! The assignment grammar every keyword-context rule shares: how a name is bound to a value in
//! the languages and file formats prompts carry, and whether what follows is a literal value
//! or something that only refers to one.
//!
//! One grammar, two halves:
//! - [`context_pattern`] is the regex that runs from the start of the identifier up to where
//!   the value begins. It is the part of each rule the holdback automata cut off as context,
//!   so a stream holds exactly what the scanner could still report, whatever the syntax.
//! - [`is_literal`] runs on each match and rejects what the regex cannot tell apart: a call, a
//!   path, a type, an interpolation, a setter that is not one. It only ever removes findings,
//!   so holdback stays on the safe side of it.
//!
//! Forms understood (the identifier contains one of the rule's keywords, any case):
//! - operators: `=`, `:`, `:=`, `=>`, `==`, `!=`, `?=`, `::=`, `:::=`, `+=`, `.=`, `??=`,
//!   `||=`, `<-`; the name may be quoted (`"api_key":`, JSON-escaped `\"api_key\":`) or
//!   indexed (`os.environ["API_TOKEN"] =`);
//! - typed declarations: `var apiToken string = …`, `const apiToken: string = …`,
//!   `val apiToken: String = …`, `let token: &str = …`;
//! - `name, value` pairs with both quoted: `System.setProperty("API_TOKEN", "…")`,
//!   `os.Setenv("TOKEN", "…")`, tuples, `headers.set("Authorization", "…")`;
//! - setters: `setApiToken("…")`;
//! - XML elements (`<apiKey>…</apiKey>`, the value on its own line too) and `.NET`-style
//!   `key="ApiKey" value="…"` attributes;
//! - command-line flags: `--password=…`, `--password …`;
//! - Dockerfile's legacy `ENV NAME value` (the value is the rest of the line);
//! - value openers: quotes (`"`, `'`, backtick raw strings), `r"…"`, `@"…"`, YAML block
//!   scalars (`password: |` and the value on the next line).

/// The regex from an identifier holding one of `keywords` to the first byte of its value.
/// The rule's own value pattern is appended to it.
pub(crate) fn context_pattern(keywords: &[&str]) -> String {
    let alternation = keywords
        .iter()
        .map(|k| regex_syntax::escape(k))
        .collect::<Vec<_>>()
        .join("|");
    let ident = format!(r"(?i:[a-z0-9_.-]{{0,64}}?(?:{alternation})[a-z0-9_.-]{{0,64}})");
    // Closing quote of a quoted name (`"api_key":`), possibly JSON-escaped.
    let key_quote = r#"(?:\\?["'`])"#;
    let quote = r#"\\?["']"#;
    let operator = r"(?:=>|:::=|::=|:=|\?\?=|\|\|=|\?=|\+=|\.=|!=|==|=|:|<-)";
    let type_name = r"[&*]?(?:'static[ \t]+)?(?:\[\])?[A-Za-z_][A-Za-z0-9_.]{0,40}(?:<[A-Za-z0-9_, ]{0,40}>)?(?:\[\])?\??";
    let value_open = r#"[ \t]*(?:[|>][-+0-9]{0,2}[ \t]*\r?\n[ \t]*)?(?:\\?["'`]|[rR]#{0,3}"|@")?"#;
    format!(
        concat!(
            "(?:",
            // --password=… / --password …
            r"--{ident}(?:[ \t]+|=){quote_opt}",
            // Dockerfile's legacy `ENV NAME value`
            r"|(?-i:ENV)[ \t]+{ident}[ \t]+{quote_opt}",
            "|{ident}(?:",
            // typed declarations
            r"{key_quote}?(?:[ \t]*:[ \t]*|[ \t]+){type_name}[ \t]*(?::=|=){value_open}",
            // plain operators
            r"|{key_quote}?\]?[ \t]*{operator}{value_open}",
            // "name", "value"  /  key="Name" value="…"
            r"|{quote}[ \t]*,[ \t]*{quote}",
            r"|{quote}[ \t]+(?i:value)[ \t]*=[ \t]*{quote}",
            // setName("…")
            r#"|[ \t]*\([ \t]*\\?["'`]"#,
            // <name>…</name>
            r"|>[ \t\r\n]*",
            "))",
        ),
        ident = ident,
        quote_opt = format_args!("(?:{quote})?"),
        key_quote = key_quote,
        type_name = type_name,
        value_open = value_open,
        operator = operator,
        quote = quote,
    )
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Bytes skipped between the words of a declaration when walking back from its operator:
/// quotes, index brackets, type punctuation (`var apiToken string =`,
/// `static TOKEN: &'static str =`, `os.environ["KEY"] =`, `Option<Vec<u8>> =`).
fn between_words(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'"'
            | b'\''
            | b'`'
            | b'\\'
            | b'&'
            | b'*'
            | b':'
            | b'['
            | b']'
            | b'<'
            | b'>'
            | b','
            | b'?'
            | b'!'
            | b'+'
            | b'|'
            | b'='
    )
}

/// How many words before an operator may hold the name (the name, a type, its modifiers).
const WORDS_BACK: usize = 5;
/// How far before an operator the name may start.
const LOOK_BACK: usize = 160;

/// End of the identifier starting at `k`.
pub(crate) fn ident_end(bytes: &[u8], k: usize) -> usize {
    let mut e = k;
    while bytes.get(e).is_some_and(|&b| ident_byte(b)) {
        e += 1;
    }
    e
}

/// Start of the identifier ending at `e`.
fn word_start(bytes: &[u8], e: usize) -> usize {
    let mut k = e;
    while k > 0 && e - k < 128 && bytes.get(k - 1).is_some_and(|&b| ident_byte(b)) {
        k -= 1;
    }
    k
}

/// The identifier the keyword gate looks at for the anchor at `k`: the word there, or for
/// `ENV NAME value` the name after the instruction.
pub(crate) fn gate_word(bytes: &[u8], k: usize) -> &[u8] {
    let mut s = k;
    if bytes.get(k..k + 3) == Some(b"ENV") && matches!(bytes.get(k + 3), Some(b' ' | b'\t')) {
        s = k + 3;
        while matches!(bytes.get(s), Some(b' ' | b'\t')) {
            s += 1;
        }
    }
    bytes.get(s..ident_end(bytes, s)).unwrap_or_default()
}

/// The words before an operator at `op`: the name and, in a typed declaration, its type.
fn words_before(bytes: &[u8], op: usize, words: usize, out: &mut Vec<usize>) {
    let floor = op.saturating_sub(LOOK_BACK);
    let mut j = op;
    for _ in 0..words {
        while j > floor && bytes.get(j - 1).is_some_and(|&b| between_words(b)) {
            j -= 1;
        }
        if j <= floor || !bytes.get(j - 1).is_some_and(|&b| ident_byte(b)) {
            break;
        }
        let k = word_start(bytes, j);
        out.push(k);
        j = k;
    }
}

/// Start of every identifier that may be the name of a binding, unsorted and possibly
/// repeated: the words before each `=` / `:` (a name and its type), the quoted name before a
/// `,`, a setter before its `(`, an element name before its `>`, and each `--flag`. The
/// scanner keeps those holding a keyword and runs the grammar from there.
pub(crate) fn anchors(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for op in memchr::memchr3_iter(b'=', b':', b'>', bytes) {
        let prev = op.checked_sub(1).and_then(|p| bytes.get(p)).copied();
        if bytes.get(op) == Some(&b'>') {
            // `<name>`: an element; `=>` and `->` are found from their `=` or not at all.
            if prev.is_some_and(ident_byte) {
                let k = word_start(bytes, op);
                if k > 0 && bytes.get(k - 1) == Some(&b'<') {
                    out.push(k);
                }
            }
            continue;
        }
        // A type sits between a name and its `=` (`var apiToken string =`); before a `:`
        // is the name alone (`api_token:`, `"api_token":`), and prose is full of colons.
        let words = if bytes.get(op) == Some(&b'=') {
            WORDS_BACK
        } else {
            1
        };
        words_before(bytes, op, words, &mut out);
    }
    // R's `name <- value`.
    for op in memchr::memmem::find_iter(bytes, b"<-") {
        words_before(bytes, op, 1, &mut out);
    }
    for at in memchr::memchr2_iter(b',', b'(', bytes) {
        if bytes.get(at) == Some(&b',') {
            // `"name", "value"`: the name is quoted.
            let mut j = at;
            while j > 0 && matches!(bytes.get(j - 1), Some(b' ' | b'\t')) {
                j -= 1;
            }
            if !matches!(
                j.checked_sub(1).and_then(|p| bytes.get(p)),
                Some(b'"' | b'\'')
            ) {
                continue;
            }
            j -= 1;
            if j > 0 && bytes.get(j - 1) == Some(&b'\\') {
                j -= 1;
            }
            if j > 0 && bytes.get(j - 1).is_some_and(|&b| ident_byte(b)) {
                out.push(word_start(bytes, j));
            }
        } else if at > 0 && bytes.get(at - 1).is_some_and(|&b| ident_byte(b)) {
            // `setApiToken(`: only setters bind.
            let k = word_start(bytes, at);
            let word = bytes.get(k..at).unwrap_or_default();
            let last = word.rsplit(|&b| b == b'.').next().unwrap_or_default();
            if last
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"set"))
            {
                out.push(k);
            }
        }
    }
    // Dockerfile's legacy `ENV NAME value`, the instruction first on its line.
    for at in memchr::memmem::find_iter(bytes, b"ENV") {
        let line_start = bytes
            .get(..at)
            .unwrap_or_default()
            .iter()
            .rev()
            .take_while(|&&b| b != b'\n')
            .all(|&b| b == b' ' || b == b'\t');
        if line_start && matches!(bytes.get(at + 3), Some(b' ' | b'\t')) {
            out.push(at);
        }
    }
    for at in memchr::memmem::find_iter(bytes, b"--") {
        let prev = at.checked_sub(1).and_then(|p| bytes.get(p)).copied();
        if bytes.get(at + 2).is_some_and(u8::is_ascii_alphabetic)
            && prev.is_none_or(|p| p.is_ascii_whitespace() || matches!(p, b'"' | b'\'' | b'='))
        {
            out.push(at);
        }
    }
    out
}

/// Whether the value at `text[vs..ve]`, bound by the context that starts at `ks`, is a
/// literal and not a reference to one (a call, a path, a type, an interpolation).
pub(crate) fn is_literal(text: &str, ks: usize, vs: usize, ve: usize) -> bool {
    let bytes = text.as_bytes();
    let Some(value) = bytes.get(vs..ve) else {
        return false;
    };
    let before = |i: usize| i.checked_sub(1).and_then(|p| bytes.get(p)).copied();
    let quoted = matches!(before(vs), Some(b'"' | b'\'' | b'`'));
    let ie = ident_end(bytes, ks);
    let ident = bytes.get(ks..ie).unwrap_or_default();
    let mut g = ie;
    while bytes
        .get(g)
        .is_some_and(|&b| matches!(b, b'\\' | b'"' | b'\'' | b'`' | b']' | b' ' | b'\t'))
    {
        g += 1;
    }
    // `libc::passwd::pw_gecos`: a path separator, not the `:` operator (`::=` and `:::=`
    // still are operators).
    let colons = bytes
        .get(g..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b':')
        .count();
    if colons >= 2 && bytes.get(g + colons) != Some(&b'=') {
        return false;
    }
    let element = bytes.get(g) == Some(&b'>');
    match bytes.get(g) {
        // setName("…"): a call is a binding only when it is a setter.
        Some(b'(') => {
            let last = ident
                .rsplit(|&b| b == b'.')
                .next()
                .unwrap_or_default()
                .trim_ascii_start();
            if !last
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"set"))
            {
                return false;
            }
        }
        // <name>…: an XML element, not `name>…` in prose or code.
        Some(b'>') if before(ks) != Some(b'<') => return false,
        _ => {}
    }
    if interpolated(bytes, vs, ve) {
        return false;
    }
    // A quoted value, or element text (it ends at the closing tag's `<`).
    if quoted || element {
        return true;
    }
    let next = bytes.get(ve).copied();
    if matches!(next, Some(b'(')) {
        return false;
    }
    if is_path(value) {
        // `a::b` and `a->b` are code; `a.b` may also be a dotted token (`M….x.y`): code when
        // used (`.into()`, `;`, `,`) or written in lower snake case (`user.token_value`).
        let dotted_only = !value.windows(2).any(|w| w == b"::" || w == b"->");
        let used = matches!(
            next,
            Some(b'(' | b'<' | b'[' | b';' | b',' | b')' | b'.' | b'?' | b'!')
        );
        let snake = value.split(|&b| b == b'.').all(|seg| {
            seg.iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
        if !dotted_only || used || snake {
            return false;
        }
    }
    if is_identifier(value) && matches!(next, Some(b'<' | b'[' | b'.' | b'?' | b'!' | b'{')) {
        return false;
    }
    // `check_private_key_bytes: x25519_check_private_key_bytes,`, `key: EphemeralPrivateKey)`:
    // an unquoted name that reads as words, ending a field, an argument or a statement, is a
    // variable or a type. Configuration values end at the line.
    if is_identifier(value)
        && matches!(next, Some(b',' | b')' | b';'))
        && super::reads_as_words(value)
    {
        return false;
    }
    if is_number_literal(value, bytes.get(ve..).unwrap_or_default()) {
        return false;
    }
    // `*const c_char`, `&mut buf`, `*ptr`: a pointer type or a dereference.
    let pointer = matches!(value, [b'*' | b'&', c, ..] if c.is_ascii_alphabetic() || *c == b'_');
    if pointer || is_named_constant(value) || in_expression(bytes, ve) {
        return false;
    }
    true
}

/// A number written the way code writes constants: `0xC000027A`, `0o755`, `2242u32`,
/// `-2147221113i32`, or plain digits ending a statement or cast (`= 3221225516;`,
/// `= 7 as _`). Digits alone on a configuration line (`DB_PASSWORD=83920174`) may be a PIN
/// and stay values.
fn is_number_literal(v: &[u8], after: &[u8]) -> bool {
    let v = v.strip_prefix(b"-").unwrap_or(v);
    let radix = [&b"0x"[..], b"0X", b"0o", b"0b"]
        .iter()
        .find_map(|p| v.strip_prefix(*p));
    if let Some(digits) = radix {
        return !digits.is_empty()
            && digits.first().is_some_and(u8::is_ascii_hexdigit)
            && digits
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_');
    }
    let digits = v
        .iter()
        .take_while(|&&b| b.is_ascii_digit() || b == b'_')
        .count();
    if digits == 0 {
        return false;
    }
    let suffix = v.get(digits..).unwrap_or_default();
    const SUFFIXES: [&[u8]; 18] = [
        b"u8", b"u16", b"u32", b"u64", b"u128", b"usize", b"i8", b"i16", b"i32", b"i64", b"i128",
        b"isize", b"f32", b"f64", b"L", b"UL", b"ULL", b"LL",
    ];
    if suffix.is_empty() {
        let rest = after.trim_ascii_start();
        return rest.first() == Some(&b';') || rest.starts_with(b"as ");
    }
    SUFFIXES.iter().any(|s| suffix.eq_ignore_ascii_case(s))
}

/// `ATNSTATE_INVALID_STATE`, `__X32_SYSCALL_BIT`, `next_tokens_state`: words of one case
/// joined by `_`, the way code names constants and variables; a secret mixes cases within
/// its runs.
fn is_named_constant(v: &[u8]) -> bool {
    is_identifier(v)
        && v.contains(&b'_')
        && v.split(|&b| b == b'_').all(|seg| {
            let one_case =
                !seg.iter().any(u8::is_ascii_uppercase) || !seg.iter().any(u8::is_ascii_lowercase);
            // Words, not hex: `X32` and `POLY1305` are names, `sk_9f3a…` is a key.
            let digits = seg.iter().filter(|b| b.is_ascii_digit()).count();
            let letters_then_digits = {
                let letters = seg.iter().take_while(|b| b.is_ascii_alphabetic()).count();
                letters >= 2
                    && seg
                        .get(letters..)
                        .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            };
            one_case && (digits <= 3 || letters_then_digits)
        })
}

/// The value is an operand: ` + 2`, ` | FLAG`, ` * n` follows it.
fn in_expression(bytes: &[u8], ve: usize) -> bool {
    let mut i = ve;
    while bytes.get(i).is_some_and(|&b| b == b' ' || b == b'\t') {
        i += 1;
    }
    i > ve
        && matches!(
            bytes.get(i),
            Some(b'+' | b'-' | b'*' | b'/' | b'|' | b'&' | b'^' | b'%')
        )
        && matches!(bytes.get(i + 1), Some(b' ' | b'\t'))
}

/// `${X}`, `#{x}`, `{{ x }}`, `$(cmd)`, `%(x)s`, `$VAR` at or right around the value.
fn interpolated(bytes: &[u8], vs: usize, ve: usize) -> bool {
    let from = vs.saturating_sub(2);
    let to = (ve + 2).min(bytes.len());
    let around = bytes.get(from..to).unwrap_or_default();
    if around
        .windows(2)
        .any(|w| matches!(w, b"${" | b"#{" | b"{{" | b"$(" | b"%(" | b"<%" | b"{%"))
    {
        return true;
    }
    matches!(bytes.get(vs..vs + 2), Some([b'$', c]) if c.is_ascii_alphabetic() || *c == b'_')
}

fn is_identifier(v: &[u8]) -> bool {
    v.first()
        .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_')
        && v.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `a.b`, `a::b`, `::a::b`, `a->b`, `self.token`: segments that are all identifiers.
fn is_path(v: &[u8]) -> bool {
    // A path cut at a turbofish (`mem::MaybeUninit::<T>`) ends in `::`.
    if let Some(head) = v.strip_suffix(b"::") {
        return !head.is_empty() && (is_identifier(head) || is_path(head));
    }
    let s = v.strip_prefix(b"::").unwrap_or(v);
    let mut segments = 0;
    let mut rest = s;
    loop {
        let len = rest
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
            .unwrap_or(rest.len());
        let Some(seg) = rest.get(..len) else {
            return false;
        };
        if !is_identifier(seg) {
            return false;
        }
        segments += 1;
        rest = rest.get(len..).unwrap_or_default();
        if rest.is_empty() {
            return segments > 1 || s.len() != v.len();
        }
        rest = if let Some(r) = rest.strip_prefix(b"::") {
            r
        } else if let Some(r) = rest.strip_prefix(b"->") {
            r
        } else if let Some(r) = rest.strip_prefix(b".") {
            r
        } else {
            return false;
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_told_from_values() {
        for p in [
            "u.passwd.into_raw",
            "::core::option::Option",
            "self.token",
            "a->b",
        ] {
            assert!(is_path(p.as_bytes()), "{p}");
        }
        for v in ["hunter2", "s3cr3t.pass!", "a.b.", "1.2.3", "abc-def"] {
            assert!(!is_path(v.as_bytes()), "{v}");
        }
    }
}
