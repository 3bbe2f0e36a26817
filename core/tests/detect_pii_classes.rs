//! The opt-in identifier and address classes: each synthetic value (computed to pass its
//! checksum) found with its exact span, the same value with a broken checksum not found,
//! integers and hex of code not found, a class switched off not found, every cut of a
//! stream held, and ordinary prose with every class on neither reported nor held.

use sluice_core::detect::validate;
use sluice_core::{DetectorOptions, Finding, Scanner};

fn all_on() -> DetectorOptions {
    DetectorOptions {
        uk_nino: true,
        ca_sin: true,
        in_aadhaar: true,
        in_pan: true,
        br_cpf: true,
        br_cnpj: true,
        es_dni: true,
        es_nie: true,
        it_codice_fiscale: true,
        fr_nir: true,
        de_steuer_id: true,
        au_tfn: true,
        us_itin: true,
        us_aba_routing: true,
        us_npi: true,
        us_dea: true,
        ipv6_address: true,
        mac_address: true,
        bitcoin_address: true,
        ethereum_address: true,
        ..DetectorOptions::default()
    }
}

fn scanner(options: &DetectorOptions) -> Scanner {
    Scanner::new(options).expect("scanner builds")
}

fn findings(s: &Scanner, text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    s.scan(text, &mut out);
    out
}

/// A hex string in EIP-55 checksum case, computed with keccak-256.
fn eip55_case(hex: &str) -> String {
    let lower = hex.to_ascii_lowercase();
    let hash = validate::keccak256(lower.as_bytes());
    lower
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let byte = hash[i / 2];
            let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
            if c.is_ascii_alphabetic() && nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

const ETH_HEX: &str = "7d3a91c04be2f5681a9cd04e3b7f2a65c18e9d4b";

/// `(rule, text before, value, text after)`: the value must be reported under `rule` with
/// exactly its span.
fn positives() -> Vec<(&'static str, String, String, String)> {
    let eth = format!("0x{}", eip55_case(ETH_HEX));
    let p = |rule: &'static str, before: &str, value: &str, after: &str| {
        (
            rule,
            before.to_string(),
            value.to_string(),
            after.to_string(),
        )
    };
    vec![
        p("ca-sin", "Her number is ", "628 194 821", " on file."),
        p("ca-sin", "Her number is ", "628-194-821", "."),
        p("ca-sin", "SIN: ", "628194821", "."),
        p("au-tfn", "TFN ", "252 760 189", " was lodged."),
        p("au-tfn", "my tax file number is ", "252760189", "."),
        p("us-itin", "ITIN ", "915-79-0139", " issued."),
        p("us-itin", "Use ", "915 79 0139", "."),
        p(
            "us-aba-routing",
            "routing number ",
            "059010928",
            " and account 1.",
        ),
        p("us-aba-routing", "ABA: ", "059010928", "."),
        p("in-aadhaar", "Card ", "5167 6122 2029", " verified."),
        p("in-aadhaar", "Aadhaar no. ", "516761222029", "."),
        p("br-cpf", "Contribuinte ", "729.975.288-36", "."),
        p("br-cpf", "CPF ", "72997528836", "."),
        p("br-cnpj", "Empresa ", "20.018.263/0001-35", "."),
        p("br-cnpj", "CNPJ: ", "20018263000135", "."),
        p("es-dni", "Titular ", "30434839C", "."),
        p("es-dni", "DNI ", "30434839-C", "."),
        p("es-nie", "NIE ", "Y5486205Y", "."),
        p("de-steuer-id", "Ihre ", "31 952 716 017", "."),
        p("de-steuer-id", "Steuer-IdNr. ", "31952716017", "."),
        p("us-npi", "NPI ", "1632049452", "."),
        p("us-dea", "Prescriber ", "BK4715770", "."),
        p("fr-nir", "Assuré ", "1 84 07 75 128 038 34", "."),
        p("fr-nir", "NIR ", "184077512803834", "."),
        p("fr-nir", "Assurée ", "2 91 11 2A 741 435 84", "."),
        p("it-codice-fiscale", "C.F. ", "RSSMRA85T10A643U", "."),
        p("uk-nino", "NI ", "JG316462C", "."),
        p("uk-nino", "NI number ", "JG 31 64 62 C", "."),
        p("in-pan", "PAN ", "ABCPK0420Q", "."),
        p(
            "bitcoin-address",
            "send to ",
            "1MfaVbXxqokqc1spkzRVou1cRh1L5UjDD7",
            ".",
        ),
        p(
            "bitcoin-address",
            "send to ",
            "35nuPpntgErShWzQiUgLq1P36ABFdWPMgx",
            ".",
        ),
        p(
            "bitcoin-address",
            "send to ",
            "bc1q73zgsl6lhvf980szkmjzg0dk0kjvx8u4tyjzd4",
            ".",
        ),
        p(
            "bitcoin-address",
            "send to ",
            "bc1pxl77gr2ypf7z6uja256flqq0pyck8pgfa4awxd9nxpd30zelam7qyk6es0",
            ".",
        ),
        p("ethereum-address", "pay ", &eth, " today."),
        p("ethereum-address", "wallet ", &format!("0x{ETH_HEX}"), "."),
        p(
            "ipv6-address",
            "host ",
            "2001:db8:85a3::8a2e:370:7334",
            " is up.",
        ),
        p(
            "ipv6-address",
            "host ",
            "fe80:0:0:0:200:f8ff:fe21:67cf",
            ".",
        ),
        p("ipv6-address", "mapped ", "::ffff:192.0.2.128", "."),
        p("mac-address", "NIC ", "3c:22:fb:7a:1e:05", "."),
        p("mac-address", "NIC ", "3C-22-FB-7A-1E-05", "."),
    ]
}

