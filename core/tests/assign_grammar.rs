//! The shared assignment grammar: one secret bound in every syntax a prompt may carry is found
//! exactly (the finding is the value, nothing around it), and names bound to something that
//! is not a literal (a call, a path, a type, an interpolation, an environment lookup) are not.

use sluice_core::{DetectorOptions, Scanner};

/// A made-up value with the shape of an API token (mixed case and digits, 28 characters).
const SECRET: &str = "q7Hn2VxK9pLm4TzR8sWc3JdFb6Ya";

fn scanner() -> Scanner {
    Scanner::new(&DetectorOptions::default()).expect("default scanner builds")
}

/// Every finding in `text` as the text it covers.
fn found(scanner: &Scanner, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    scanner.scan(text, &mut out);
    out.iter()
        .map(|f| text.get(f.start..f.end).unwrap_or_default().to_string())
        .collect()
}

/// `{S}` marks where the secret sits.
const BOUND: &[(&str, &str)] = &[
    ("shell", "API_TOKEN={S}"),
    ("shell export", "export API_TOKEN=\"{S}\""),
    (".env", "API_TOKEN='{S}'\n"),
    ("ini", "[auth]\napi_token = {S}\n"),
    ("toml", "[service]\napi_token = \"{S}\"\n"),
    ("yaml", "service:\n  api_token: {S}\n"),
    ("yaml quoted", "service:\n  api_token: \"{S}\"\n"),
    ("yaml block scalar", "service:\n  api_token: |\n    {S}\n"),
    ("yaml folded scalar", "api_token: >-\n  {S}\n"),
    ("json", "{\"api_token\": \"{S}\"}"),
    (
        "json escaped in a string",
        "{\"body\": \"{\\\"api_token\\\": \\\"{S}\\\"}\"}",
    ),
    ("hcl", "resource \"x\" \"y\" {\n  api_token = \"{S}\"\n}"),
    ("dockerfile env", "ENV API_TOKEN={S}"),
    ("dockerfile legacy env", "FROM alpine\nENV API_TOKEN {S}\n"),
    ("dockerfile legacy env quoted", "  ENV API_TOKEN \"{S}\"\n"),
    ("dockerfile arg", "ARG API_TOKEN=\"{S}\""),
    ("makefile ?=", "API_TOKEN ?= {S}"),
    ("makefile ::=", "API_TOKEN ::= {S}"),
    ("makefile :::=", "API_TOKEN :::= {S}"),
    ("comparison", "if (apiToken != \"{S}\") {"),
    ("makefile +=", "API_TOKEN += {S}"),
    ("php .=", "$apiToken .= '{S}';"),
    ("php array", "$config = ['api_token' => '{S}'];"),
    ("ruby hash", "config = { api_token: \"{S}\" }"),
    ("ruby symbol arrow", "{ :api_token => '{S}' }"),
    ("python", "API_TOKEN = \"{S}\""),
    ("python kwarg", "client = Client(api_token='{S}')"),
    ("python environ", "os.environ[\"API_TOKEN\"] = \"{S}\""),
    ("javascript", "const apiToken = '{S}';"),
    ("javascript object", "const cfg = { apiToken: `{S}` };"),
    ("typescript typed", "const apiToken: string = \"{S}\";"),
    ("go short", "apiToken := \"{S}\""),
    ("go raw string", "apiToken := `{S}`"),
    ("go typed var", "var apiToken string = \"{S}\""),
    ("go setenv", "os.Setenv(\"API_TOKEN\", \"{S}\")"),
    ("kotlin typed", "val apiToken: String = \"{S}\""),
    ("rust typed", "let api_token: &str = \"{S}\";"),
    ("rust static", "static API_TOKEN: &'static str = \"{S}\";"),
    ("java", "private static final String API_TOKEN = \"{S}\";"),
    (
        "java setProperty",
        "System.setProperty(\"API_TOKEN\", \"{S}\");",
    ),
    ("java setter", "client.setApiToken(\"{S}\");"),
    ("csharp", "public const string ApiToken = \"{S}\";"),
    ("csharp verbatim", "var apiToken = @\"{S}\";"),
    ("tuple", "pairs = [(\"api_token\", \"{S}\")]"),
    ("r", "api_token <- \"{S}\""),
    ("xml element", "<apiToken>{S}</apiToken>"),
    (
        "xml element on its own line",
        "<config>\n  <apiToken>\n    {S}\n  </apiToken>\n</config>",
    ),
    ("xml attribute", "<service apiToken=\"{S}\" />"),
    (".net appSettings", "<add key=\"ApiToken\" value=\"{S}\" />"),
    ("cli flag =", "mytool --api-token={S} --verbose"),
    ("cli flag space", "mytool --api-token {S} --verbose"),
    ("cli flag quoted", "mytool --api-token \"{S}\""),
    ("properties", "service.api.token={S}"),
    ("connection string", "Server=db;User Id=app;Password={S};"),
];

#[test]
fn one_secret_in_every_syntax_is_found_exactly() {
    let scanner = scanner();
    let mut missed = Vec::new();
    for (syntax, template) in BOUND {
        let text = template.replace("{S}", SECRET);
        let got = found(&scanner, &text);
        if got != [SECRET] {
            missed.push(format!("{syntax}: {text:?} -> {got:?}"));
        }
    }
    assert!(
        missed.is_empty(),
        "not found exactly:\n{}",
        missed.join("\n")
    );
}

