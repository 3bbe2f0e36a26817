//! Encoded secrets, zero-width characters and the validators.

use base64::Engine as _;
use sluice_core::detect::validate;
use sluice_core::{DetectorOptions, Encoding, Finding, Scanner};

/// Fake AWS key id and a GitHub token with a valid checksum, built at run time.
fn samples() -> Vec<(&'static str, String)> {
    let payload = "wZeA5jbsBXA3hcMNWcyTLvJ47rGpct";
    let base62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = crc32fast::hash(payload.as_bytes());
    let mut check = [b'0'; 6];
    for slot in check.iter_mut().rev() {
        *slot = base62[(n % 62) as usize];
        n /= 62;
    }
    vec![
        ("aws-access-key-id", format!("AKIA{}", "IX6EA6QOM66ZJOJY")),
        (
            "github-pat",
            format!("ghp_{payload}{}", String::from_utf8_lossy(&check)),
        ),
        ("email", "jane.doe@example.org".to_string()),
        ("us-ssn", "123-45-6789".to_string()),
    ]
}

fn scan(text: &str) -> Vec<Finding> {
    let scanner = Scanner::new(&DetectorOptions::default()).expect("builds");
    let mut out = Vec::new();
    scanner.scan(text, &mut out);
    out
}

fn assert_encoded(rule: &str, text: &str, run: &str, encoding: Encoding) {
    let start = text.find(run).expect("run in text");
    let found = scan(text);
    let hit = found
        .iter()
        .find(|f| f.rule == rule && f.encoding == Some(encoding))
        .unwrap_or_else(|| panic!("{rule} not found as {encoding:?} in {text:?}: {found:?}"));
    assert!(
        hit.start <= start && start + run.len() <= hit.end
            || (hit.start >= start
                && hit.end <= start + run.len()
                && encoding != Encoding::Base64
                && encoding != Encoding::Hex),
        "{rule}: span {}..{} vs run {}..{}",
        hit.start,
        hit.end,
        start,
        start + run.len()
    );
}

#[test]
fn base64_of_a_secret_is_found_and_spans_the_run() {
    for (rule, value) in samples() {
        let run = base64::engine::general_purpose::STANDARD.encode(format!("key: {value}"));
        let text = format!("payload {run} end");
        assert_encoded(rule, &text, &run, Encoding::Base64);
        let found = scan(&text);
        let hit = found.iter().find(|f| f.rule == rule).expect("found");
        assert_eq!(
            (hit.start, hit.end),
            (8, 8 + run.len()),
            "{rule}: span is the whole run"
        );
    }
}

#[test]
fn base64url_of_a_secret_is_found() {
    let (rule, value) = samples().remove(1);
    let run = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("\u{ff}\u{fe}>> {value}?>"));
    let text = format!("x={run}");
    let found = scan(&text);
    assert!(
        found.iter().any(|f| f.rule == rule && f.encoding.is_some()),
        "{found:?}"
    );
}

#[test]
fn hex_of_a_secret_is_found_and_spans_the_run() {
    for (rule, value) in samples() {
        let run: String = value.bytes().map(|b| format!("{b:02x}")).collect();
        let text = format!("blob={run};");
        assert_encoded(rule, &text, &run, Encoding::Hex);
    }
}

#[test]
fn percent_encoded_secret_maps_to_its_bytes() {
    let text = "GET /cb?to=jane.doe%40example.org&ssn=123%2D45%2D6789 HTTP/1.1";
    let found = scan(text);
    let email = found.iter().find(|f| f.rule == "email").expect("email");
    assert_eq!(&text[email.start..email.end], "jane.doe%40example.org");
    assert_eq!(email.encoding, Some(Encoding::Percent));
    let ssn = found.iter().find(|f| f.rule == "us-ssn").expect("ssn");
    assert_eq!(&text[ssn.start..ssn.end], "123%2D45%2D6789");
}