#[test]
fn every_class_is_found_with_its_exact_span() {
    let s = scanner(&all_on());
    for (rule, before, value, after) in positives() {
        let text = format!("{before}{value}{after}");
        let got = findings(&s, &text);
        let start = before.len();
        assert!(
            got.iter()
                .any(|f| f.rule == rule && f.start == start && f.end == start + value.len()),
            "{rule} not found in {text:?}: {got:?}"
        );
        assert!(
            got.iter().all(|f| f.rule == rule),
            "other rules fired on {text:?}: {got:?}"
        );
    }
}

#[test]
fn a_broken_checksum_or_shape_is_not_found() {
    let s = scanner(&all_on());
    let eth = eip55_case(ETH_HEX);
    // Flip the case of the first letter: the EIP-55 checksum no longer holds.
    let flip = eth
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphabetic())
        .map(|(i, _)| i)
        .unwrap_or(0);
    let mut broken_eth = eth.clone().into_bytes();
    broken_eth[flip] ^= 0x20;
    let broken_eth = format!("0x{}", String::from_utf8_lossy(&broken_eth));
    for text in [
        "Her number is 628 194 822 on file.",
        "SIN: 628194822.",
        "TFN 252 760 188 was lodged.",
        "ITIN 915-93-0139 issued.",
        "routing number 059010927 and account 1.",
        "Card 5167 6122 2028 verified.",
        "Contribuinte 729.975.288-37.",
        "Empresa 20.018.263/0001-36.",
        "Titular 30434839D.",
        "NIE Y5486205Z.",
        "Ihre 31 952 716 018.",
        "NPI 1632049453.",
        "Prescriber BK4715771.",
        "Assuré 1 84 07 75 128 038 35.",
        "Assurée 2 91 11 2B 741 435 84.",
        "C.F. RSSMRA85T10A643V.",
        "NI QQ316462C.",
        "NI JG316462E.",
        "NI GB316462C.",
        "PAN ABCXK0420Q.",
        "send to 1MfaVbXxqokqc1spkzRVou1cRh1L5UjDD8.",
        "send to bc1q73zgsl6lhvf980szkmjzg0dk0kjvx8u4tyjzd5.",
        "send to BC1Q73ZGSL6LHVF980SZKMJZG0DK0KJVX8U4TYJZd4.",
        &format!("pay {broken_eth} today."),
        "host 2001:db8:85a3:0:8a2e:370:7334 is up.",
        "host 2001:db8::85a3::7334 is up.",
        "NIC 3c:22:fb:7a:1e:05:11.",
        "NIC 00:00:00:00:00:00.",
    ] {
        let got = findings(&s, text);
        assert!(got.is_empty(), "{text:?}: {got:?}");
    }
}

