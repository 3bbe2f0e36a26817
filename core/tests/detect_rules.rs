//! One positive and one negative example per catalogue rule id, and per PII family.
//!
//! Examples are templates expanded with a seeded generator at run time (`{A36}` = 36 random
//! alphanumerics), so no credential-shaped literal sits in the source.

use std::collections::BTreeSet;

use base64::Engine as _;
use sluice_core::detect::RULES;
use sluice_core::{DetectorOptions, Finding, Scanner};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick(&mut self, alphabet: &[u8]) -> char {
        alphabet[(self.next() % alphabet.len() as u64) as usize] as char
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `prefix_` + 30 random characters + their CRC32 in six base62 digits.
fn crc_token(rng: &mut Rng) -> String {
    let payload: String = (0..30).map(|_| rng.pick(ALNUM)).collect();
    let mut n = crc32fast::hash(payload.as_bytes());
    let mut check = [b'0'; 6];
    for slot in check.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    format!("{payload}{}", String::from_utf8_lossy(&check))
}

fn b64url(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// Expands `{Xn}` placeholders: A alnum, a lower alnum, h hex, U upper alnum, L letters,
/// b base64, t `[A-Za-z0-9_-]`, d digits, B bech32 upper; `{CRC}` a checksummed token body,
/// `{JWT}` / `{JWTNOALG}` a token with / without `alg` in its header.
fn expand(template: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .expect("closed placeholder");
        let spec = &rest[open + 1..close];
        rest = &rest[close + 1..];
        match spec {
            "CRC" => out.push_str(&crc_token(rng)),
            "JWT" | "JWTNOALG" => {
                let header = if spec == "JWT" {
                    r#"{"alg":"HS256","typ":"JWT"}"#
                } else {
                    r#"{"typ":"JWT"}"#
                };
                let sig: String = (0..43).map(|_| rng.pick(ALNUM)).collect();
                out.push_str(&format!(
                    "{}.{}.{sig}",
                    b64url(header),
                    b64url(r#"{"sub":"1234","iat":1700000000}"#)
                ));
            }
            _ => {
                let (class, n) = spec.split_at(1);
                let n: usize = n.parse().expect("count");
                let alphabet: &[u8] = match class {
                    "A" => ALNUM,
                    "a" => b"abcdefghijklmnopqrstuvwxyz0123456789",
                    "h" => b"0123456789abcdef",
                    "U" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                    "L" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                    "b" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                    "t" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
                    "d" => b"0123456789",
                    "B" => b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
                    other => panic!("unknown class {other}"),
                };
                out.extend((0..n).map(|_| rng.pick(alphabet)));
            }
        }
    }
    out.push_str(rest);
    out
}

/// (rule id, positive templates, negative template). The positive must yield a finding of
/// that id covering the generated value; the negative must yield none of that id.
const CASES: &[(&str, &[&str], &str)] = &[
    (
        "aws-access-key-id",
        &["key AKIA{U16} here"],
        "key AKIA{U12} here",
    ),
    (
        "aws-secret-access-key",
        &["aws_secret_access_key = {b40}\n", "value {A40}, status"],
        "aws_secret_access_key = {b20}",
    ),
    (
        "aws-session-token",
        &["AWS_SESSION_TOKEN={b120}"],
        "AWS_SESSION_TOKEN={b30}",
    ),
    (
        "gcp-service-account-key-id",
        &[r#""private_key_id": "{h40}","#],
        r#""private_key_id": "{h20}","#,
    ),
    ("google-api-key", &["key=AIza{t35}"], "key=AIza{t20}"),
    (
        "google-oauth-client-secret",
        &["GOCSPX-{t28}"],
        "GOCSPX-{t10}",
    ),
    ("google-oauth-access-token", &["ya29.{t60}"], "ya29.{t10}"),
    (
        "azure-storage-key",
        &["AccountName=acct;AccountKey={b86}==;EndpointSuffix=core.windows.net"],
        "AccountKey={b20}==",
    ),
    (
        "azure-sas-token",
        &["https://a.blob.core.windows.net/c?sv=2022-11-02&ss=b&sig={b43}%3D"],
        "?sv=2022-11-02&sig=short",
    ),
    (
        "azure-ad-client-secret",
        &["secret {a3}8Q~{A34} end"],
        "abc8Q~short",
    ),
    (
        "azure-openai-key",
        &["AZURE_OPENAI_API_KEY={h32}"],
        "AZURE_OPENAI_ENDPOINT=https://x.openai.azure.com",
    ),
    ("alibaba-access-key-id", &["LTAI{A20}"], "LTAI{A8}"),
    (
        "cloudflare-api-token",
        &["CLOUDFLARE_API_TOKEN={t40}"],
        "CLOUDFLARE_ZONE=example.com",
    ),
    ("github-pat", &["token ghp_{CRC}", "ghs_{CRC}"], "ghp_{A36}"),
    (
        "github-fine-grained-pat",
        &["github_pat_{A22}_{A59}"],
        "github_pat_{A22}",
    ),
    ("gitlab-pat", &["glpat-{A20}"], "glpat-{A8}"),
    (
        "gitlab-pipeline-trigger-token",
        &["glptt-{h40}"],
        "glptt-{h10}",
    ),
    ("gitlab-runner-token", &["glrt-{A24}"], "glrt-{A5}"),
    ("gitlab-deploy-token", &["gldt-{A24}"], "gldt-{A5}"),
    ("bitbucket-app-password", &["ATBB{A32}"], "ATBB{A5}"),
    ("sourcegraph-token", &["sgp_{h40}"], "sgp_{h8}"),
    (
        "stripe-secret-key",
        &["sk_live_{A24}", "rk_live_{A99}"],
        "sk_live_{A10}",
    ),
    ("stripe-webhook-secret", &["whsec_{A32}"], "whsec_{A8}"),
    ("square-access-token", &["EAAA{A60}"], "EAAA{A10}"),
    ("square-oauth-secret", &["sq0csp-{A43}"], "sq0csp-{A5}"),
    (
        "braintree-access-token",
        &["access_token$production${a16}${h32}"],
        "access_token$production$abc",
    ),
    (
        "shippo-api-token",
        &["shippo_live_{h40}"],
        "shippo_live_{h10}",
    ),
    ("slack-token", &["xoxb-{d12}-{d13}-{A24}"], "xoxb-123"),
    (
        "slack-app-token",
        &["xapp-1-{U11}-{d13}-{h64}"],
        "xapp-1-ABC",
    ),
    (
        "slack-webhook",
        &["https://hooks.slack.com/services/T{U8}/B{U10}/{A24}"],
        "https://hooks.slack.com/services/",
    ),
    (
        "telegram-bot-token",
        &["bot {d10}:AA{A33} ok"],
        "{d10}:AA{A10}",
    ),
    (
        "discord-webhook",
        &["https://discord.com/api/webhooks/{d18}/{A68}"],
        "https://discord.com/api/webhooks/123/abc",
    ),
    (
        "discord-bot-token",
        &["DISCORD_BOT_TOKEN=M{A23}.{A6}.{A27}"],
        "DISCORD_BOT_TOKEN=placeholder",
    ),
    (
        "microsoft-teams-webhook",
        &[
            "https://acme.webhook.office.com/webhookb2/{h8}-{h4}-{h4}-{h4}-{h12}@{h8}-{h4}/IncomingWebhook/{h32}/{h8}",
        ],
        "https://acme.webhook.office.com/webhookb2/short",
    ),
    (
        "anthropic-api-key",
        &["sk-ant-api03-{A93}AA"],
        "sk-ant-api03-{A10}",
    ),
    (
        "openai-api-key",
        &["sk-{A20}T3BlbkFJ{A20}", "sk-proj-{A60}", "sk-{A48}"],
        "OPENAI_API_KEY=sk-... (replace with yours)",
    ),
    ("openrouter-api-key", &["sk-or-v1-{h64}"], "sk-or-v1-{h10}"),
    (
        "langfuse-secret-key",
        &["sk-lf-{h8}-{h4}-{h4}-{h4}-{h12}"],
        "sk-lf-{h8}",
    ),
    ("huggingface-token", &["hf_{L34}"], "hf_{L10}"),
    ("huggingface-org-token", &["api_org_{L34}"], "api_org_{L5}"),
    ("groq-api-key", &["gsk_{A52}"], "gsk_{A10}"),
    ("replicate-api-token", &["r8_{A37}"], "r8_{A5}"),
    ("perplexity-api-key", &["pplx-{A48}"], "pplx-{A8}"),
    ("xai-api-key", &["xai-{A80}"], "xai-{A8}"),
    (
        "langsmith-api-key",
        &["lsv2_pt_{h32}_{h10}"],
        "lsv2_pt_{h8}",
    ),
    ("pinecone-api-key", &["pcsk_{A60}"], "pcsk_{A8}"),
    ("tavily-api-key", &["tvly-{A32}"], "tvly-{A8}"),
    (
        "cohere-api-key",
        &["COHERE_API_KEY={A40}"],
        "COHERE_API_KEY={A10}",
    ),
    (
        "mistral-api-key",
        &["MISTRAL_API_KEY={A32}"],
        "MISTRAL_API_KEY={A8}",
    ),
    (
        "deepseek-api-key",
        &["DEEPSEEK_API_KEY=sk-{h32}"],
        "DEEPSEEK_API_KEY=sk-{h8}",
    ),
    (
        "together-api-key",
        &["TOGETHER_API_KEY={h64}"],
        "TOGETHER_API_KEY={h8}",
    ),
    (
        "elevenlabs-api-key",
        &["ELEVENLABS_API_KEY=sk_{h48}"],
        "ELEVENLABS_API_KEY=none",
    ),
    (
        "npm-token",
        &["//registry.npmjs.org/:_authToken=npm_{CRC}"],
        "npm_{A36}",
    ),
    (
        "pypi-token",
        &["pypi-AgEIcHlwaS5vcmc{A70}"],
        "pypi-AgEIcHlwaS5vcmc{A10}",
    ),
    ("rubygems-api-key", &["rubygems_{h48}"], "rubygems_{h8}"),
    ("dockerhub-pat", &["dckr_pat_{A27}"], "dckr_pat_{A8}"),
    ("nuget-api-key", &["oy2{a43}"], "oy2{a8}"),
    ("crates-io-token", &["cio{A32}"], "cio{A8}"),
    ("clojars-token", &["CLOJARS_{a60}"], "CLOJARS_{a8}"),
    ("sendgrid-api-key", &["SG.{A22}.{A43}"], "SG.{A5}.{A5}"),
    ("twilio-api-key", &["SK{h32}"], "SK{h10}"),
    (
        "twilio-account-sid",
        &["TWILIO_ACCOUNT_SID=AC{h32}"],
        "TWILIO_ACCOUNT_SID=AC{h8}",
    ),
    (
        "twilio-auth-token",
        &["TWILIO_AUTH_TOKEN={h32}"],
        "TWILIO_AUTH_TOKEN={h8}",
    ),
    (
        "shopify-token",
        &["shpat_{h32}", "shpss_{h32}"],
        "shpat_{h8}",
    ),
    ("digitalocean-token", &["dop_v1_{h64}"], "dop_v1_{h8}"),
    ("databricks-token", &["dapi{h32}"], "dapi{h8}"),
    ("mailgun-api-key", &["key-{h32}"], "a key-value store"),
    ("mailchimp-api-key", &["{h32}-us12"], "{h8}-us12"),
    ("datadog-api-key", &["DD_API_KEY={h32}"], "DD_API_KEY={h8}"),
    (
        "atlassian-api-token",
        &["ATATT3{A190}", "JIRA_API_TOKEN={A24}"],
        "JIRA_API_TOKEN={A8}",
    ),
    ("linear-api-key", &["lin_api_{A40}"], "lin_api_{A8}"),
    (
        "notion-token",
        &["ntn_{A46}", "secret_{A43}"],
        "secret_{A8}",
    ),
    ("postman-api-key", &["PMAK-{h24}-{h34}"], "PMAK-{h8}"),
    (
        "heroku-api-key",
        &["HRKU-{A60}", "HEROKU_API_KEY={h8}-{h4}-{h4}-{h4}-{h12}"],
        "HRKU-{A8}",
    ),
    ("vault-token", &["hvs.{A90}"], "hvs.{A8}"),
    ("doppler-token", &["dp.pt.{A43}"], "dp.pt.{A8}"),
    (
        "grafana-service-account-token",
        &["glsa_{A32}_{h8}"],
        "glsa_{A8}",
    ),
    ("grafana-cloud-token", &["glc_{A80}"], "glc_{A8}"),
    ("new-relic-api-key", &["NRAK-{U27}"], "NRAK-{U5}"),
    ("sentry-token", &["sntryu_{h64}"], "sntryu_{h8}"),
    ("pulumi-access-token", &["pul-{h40}"], "pul-{h8}"),
    (
        "terraform-cloud-token",
        &["{A14}.atlasv1.{A67}"],
        "{A14}.atlasv1.{A5}",
    ),
    ("flyio-access-token", &["fo1_{A43}"], "fo1_{A8}"),
    (
        "okta-api-token",
        &["OKTA_API_TOKEN=00{A40}"],
        "OKTA_API_TOKEN=00{A8}",
    ),
    ("supabase-access-token", &["sbp_{h40}"], "sbp_{h8}"),
    (
        "planetscale-token",
        &["pscale_tkn_{A43}"],
        "pscale_tkn_{A8}",
    ),
    ("figma-pat", &["figd_{A40}"], "figd_{A8}"),
    ("airtable-pat", &["pat{A14}.{h64}"], "pat{A14}.{h8}"),
    ("prefect-api-key", &["pnu_{A36}"], "pnu_{A8}"),
    ("render-api-key", &["rnd_{A32}"], "rnd_{A8}"),
    (
        "mapbox-secret-token",
        &["sk.eyJ{A60}.{A22}"],
        "sk.eyJ{A8}.{A8}",
    ),
    ("facebook-access-token", &["EAAG{A120}"], "EAAG{A8}"),
    ("firecrawl-api-key", &["fc-{h32}"], "fc-{h8}"),
    (
        "algolia-admin-key",
        &["ALGOLIA_ADMIN_KEY={h32}"],
        "ALGOLIA_APP_ID=ABC",
    ),
    (
        "snyk-api-token",
        &["SNYK_TOKEN={h8}-{h4}-{h4}-{h4}-{h12}"],
        "SNYK_TOKEN=none",
    ),
    (
        "private-key",
        &[
            "-----BEGIN RSA PRIVATE KEY-----\n{b64}\n{b64}\n{b20}==\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN OPENSSH PRIVATE KEY-----\\n{b64}\\n{b64}\\n-----END OPENSSH PRIVATE KEY-----",
        ],
        "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
    ),
    (
        "putty-private-key",
        &[
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: k\nPublic-Lines: 2\n{b64}\n{b20}\nPrivate-Lines: 1\n{b44}\n",
        ],
        "PuTTY-User-Key-File-3 is a format",
    ),
    (
        "age-secret-key",
        &["AGE-SECRET-KEY-1{B58}"],
        "AGE-SECRET-KEY-1{B10}",
    ),
    ("jwt", &["Bearer {JWT}"], "{JWTNOALG}"),
    (
        "postgres-uri-password",
        &["postgres://app:{A16}@db.internal:5432/prod"],
        "postgres://app@db.internal/prod",
    ),
    (
        "mysql-uri-password",
        &["mysql://root:{A16}@db:3306/x"],
        "mysql://root:password@localhost/x",
    ),
    (
        "mongodb-uri-password",
        &["mongodb+srv://u:{A16}@c0.mongodb.net/db"],
        "mongodb://localhost:27017/db",
    ),
    (
        "redis-uri-password",
        &["redis://:{A16}@cache:6379/0"],
        "redis://cache:6379/0",
    ),
    (
        "amqp-uri-password",
        &["amqp://svc:{A16}@mq:5672/"],
        "amqp://guest:guest@mq:5672/",
    ),
    (
        "uri-password",
        &["https://deploy:{A16}@git.example.org/repo.git"],
        "https://git.example.org/repo.git",
    ),
    (
        "authorization-bearer",
        &["-H 'Authorization: Bearer {A40}'"],
        "Authorization: Bearer <token>",
    ),
    (
        "authorization-basic",
        &["Authorization: Basic {b24}\n"],
        "Authorization: Basic",
    ),
    (
        "generic-password",
        &["db_password = {A12}!x\n"],
        "password: string",
    ),
    (
        "generic-api-key",
        &["api_key: {A32}\n"],
        "api_key: os.environ['API_KEY']",
    ),
    (
        "generic-secret",
        &["webhook_secret: {A24}\n"],
        "secret: changeme",
    ),
    (
        "generic-token",
        &["auth_token = {A32}\n"],
        "max_tokens: 1024",
    ),
    // PII families.
    (
        "email",
        &["write to jane.doe+tag@mail.example.org today"],
        "see package@1.2.3 and user@localhost",
    ),
    (
        "phone",
        &[
            "call +1 415 555 0134 now",
            "call (212) 555-0199",
            "ruf +49 30 1234567 an",
            "ring 020 7946 0958",
        ],
        "Version 1.2.3-rc.4 was released on 2026-01-15 with build 20260115.7.",
    ),
    (
        "credit-card",
        &["card 4111 1111 1111 1111 exp", "card 5500-0000-0000-0004"],
        "Order number 4111111111111112 shipped",
    ),
    (
        "us-ssn",
        &["ssn 123-45-6789."],
        "The SSN field must look like 000-00-0000 and never 666-12-3456.",
    ),
    (
        "iban",
        &[
            "IBAN GB82 WEST 1234 5698 7654 32 ok",
            "DE89370400440532013000",
        ],
        "DE89370400440532013001",
    ),
];

fn findings(scanner: &Scanner, text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    scanner.scan(text, &mut out);
    out
}

#[test]
fn every_catalogue_rule_has_examples() {
    // Every rule carries its own examples in the catalogue (`rule_examples.rs` runs them);
    // the cases here are a second, independent set for the rules they name, and must not
    // name a rule that does not exist.
    let covered: BTreeSet<&str> = CASES.iter().map(|c| c.0).collect();
    let ids: BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
    let pii = [
        "email",
        "phone",
        "credit-card",
        "us-ssn",
        "iban",
        "ip-address",
    ];
    let unknown: Vec<_> = covered
        .iter()
        .filter(|c| !ids.contains(*c) && !pii.contains(*c))
        .collect();
    assert!(
        unknown.is_empty(),
        "cases for rules that do not exist: {unknown:?}"
    );
    assert!(RULES.len() >= 80, "catalogue has {} rules", RULES.len());
    println!(
        "catalogue: {} rules, {} distinct ids",
        RULES.len(),
        ids.len()
    );
}

#[test]
fn positives_found_under_their_rule_id() {
    let scanner = Scanner::new(&DetectorOptions::default()).expect("scanner builds");
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut failures = Vec::new();
    for (id, positives, _) in CASES {
        for template in *positives {
            // Several draws per template, so a lucky string does not hide a broken rule.
            for _ in 0..4 {
                let text = expand(template, &mut rng);
                let found = findings(&scanner, &text);
                if !found.iter().any(|f| f.rule == *id) {
                    failures.push(format!(
                        "{id}: {template} -> {:?}",
                        found.iter().map(|f| f.rule).collect::<Vec<_>>()
                    ));
                    break;
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "positives missed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn negatives_not_reported_under_their_rule_id() {
    let scanner = Scanner::new(&DetectorOptions::default()).expect("scanner builds");
    let mut rng = Rng(0x5EED_1234_ABCD_0002);
    let mut failures = Vec::new();
    for (id, _, negative) in CASES {
        for _ in 0..4 {
            let text = expand(negative, &mut rng);
            let found = findings(&scanner, &text);
            if found.iter().any(|f| f.rule == *id) {
                failures.push(format!("{id}: {negative}"));
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "negatives flagged:\n{}",
        failures.join("\n")
    );
}

#[test]
fn finding_span_is_the_secret_not_the_keyword() {
    let scanner = Scanner::new(&DetectorOptions::default()).expect("scanner builds");
    let mut rng = Rng(9);
    let text = expand("export DB_PASSWORD={A20}\n", &mut rng);
    let found = findings(&scanner, &text);
    let f = found
        .iter()
        .find(|f| f.rule == "generic-password")
        .expect("password found");
    assert_eq!(
        &text[f.start..f.end],
        text.trim_end().split('=').nth(1).unwrap_or("")
    );
    let text = expand("postgres://app:{A16}@db:5432/x", &mut rng);
    let found = findings(&scanner, &text);
    let f = found
        .iter()
        .find(|f| f.rule == "postgres-uri-password")
        .expect("uri found");
    assert_eq!(f.start, "postgres://app:".len());
    assert_eq!(f.end, f.start + 16);
}

#[test]
fn families_honour_their_options() {
    let text = "mail jane@example.org, call +1 415 555 0134, card 4111 1111 1111 1111, \
                ssn 123-45-6789, iban DE89370400440532013000, host 10.0.0.1, key AKIAIX6EA6QOM66ZJOJY";
    let all = Scanner::new(&DetectorOptions {
        ip_address: true,
        ..Default::default()
    })
    .expect("builds");
    let rules: BTreeSet<&str> = findings(&all, text).iter().map(|f| f.rule).collect();
    for id in [
        "email",
        "phone",
        "credit-card",
        "us-ssn",
        "iban",
        "ip-address",
        "aws-access-key-id",
    ] {
        assert!(rules.contains(id), "{id} missing from {rules:?}");
    }
    let none = Scanner::new(&DetectorOptions {
        credentials: false,
        email: false,
        phone: false,
        payment_card: false,
        us_ssn: false,
        iban: false,
        ip_address: false,
        decoders: false,
        decode_depth: 0,
        custom: Vec::new(),
        ..DetectorOptions::default()
    })
    .expect("builds");
    assert!(findings(&none, text).is_empty());
    let default = Scanner::new(&DetectorOptions::default()).expect("builds");
    assert!(
        !findings(&default, text)
            .iter()
            .any(|f| f.rule == "ip-address"),
        "ip off by default"
    );
    let no_email = Scanner::new(&DetectorOptions {
        email: false,
        ..Default::default()
    })
    .expect("builds");
    assert!(!findings(&no_email, text).iter().any(|f| f.rule == "email"));
}

#[test]
fn findings_sorted_and_on_char_boundaries() {
    let scanner = Scanner::new(&DetectorOptions::default()).expect("builds");
    let text = "ünïcødé ✓ jane@example.org — key AKIAIX6EA6QOM66ZJOJY and 123-45-6789 €";
    let found = findings(&scanner, text);
    assert!(found.len() >= 2);
    assert!(found.windows(2).all(|w| w[0].start <= w[1].start));
    for f in &found {
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
    }
}

#[test]
fn a_bare_card_number_in_code_needs_a_card_keyword_a_grouped_one_does_not() {
    let scanner = Scanner::new(&DetectorOptions::default()).unwrap();
    // 4111111111111111 and 6011611555677333 pass Luhn.
    let cards = [
        "card_number = 4111111111111111",
        "\"cardNumber\": \"4111111111111111\"",
        "pay with visa 4111111111111111 please",
        "Bearer 6011611555677333 was rejected",
        "{\"n\": 4111111111111111}",
        "const TABLE: [u64; 2] = [4111 1111 1111 1111, 0];",
        // Data rows: a field before the number is not a list of numbers.
        "John,Smith,4111111111111111,12/27",
        "\"John\",\"Smith\",4111111111111111,\"12/27\"",
        "name,number\nJohn Smith,6011611555677333\n",
    ];
    for text in cards {
        assert!(
            findings(&scanner, text)
                .iter()
                .any(|f| f.rule == "credit-card"),
            "no card in {text:?}"
        );
    }
    let literals = [
        "const K: [u64; 4] = [0x1f, 4111111111111111, 7];",
        "let seed = 4111111111111111u64;",
        "    4111111111111111,\n",
        "assert_eq!(hash(x), 4111111111111111);",
        "table 123456789 4111111111111111",
        "fn f(a: u64) { g(4111111111111111) }",
        "let xs = [1, 2, 4111111111111111];",
        "mix(a.len(), 4111111111111111)",
    ];
    for text in literals {
        assert!(
            !findings(&scanner, text)
                .iter()
                .any(|f| f.rule == "credit-card"),
            "integer literal reported as a card in {text:?}"
        );
    }
}