#[test]
fn json_escaped_secret_maps_to_its_bytes() {
    let (rule, value) = samples().remove(0);
    let escaped: String = value
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let text = format!(r#"{{"content": "the key is {escaped} ok"}}"#);
    let found = scan(&text);
    let hit = found.iter().find(|f| f.rule == rule).expect("found");
    assert_eq!(hit.encoding, Some(Encoding::JsonEscape));
    assert_eq!(&text[hit.start..hit.end], escaped);
}

#[test]
fn nested_encodings_respect_the_depth() {
    let (rule, value) = samples().remove(0);
    let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    let run = base64::engine::general_purpose::STANDARD.encode(format!("k {hex} z"));
    let text = format!("data {run} .");
    assert!(
        scan(&text).iter().any(|f| f.rule == rule),
        "depth 2 peels base64 of hex"
    );
    let shallow = Scanner::new(&DetectorOptions {
        decode_depth: 1,
        ..Default::default()
    })
    .expect("builds");
    let mut out = Vec::new();
    shallow.scan(&text, &mut out);
    assert!(
        !out.iter().any(|f| f.rule == rule),
        "depth 1 stops after one layer"
    );
    let off = Scanner::new(&DetectorOptions {
        decoders: false,
        ..Default::default()
    })
    .expect("builds");
    out.clear();
    off.scan(&format!("payload {run} end"), &mut out);
    assert!(!out.iter().any(|f| f.rule == rule));
}

#[test]
fn binary_base64_and_hashes_are_not_findings() {
    for text in [
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "Commit 8e0754db5fea23c1b36edd61c47b1ba961ae690f fixed the flaky test.",
        "sha256:0a44165747779d74c45cc43465f7f2a1f4e4cc305678c811fe2d4d60080746f8",
    ] {
        assert!(scan(text).is_empty(), "{text}");
    }
}

#[test]
fn zero_width_characters_do_not_hide_a_token() {
    for (rule, value) in samples().into_iter().take(2) {
        for zw in [
            '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{00AD}',
        ] {
            let (a, b) = value.split_at(6);
            let text = format!("my key {a}{zw}{b}{zw} here");
            let found = scan(&text);
            let hit = found
                .iter()
                .find(|f| f.rule == rule)
                .unwrap_or_else(|| panic!("{rule} hidden by {zw:?}"));
            assert_eq!(hit.start, "my key ".len());
            assert!(
                hit.end >= "my key ".len() + value.len() + zw.len_utf8(),
                "span covers the zero-width char"
            );
            assert!(text.is_char_boundary(hit.end));
        }
    }
}

#[test]
fn validators() {
    assert!(validate::luhn("4111 1111 1111 1111"));
    assert!(!validate::luhn("4111 1111 1111 1112"));
    assert!(validate::iban_mod97(b"GB82WEST12345698765432"));
    assert!(!validate::iban_mod97(b"GB82WEST12345698765433"));
    assert!(
        !validate::iban_mod97(b"GB82WEST1234569876543"),
        "wrong length for GB"
    );
    assert!(
        !validate::iban_mod97(b"ZZ82WEST12345698765432"),
        "unknown country"
    );
    assert!(validate::us_ssn(123, 45, 6789));
    for (a, g, s) in [
        (0, 45, 6789),
        (666, 45, 6789),
        (901, 45, 6789),
        (123, 0, 6789),
        (123, 45, 0),
    ] {
        assert!(!validate::us_ssn(a, g, s));
    }
    let (_, gh) = samples().remove(1);
    assert!(validate::crc32_base62(&gh));
    let mut broken = gh.clone();
    broken.replace_range(10..11, if &gh[10..11] == "A" { "B" } else { "A" });
    assert!(!validate::crc32_base62(&broken));
    assert!(!validate::crc32_base62("ghp_short"));
    let jwt_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#);
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"1"}"#);
    assert!(validate::jwt(&format!("{jwt_header}.{payload}.sig")));
    let no_alg = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT"}"#);
    assert!(!validate::jwt(&format!("{no_alg}.{payload}.sig")));
    assert!(!validate::jwt("eyJnot-json.eyJx.y"));
    assert!(validate::bech32("A12UEL5L") && !validate::bech32("A12UEL5X"));
    assert!(validate::shannon_entropy(b"aaaaaaaa") < 0.01);
    assert!(validate::shannon_entropy(b"Zx8Qm2Lp9Vr4Tn6W") > 3.5);
    for p in [
        "xxxxxxxxxxxxxxxx",
        "<your-api-key>",
        "AKIAIOSFODNN7EXAMPLE",
        "your_api_key_here",
        "1234567890abcdef",
        "aaaaaaaaaaaa",
        "changeme",
    ] {
        assert!(validate::is_placeholder(p), "{p}");
    }
    assert!(!validate::is_placeholder("Zx8Qm2Lp9Vr4Tn6W"));
}

#[test]
fn hostile_input_does_not_panic() {
    let scanner = Scanner::new(&DetectorOptions {
        ip_address: true,
        decode_depth: 4,
        ..Default::default()
    })
    .expect("builds");
    let mut out = Vec::new();
    for text in [
        "\\",
        "\\u",
        "\\uD800",
        "\\uD800\\u0041",
        "%",
        "%4",
        "%ZZ",
        "-----BEGIN",
        "-----BEGIN RSA PRIVATE KEY-----",
        "@",
        "a@",
        "@b.c",
        "+(",
        "(((((1",
        "1-2-3-4-5-6-7-8-9-0-1-2-3-4-5-6",
        "DE",
        "DE00",
        "\u{200B}",
        "\u{AD}\u{AD}",
        "=:=:=:",
        "password=",
        "Authorization: Bearer",
        "é\\u00e9%C3%A9",
        "eyJ.eyJ.",
    ] {
        out.clear();
        scanner.scan(text, &mut out);
        let v = scanner.viable_from(text);
        assert!(v <= text.len() && text.is_char_boundary(v));
        for f in &out {
            assert!(f.start <= f.end && f.end <= text.len());
        }
    }
}