#[test]
fn integers_and_hex_of_code_are_not_found() {
    let s = scanner(&all_on());
    let eth_lower = format!("0x{ETH_HEX}");
    for text in [
        "let x = 628194821;",
        "let x = 628194821u64;",
        "const TABLE: [u32; 4] = [628194821, 252760189, 59010928, 1632049452];",
        "assert_eq!(f(516761222029), 72997528836);",
        "    31952716017,\n    20018263000135,\n",
        "x = 184077512803834",
        "id: 915790139",
        "let v = vec![059010928, 1632049452];",
        &format!("let hash = {eth_lower};"),
        "sha256 3c22fb7a1e05b4c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "use std::io::Read; let v = Vec::<u8>::new(); a::b::c(); f32::EPSILON;",
        "let e = [f16::E, bf16::E]; C::C5(1); Add::add(a, b); DFA::DEAD; fe80::1",
        "at 12:30:45 and 08:15, file src/main.rs:12:5",
        "version 1.2.3-beta.4, 10.0.0.1, 2024-06-01",
        "let id = ABC123DEF4; let k = RSSMRA85T10A643; struct JG316462Cx;",
        "fn f_JG316462C() {} let s = my_30434839C;",
        "git 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "color #3c22fb, rgb(60, 34, 251)",
    ] {
        let got = findings(&s, text);
        let new: Vec<_> = got
            .iter()
            .filter(|f| !["credit-card", "phone", "us-ssn", "email", "iban"].contains(&f.rule))
            .collect();
        assert!(new.is_empty(), "{text:?}: {new:?}");
    }
}

#[test]
fn a_class_switched_off_is_not_found() {
    let default = scanner(&DetectorOptions::default());
    for (rule, before, value, after) in positives() {
        let text = format!("{before}{value}{after}");
        // Only the class itself is off; the rest stay on.
        let mut options = all_on();
        match rule {
            "uk-nino" => options.uk_nino = false,
            "ca-sin" => options.ca_sin = false,
            "in-aadhaar" => options.in_aadhaar = false,
            "in-pan" => options.in_pan = false,
            "br-cpf" => options.br_cpf = false,
            "br-cnpj" => options.br_cnpj = false,
            "es-dni" => options.es_dni = false,
            "es-nie" => options.es_nie = false,
            "it-codice-fiscale" => options.it_codice_fiscale = false,
            "fr-nir" => options.fr_nir = false,
            "de-steuer-id" => options.de_steuer_id = false,
            "au-tfn" => options.au_tfn = false,
            "us-itin" => options.us_itin = false,
            "us-aba-routing" => options.us_aba_routing = false,
            "us-npi" => options.us_npi = false,
            "us-dea" => options.us_dea = false,
            "ipv6-address" => options.ipv6_address = false,
            "mac-address" => options.mac_address = false,
            "bitcoin-address" => options.bitcoin_address = false,
            "ethereum-address" => options.ethereum_address = false,
            other => panic!("unknown rule {other}"),
        }
        let off = scanner(&options);
        assert!(
            !findings(&off, &text).iter().any(|f| f.rule == rule),
            "{rule} reported while off in {text:?}"
        );
        assert!(
            !findings(&default, &text).iter().any(|f| f.rule == rule),
            "{rule} reported by default in {text:?}"
        );
    }
}