/// Names bound to something other than a literal value.
const NOT_BOUND: &[(&str, &str)] = &[
    (
        "rust path through a keyword",
        "- `User::gecos` and corresponding `libc::passwd::pw_gecos` are supported on",
    ),
    (
        "struct field set from a function name",
        "    check_private_key_bytes: x25519_check_private_key_bytes,",
    ),
    (
        "parameter typed by a type name",
        "    my_private_key: EphemeralPrivateKey,",
    ),
    (
        "constant with algorithm numbers",
        "let traffic_secret_expander = TLS13_CHACHA20_POLY1305_SHA256_INTERNAL\n    .derive();",
    ),
    (
        "rust turbofish path",
        "let mut pwd = mem::MaybeUninit::<libc::passwd>::uninit();",
    ),
    (
        "hex constant",
        "pub const STATUS_PWD_TOO_LONG: NTSTATUS = 0xC000027Au32 as _;",
    ),
    (
        "typed integer constant",
        "pub const X_PASSWORD_Y: i32 = -2147221113i32;",
    ),
    (
        "c hex constant",
        "#define ERROR_INVALID_PASSWORD_NAME 0x0000052B\nstatic const DWORD kPasswordFlags = 0x80310027;",
    ),
    (
        "integer constant ending a statement",
        "pub const LOGON_ZERO_PASSWORD_BUFFER: u32 = 2147483648;",
    ),
    ("legacy env from a variable", "ENV API_TOKEN $BUILD_TOKEN\n"),
    (
        "prose after env",
        "Set the ENV variable api_token first, then run it.\n",
    ),
    (
        "rust field type",
        "pub struct S { pub token_stream: __IncompleteArrayField<__u8>, }",
    ),
    (
        "rust path type",
        "pub struct S { pub password: ::core::option::Option<String> }",
    ),
    ("method call chain", "pw_passwd: u.passwd.into_raw(),"),
    (
        "intrinsic call",
        "let secret_0 = _mm_loadu_si128(ptr as *const __m128i);",
    ),
    (
        "call chain",
        "let token = req.cancellation_handle().into_token();",
    ),
    (
        "shell interpolation",
        "API_TOKEN=\"${API_TOKEN_FROM_VAULT_SERVICE}\"",
    ),
    ("shell variable", "API_TOKEN=$API_TOKEN_FROM_VAULT_SERVICE"),
    (
        "helm template",
        "api_token: {{ .Values.apiTokenFromTheVaultService }}",
    ),
    (
        "javascript template",
        "const apiToken = `${process.env.API_TOKEN_FROM_VAULT}`;",
    ),
    (
        "environment lookup",
        "api_token = os.getenv(\"API_TOKEN_FROM_THE_VAULT\")",
    ),
    (
        "go environment lookup",
        "var apiToken string = os.Getenv(\"API_TOKEN_FROM_THE_VAULT\")",
    ),
    (
        "getter, not a setter",
        "client.getApiToken(\"q7Hn2VxK9pLm4TzR8sWc3JdFb6Ya\")",
    ),
    (
        "comparison in prose",
        "the tokens>q7Hn2VxK9pLm4TzR8sWc3JdFb6Ya",
    ),
    (
        "prose",
        "Rotate the api token every ninety days, as the runbook says.",
    ),
    (
        "prose flag-like",
        "pass the token q7Hn2VxK9pLm4TzR8sWc3JdFb6Ya to nobody",
    ),
    (
        "generic type argument",
        "let tokens: Vec<TokenWithLocationAndSpan> = lexer.collect();",
    ),
    ("c pointer field", "pub pw_passwd: *const c_char,"),
    (
        "constant expression",
        "pub const B_MAIL_WRONG_PASSWORD: status_t = B_MAIL_ERROR_BASE + 2;",
    ),
    (
        "sum",
        "pub const SYS_memfd_secret: c_long = __X32_SYSCALL_BIT + 447;",
    ),
    (
        "constant reference",
        "next_tokens_state: ATNSTATE_INVALID_STATE_NUMBER,",
    ),
    (
        "member access",
        "self.secret_key_material = other.secret_key_material_copy",
    ),
];

#[test]
fn names_bound_to_references_are_not_secrets() {
    let scanner = scanner();
    let mut flagged = Vec::new();
    for (syntax, text) in NOT_BOUND {
        let got = found(&scanner, text);
        if !got.is_empty() {
            flagged.push(format!("{syntax}: {text:?} -> {got:?}"));
        }
    }
    assert!(flagged.is_empty(), "flagged:\n{}", flagged.join("\n"));
}

/// A stream cut anywhere inside the binding still masks the value: the holdback automata are
/// cut from the same grammar, so they hold whatever the scanner could still report.
#[test]
fn every_syntax_holds_its_value_until_it_is_complete() {
    let scanner = scanner();
    let mut leaked = Vec::new();
    for (syntax, template) in BOUND {
        let text = template.replace("{S}", SECRET);
        let Some(at) = text.find(SECRET) else {
            continue;
        };
        // Every cut inside the secret: what may be released must stop before the secret.
        for cut in at + 1..at + SECRET.len() {
            let Some(prefix) = text.get(..cut) else {
                continue;
            };
            let hold = scanner.hold(prefix);
            if hold.release > at {
                leaked.push(format!(
                    "{syntax}: cut at {cut} released to {}",
                    hold.release
                ));
                break;
            }
        }
    }
    assert!(leaked.is_empty(), "released early:\n{}", leaked.join("\n"));
}