#[test]
fn keccak256_matches_the_published_vectors() {
    let hex = |b: [u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        hex(validate::keccak256(b"")),
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    );
    assert_eq!(
        hex(validate::keccak256(b"abc")),
        "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    );
    // Longer than one 136-byte block.
    let long = [b'a'; 200];
    assert_ne!(
        validate::keccak256(&long),
        validate::keccak256(&long[..199])
    );
}

/// What may leave before the mask covers the rest, as for the built-in classes
/// (`docs/architecture.md`, "What holdback costs"): up to six digits of a trailing group,
/// one letter, and up to six characters of an address whose first group is a character
/// class (hex, base58).
fn released_by_design(rule: &str, leaked: &str) -> bool {
    let b = leaked.as_bytes();
    let address = [
        "ipv6-address",
        "mac-address",
        "bitcoin-address",
        "ethereum-address",
    ];
    (b.len() <= 6 && b.iter().all(u8::is_ascii_digit))
        || (b.len() == 1 && b.iter().all(u8::is_ascii_alphabetic))
        || (address.contains(&rule) && b.len() <= 6 && b.iter().all(u8::is_ascii_alphanumeric))
}

fn check_every_split(s: &Scanner, text: &str) {
    let mut full: Vec<Finding> = Vec::new();
    s.scan(text, &mut full);
    assert!(!full.is_empty(), "nothing found in {text:?}");
    for k in (0..=text.len()).filter(|&k| text.is_char_boundary(k)) {
        let prefix = &text[..k];
        let mut partial: Vec<Finding> = Vec::new();
        s.scan(prefix, &mut partial);
        let v = s.viable_from(prefix);
        assert!(v <= k && prefix.is_char_boundary(v));
        for f in full.iter().filter(|f| f.start < k) {
            let complete =
                f.end <= k && partial.iter().any(|p| p.start <= f.start && f.end <= p.end);
            if !complete && !released_by_design(f.rule, &text[f.start..v.clamp(f.start, f.end)]) {
                panic!(
                    "split {k}: viable_from {v} > start {} of {} in {text:?}",
                    f.start, f.rule
                );
            }
        }
    }
}

#[test]
fn every_cut_of_a_value_is_held() {
    for email in [true, false] {
        let s = scanner(&DetectorOptions { email, ..all_on() });
        for (_, before, value, after) in positives() {
            check_every_split(&s, &format!("{before}{value}{after}"));
        }
    }
}

#[test]
fn a_keyword_holds_the_whole_value() {
    // After a keyword naming the class, even the first digits of a bare value wait.
    let s = scanner(&DetectorOptions {
        email: false,
        ..all_on()
    });
    for t in [
        "SIN: 628",
        "routing number 0590",
        "NPI 16320",
        "Aadhaar 5167",
    ] {
        let at = t.rfind(' ').map_or(0, |p| p + 1);
        assert_eq!(s.viable_from(t), at, "{t:?}");
    }
}

const PROSE: &str = "Since the release of version 2.4.1 last March, about 1200 teams have \
moved their builds to the new runners. The meeting at 10:30 covered the roadmap: NASA and \
the FBI were mentioned only as examples of large customers, and a total of 123456789 \
requests were logged in 2024. See std::io::Read and Vec::new in the docs, or the note on \
page 42. Nothing else was decided; we will meet again at 09:15 on Monday.\n";

#[test]
fn prose_with_every_class_on_is_neither_reported_nor_held() {
    for email in [true, false] {
        let s = scanner(&DetectorOptions { email, ..all_on() });
        let got = findings(&s, PROSE);
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(s.viable_from(PROSE), PROSE.len());
        let baseline = scanner(&DetectorOptions {
            email,
            ..DetectorOptions::default()
        });
        if !email {
            // At every cut, the classes hold no more than the trailing word, or what the
            // built-in classes hold anyway (a card's first group).
            for k in (0..=PROSE.len()).filter(|&k| PROSE.is_char_boundary(k)) {
                let prefix = &PROSE[..k];
                let word = prefix
                    .rfind(|c: char| c.is_whitespace())
                    .map_or(0, |p| p + 1);
                let v = s.viable_from(prefix);
                // A trailing group of one or two digits and a space may open a spaced NIR
                // (`1 84 07 …`) or Steuer-ID (`31 952 …`): it waits for the next text too.
                let group = prefix[v..].trim_end();
                let short_group = (1..=2).contains(&group.len())
                    && group.bytes().all(|b| b.is_ascii_digit())
                    && prefix.ends_with(' ');
                let base = baseline.viable_from(prefix);
                assert!(
                    v >= word.min(base) || short_group,
                    "cut {k}: held from {v} in {prefix:?}"
                );
            }
        }
    }
}

#[test]
fn the_classes_off_change_nothing() {
    // With every new class off the scanner is the default one: same findings, same holds.
    let default = scanner(&DetectorOptions::default());
    let text = "card 4111 1111 1111 1111, ssn 123-45-6789, SIN 628194821, 3c:22:fb:7a:1e:05 ";
    assert!(
        findings(&default, text)
            .iter()
            .all(|f| ["credit-card", "us-ssn"].contains(&f.rule))
    );
    let builtin_off = |o: DetectorOptions| DetectorOptions {
        email: false,
        credentials: false,
        phone: false,
        payment_card: false,
        us_ssn: false,
        iban: false,
        ..o
    };
    let no_email = scanner(&builtin_off(DetectorOptions::default()));
    let with_classes = scanner(&builtin_off(all_on()));
    for t in ["NI JG 31", "NIC 3c:22:fb", "Y548620"] {
        assert_eq!(no_email.viable_from(t), t.len(), "{t:?}");
        assert!(with_classes.viable_from(t) < t.len(), "{t:?}");
    }
}

#[test]
fn checksum_classes_are_validated_and_shape_classes_are_not() {
    let s = scanner(&all_on());
    let validated = |text: &str| findings(&s, text).first().map(|f| f.validated);
    assert_eq!(validated("Her number is 628 194 821."), Some(true));
    assert_eq!(validated("Prescriber BK4715770."), Some(true));
    assert_eq!(validated("PAN ABCPK0420Q."), Some(false));
    assert_eq!(validated("NI JG316462C."), Some(false));
    assert_eq!(validated(&format!("wallet 0x{ETH_HEX}.")), Some(false));
}

#[test]
fn the_policy_switches_each_class_and_keeps_old_policies_as_they_were() {
    use sluice_core::policy::Policy;
    let policy = Policy::from_text("detectors:\n  ca_sin: true\n  ethereum_address: true\n")
        .expect("policy parses");
    let options = policy.detectors.options().expect("options");
    assert!(options.ca_sin && options.ethereum_address);
    assert!(!options.uk_nino && !options.br_cpf && !options.ipv6_address);
    let off = Policy::from_text("detectors:\n  us_ssn: true\n").expect("policy parses");
    let options = off.detectors.options().expect("options");
    assert_eq!(
        options,
        DetectorOptions {
            custom: options.custom.clone(),
            ..DetectorOptions::default()
        }
    );
    assert!(Policy::from_text("detectors:\n  ca_sinn: true\n").is_err());
    // A policy that names none of them serialises as before (its digest does not move).
    let json = serde_json::to_string(&off).expect("serialises");
    for field in ["uk_nino", "ca_sin", "ethereum_address", "us_aba_routing"] {
        assert!(!json.contains(field), "{field} in {json}");
    }
    let json = serde_json::to_string(&policy).expect("serialises");
    assert!(json.contains("\"ca_sin\":true"));
}
