//! The credential catalogue: one row per rule, read top to bottom like a table.
//!
//! Columns:
//! - `id`: the rule id reported in findings (the corpus type name where one exists).
//! - `trigger`: what must be present before the regex runs at all (the literal gate):
//!   - `Token(&[..])`: a case-sensitive literal that is part of the token itself; searched only
//!     inside runs of token characters at least 16 bytes long, so prose costs nothing.
//!   - `Assignment(&[..])`: an ASCII case-insensitive keyword inside the identifier left of an
//!     `=` / `:` / `=>` / `:=`. The `pattern` column then describes only the value; the
//!     identifier-and-operator prefix is added when the rule is compiled.
//!   - `Anywhere(&[..])`: a case-sensitive literal searched over the whole text (multi-line
//!     secrets such as PEM blocks).
//! - `pattern`: the regex (ASCII semantics, `\b` is an ASCII word boundary). Group `group` is
//!   the secret, which becomes the finding span.
//! - `check`: the issuer's validator run on the secret, if any.
//! - `min_entropy`: Shannon entropy floor (bits per byte) for the secret; 0 disables.
//! - `generic`: a low-specificity rule that yields to any specific finding it overlaps.
//!
//! Every credential rule also passes the placeholder filter (`xxxx`, `EXAMPLE`, `<your-key>`,
//! repeated or sequential characters, ...) unless its `check` is a checksum.

use crate::finding::Category;

/// What must be present before a rule's regex runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Token(&'static [&'static str]),
    Assignment(&'static [&'static str]),
    Anywhere(&'static [&'static str]),
    /// A policy's custom detector: an ASCII case-insensitive keyword anywhere in the text, then
    /// the regex over the whole text.
    Keywords(&'static [&'static str]),
    /// A policy's custom detector without keywords: the regex (with its own literal
    /// prefilter) over the whole text.
    Always,
}

/// Issuer-defined validation run on the secret after the regex matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    None,
    /// Last 6 base62 characters are the CRC32 of the 30-character payload (GitHub, npm).
    Crc32Base62,
    /// Three base64url parts, the first a JSON object with an `alg` member.
    Jwt,
    /// Bech32 checksum (age secret keys). Not required: it marks the finding validated.
    Bech32,
    /// A PEM block whose body holds real base64, not `...`.
    PemBody,
    /// The Luhn check digit over the value's digits (card numbers, IMEIs, many account ids).
    Luhn,
    /// ISO 7064 mod-97 over the value's letters and digits, as IBANs use it.
    Mod97,
}

impl Check {
    /// Checksums prove the value is issued, so the placeholder filter is skipped.
    pub fn is_checksum(self) -> bool {
        matches!(self, Check::Crc32Base62 | Check::Bech32)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    pub id: &'static str,
    pub category: Category,
    pub trigger: Trigger,
    pub pattern: &'static str,
    pub group: usize,
    pub check: Check,
    pub min_entropy: f32,
    pub generic: bool,
}

use Check as C;
use Trigger::{Anywhere, Assignment, Token};

const fn r(
    id: &'static str,
    trigger: Trigger,
    pattern: &'static str,
    check: Check,
    min_entropy: f32,
) -> Rule {
    Rule {
        id,
        category: Category::Credential,
        trigger,
        pattern,
        group: 1,
        check,
        min_entropy,
        generic: false,
    }
}

const fn generic(
    id: &'static str,
    trigger: Trigger,
    pattern: &'static str,
    min_entropy: f32,
) -> Rule {
    Rule {
        id,
        category: Category::Credential,
        trigger,
        pattern,
        group: 1,
        check: Check::None,
        min_entropy,
        generic: true,
    }
}

/// Value that ends at a character which cannot continue a base64 secret.
macro_rules! b64end {
    () => {
        r"(?:[^A-Za-z0-9+/=]|$)"
    };
}
/// Value that ends at a character which cannot continue a `[A-Za-z0-9_-]` token.
macro_rules! tokend {
    () => {
        r"(?:[^A-Za-z0-9_-]|$)"
    };
}

/// The credential catalogue. Order matters only for ties: on an identical span the earlier
/// rule wins.
#[rustfmt::skip]
pub static RULES: &[Rule] = &[
    // ---- cloud --------------------------------------------------------------------------
    r("aws-access-key-id", Token(&["AKIA", "ASIA", "ABIA", "ACCA", "A3T", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA"]),
        r"\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16})\b", C::None, 3.0),
    r("aws-secret-access-key", Assignment(&["aws_secret", "aws-secret", "awssecret", "secret_access_key", "secretaccesskey", "secret-access-key"]),
        concat!(r"([A-Za-z0-9/+]{40})", b64end!()), C::None, 3.5),
    r("aws-session-token", Assignment(&["aws_session_token", "aws-session-token", "sessiontoken"]),
        concat!(r"([A-Za-z0-9/+=]{100,})", b64end!()), C::None, 4.0),
    r("gcp-service-account-key-id", Assignment(&["private_key_id"]), r"([a-f0-9]{40})\b", C::None, 3.0),
    r("google-api-key", Token(&["AIza"]), concat!(r"\b(AIza[0-9A-Za-z_-]{35})", tokend!()), C::None, 3.0),
    r("google-oauth-client-secret", Token(&["GOCSPX-"]), concat!(r"\b(GOCSPX-[A-Za-z0-9_-]{28})", tokend!()), C::None, 3.0),
    r("google-oauth-access-token", Token(&["ya29."]), concat!(r"\b(ya29\.[0-9A-Za-z_-]{30,})", tokend!()), C::None, 3.5),
    r("azure-storage-key", Token(&["AccountKey="]), concat!(r"AccountKey=([A-Za-z0-9+/]{86}==)", b64end!()), C::None, 4.0),
    r("azure-sas-token", Token(&["sig="]), concat!(r"\bsig=([A-Za-z0-9%+/]{43,120}(?:=|%3[Dd]){0,2})", b64end!()), C::None, 3.5),
    r("azure-ad-client-secret", Token(&["Q~"]), concat!(r"\b([A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})", r"(?:[^A-Za-z0-9_~.-]|$)"), C::None, 3.5),
    r("azure-openai-key", Assignment(&["azure_openai", "azure-openai", "azureopenai"]), r"([a-f0-9]{32})\b", C::None, 3.0),
    r("alibaba-access-key-id", Token(&["LTAI"]), r"\b(LTAI[A-Za-z0-9]{20})\b", C::None, 3.0),
    r("cloudflare-api-token", Assignment(&["cloudflare", "cf_api_token", "cf_api_key"]), concat!(r"([A-Za-z0-9_-]{37,40})", tokend!()), C::None, 3.5),
    // ---- source control --------------------------------------------------------------------
    r("github-pat", Token(&["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]), r"\b(gh[pousr]_[A-Za-z0-9]{36})\b", C::Crc32Base62, 0.0),
    r("github-fine-grained-pat", Token(&["github_pat_"]), r"\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b", C::None, 3.5),
    r("gitlab-pat", Token(&["glpat-"]), concat!(r"\b(glpat-[A-Za-z0-9_-]{20,64}(?:\.[0-9a-z]{2}\.[a-z0-9]{9})?)", tokend!()), C::None, 3.0),
    r("gitlab-pipeline-trigger-token", Token(&["glptt-"]), r"\b(glptt-[0-9a-f]{40})\b", C::None, 3.0),
    r("gitlab-runner-token", Token(&["glrt-"]), concat!(r"\b(glrt-[A-Za-z0-9_-]{20,64})", tokend!()), C::None, 3.0),
    r("gitlab-deploy-token", Token(&["gldt-"]), concat!(r"\b(gldt-[A-Za-z0-9_-]{20,64})", tokend!()), C::None, 3.0),
    r("bitbucket-app-password", Token(&["ATBB"]), r"\b(ATBB[A-Za-z0-9_=.-]{28,40})\b", C::None, 3.5),
    r("sourcegraph-token", Token(&["sgp_"]), r"\b(sgp_(?:[a-f0-9]{16}_)?[a-f0-9]{40})\b", C::None, 3.0),
    // ---- payment ---------------------------------------------------------------------------
    r("stripe-secret-key", Token(&["sk_live_", "rk_live_", "sk_test_", "rk_test_"]), r"\b([sr]k_(?:live|test)_[A-Za-z0-9]{24,})\b", C::None, 3.5),
    r("stripe-webhook-secret", Token(&["whsec_"]), r"\b(whsec_[A-Za-z0-9+/=]{32,64})\b", C::None, 3.5),
    r("square-access-token", Token(&["EAAA", "sq0atp-"]), concat!(r"\b((?:EAAA[A-Za-z0-9_-]{60}|sq0atp-[0-9A-Za-z_-]{22}))", tokend!()), C::None, 3.5),
    r("square-oauth-secret", Token(&["sq0csp-"]), concat!(r"\b(sq0csp-[0-9A-Za-z_-]{43})", tokend!()), C::None, 3.5),
    r("braintree-access-token", Token(&["access_token$"]), r"\b(access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32})\b", C::None, 3.0),
    r("shippo-api-token", Token(&["shippo_live_", "shippo_test_"]), r"\b(shippo_(?:live|test)_[a-f0-9]{40})\b", C::None, 3.0),
    // ---- chat ------------------------------------------------------------------------------
    r("slack-token", Token(&["xoxb-", "xoxp-", "xoxa-", "xoxe-", "xoxr-", "xoxs-", "xoxo-"]), concat!(r"\b(xox[abeoprs]-(?:[0-9]+-)?[0-9A-Za-z-]{10,})", tokend!()), C::None, 3.0),
    r("slack-app-token", Token(&["xapp-"]), r"\b(xapp-[0-9]-[A-Z0-9]{8,}-[0-9]{8,}-[a-z0-9]{32,})\b", C::None, 3.0),
    r("slack-webhook", Token(&["hooks.slack.com"]), r"(https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,200})", C::None, 3.0),
    r("telegram-bot-token", Token(&[":AA"]), concat!(r"\b([0-9]{8,10}:AA[0-9A-Za-z_-]{33})", tokend!()), C::None, 3.0),
    r("discord-webhook", Token(&["/api/webhooks/"]), concat!(r"(https?://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68})", tokend!()), C::None, 3.0),
    r("discord-bot-token", Assignment(&["discord"]), concat!(r"([MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38})", tokend!()), C::None, 3.5),
    r("microsoft-teams-webhook", Token(&["webhook.office.com"]), r"(https://[a-z0-9-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/_-]{60,})", C::None, 3.0),
    // ---- LLM providers ---------------------------------------------------------------------
    r("anthropic-api-key", Token(&["sk-ant-"]), concat!(r"\b(sk-ant-[a-z]{3,8}[0-9]{0,3}-[A-Za-z0-9_-]{32,})", tokend!()), C::None, 3.5),
    r("openai-api-key", Token(&["T3BlbkFJ"]), concat!(r"\b(sk-[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,})", tokend!()), C::None, 3.5),
    r("openai-api-key", Token(&["sk-proj-", "sk-svcacct-", "sk-admin-"]), concat!(r"\b(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,})", tokend!()), C::None, 4.0),
    r("openai-api-key", Token(&["sk-"]), r"\b(sk-[A-Za-z0-9]{48})\b", C::None, 4.0),
    r("openrouter-api-key", Token(&["sk-or-v1-"]), r"\b(sk-or-v1-[a-f0-9]{64})\b", C::None, 3.0),
    r("langfuse-secret-key", Token(&["sk-lf-"]), r"\b(sk-lf-[a-f0-9-]{36})\b", C::None, 3.0),
    r("huggingface-token", Token(&["hf_"]), r"\b(hf_[A-Za-z0-9]{34})\b", C::None, 3.5),
    r("huggingface-org-token", Token(&["api_org_"]), r"\b(api_org_[A-Za-z0-9]{34})\b", C::None, 3.5),
    r("groq-api-key", Token(&["gsk_"]), r"\b(gsk_[A-Za-z0-9]{52})\b", C::None, 3.5),
    r("replicate-api-token", Token(&["r8_"]), r"\b(r8_[A-Za-z0-9]{37})\b", C::None, 3.5),
    r("perplexity-api-key", Token(&["pplx-"]), r"\b(pplx-[A-Za-z0-9]{48})\b", C::None, 3.5),
    r("xai-api-key", Token(&["xai-"]), r"\b(xai-[A-Za-z0-9]{80})\b", C::None, 3.5),
    r("langsmith-api-key", Token(&["lsv2_"]), r"\b(lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10})\b", C::None, 3.0),
    r("pinecone-api-key", Token(&["pcsk_"]), r"\b(pcsk_[A-Za-z0-9_]{50,90})\b", C::None, 3.5),
    r("tavily-api-key", Token(&["tvly-"]), r"\b(tvly-(?:dev-|prod-)?[A-Za-z0-9]{32})\b", C::None, 3.5),
    r("cohere-api-key", Assignment(&["cohere", "co_api_key"]), r"([A-Za-z0-9]{40})\b", C::None, 3.5),
    r("mistral-api-key", Assignment(&["mistral"]), r"([A-Za-z0-9]{32})\b", C::None, 3.5),
    r("deepseek-api-key", Assignment(&["deepseek"]), r"(sk-[a-f0-9]{32})\b", C::None, 3.0),
    r("together-api-key", Assignment(&["together"]), r"([a-f0-9]{64})\b", C::None, 3.0),
    r("elevenlabs-api-key", Assignment(&["elevenlabs", "xi_api_key", "xi-api-key"]), r"((?:sk_)?[a-f0-9]{32,48})\b", C::None, 3.0),
    // ---- package registries ----------------------------------------------------------------
    r("npm-token", Token(&["npm_"]), r"\b(npm_[A-Za-z0-9]{36})\b", C::Crc32Base62, 0.0),
    r("pypi-token", Token(&["pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw"]), concat!(r"\b(pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,})", tokend!()), C::None, 3.5),
    r("rubygems-api-key", Token(&["rubygems_"]), r"\b(rubygems_[a-f0-9]{48})\b", C::None, 3.0),
    r("dockerhub-pat", Token(&["dckr_pat_"]), concat!(r"\b(dckr_pat_[A-Za-z0-9_-]{27})", tokend!()), C::None, 3.5),
    r("nuget-api-key", Token(&["oy2"]), r"\b(oy2[a-z0-9]{43})\b", C::None, 3.5),
    r("crates-io-token", Token(&["cio"]), r"\b(cio[A-Za-z0-9]{32})\b", C::None, 3.5),
    r("clojars-token", Token(&["CLOJARS_"]), r"\b(CLOJARS_[a-z0-9]{60})\b", C::None, 3.0),
    // ---- SaaS ------------------------------------------------------------------------------
    r("sendgrid-api-key", Token(&["SG."]), concat!(r"\b(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})", tokend!()), C::None, 3.5),
    r("twilio-api-key", Token(&["SK"]), r"\b(SK[0-9a-f]{32})\b", C::None, 3.0),
    r("twilio-account-sid", Assignment(&["twilio"]), r"(AC[0-9a-f]{32})\b", C::None, 3.0),
    r("twilio-auth-token", Assignment(&["twilio_auth", "twilio-auth", "twilioauth"]), r"([0-9a-f]{32})\b", C::None, 3.0),
    r("shopify-token", Token(&["shpat_", "shpca_", "shppa_", "shpss_"]), r"\b(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b", C::None, 3.0),
    r("digitalocean-token", Token(&["dop_v1_", "doo_v1_", "dor_v1_"]), r"\b(do[opr]_v1_[a-f0-9]{64})\b", C::None, 3.0),
    r("databricks-token", Token(&["dapi"]), r"\b(dapi[a-f0-9]{32}(?:-[0-9])?)\b", C::None, 3.0),
    r("mailgun-api-key", Token(&["key-"]), r"\b(key-[0-9a-f]{32})\b", C::None, 3.0),
    r("mailchimp-api-key", Token(&["-us"]), r"\b([0-9a-f]{32}-us[0-9]{1,2})\b", C::None, 3.0),
    r("datadog-api-key", Assignment(&["datadog", "dd_api_key", "dd-api-key", "dd_app_key", "dd-application-key"]), r"([a-f0-9]{32}(?:[a-f0-9]{8})?)\b", C::None, 3.0),
    r("atlassian-api-token", Token(&["ATATT3"]), concat!(r"\b(ATATT3[A-Za-z0-9_=-]{180,200})", tokend!()), C::None, 3.5),
    r("atlassian-api-token", Assignment(&["atlassian", "jira_api_token", "jira_token", "confluence"]), r"([A-Za-z0-9]{24})\b", C::None, 3.5),
    r("linear-api-key", Token(&["lin_api_"]), r"\b(lin_api_[A-Za-z0-9]{40})\b", C::None, 3.5),
    r("notion-token", Token(&["secret_", "ntn_"]), r"\b((?:secret_[A-Za-z0-9]{43}|ntn_[A-Za-z0-9]{46}))\b", C::None, 3.5),
    r("postman-api-key", Token(&["PMAK-"]), r"\b(PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b", C::None, 3.0),
    r("heroku-api-key", Token(&["HRKU-"]), concat!(r"\b(HRKU-[A-Za-z0-9_-]{60})", tokend!()), C::None, 3.5),
    r("heroku-api-key", Assignment(&["heroku"]), r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b", C::None, 3.0),
    r("vault-token", Token(&["hvs.", "hvb.", "hvr."]), concat!(r"\b(hv[sbr]\.[A-Za-z0-9_-]{24,})", tokend!()), C::None, 3.5),
    r("doppler-token", Token(&["dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."]), r"\b(dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44})\b", C::None, 3.5),
    r("grafana-service-account-token", Token(&["glsa_"]), r"\b(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})\b", C::None, 3.5),
    r("grafana-cloud-token", Token(&["glc_"]), concat!(r"\b(glc_[A-Za-z0-9+/]{32,}={0,2})", b64end!()), C::None, 3.5),
    r("new-relic-api-key", Token(&["NRAK-", "NRII-", "NRJS-"]), r"\b(NR(?:AK|II|JS)-[A-Za-z0-9]{19,32})\b", C::None, 3.5),
    r("sentry-token", Token(&["sntrys_", "sntryu_"]), concat!(r"\b(sntry[su]_[A-Za-z0-9_=+/-]{64,})", b64end!()), C::None, 3.5),
    r("pulumi-access-token", Token(&["pul-"]), r"\b(pul-[a-f0-9]{40})\b", C::None, 3.0),
    r("terraform-cloud-token", Token(&[".atlasv1."]), concat!(r"\b([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})", tokend!()), C::None, 3.5),
    r("flyio-access-token", Token(&["fo1_", "fm2_"]), concat!(r"\b((?:fo1_[A-Za-z0-9_-]{43}|fm2_[A-Za-z0-9+/=]{100,}))", b64end!()), C::None, 3.5),
    r("okta-api-token", Assignment(&["okta"]), concat!(r"(00[A-Za-z0-9_-]{40})", tokend!()), C::None, 3.5),
    r("supabase-access-token", Token(&["sbp_"]), r"\b(sbp_[a-f0-9]{40})\b", C::None, 3.0),
    r("planetscale-token", Token(&["pscale_tkn_", "pscale_pw_", "pscale_oauth_"]), concat!(r"\b(pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64})", tokend!()), C::None, 3.5),
    r("figma-pat", Token(&["figd_"]), concat!(r"\b(figd_[A-Za-z0-9_-]{40})", tokend!()), C::None, 3.5),
    r("airtable-pat", Token(&["pat"]), r"\b(pat[A-Za-z0-9]{14}\.[a-f0-9]{64})\b", C::None, 3.5),
    r("prefect-api-key", Token(&["pnu_"]), r"\b(pnu_[A-Za-z0-9]{36})\b", C::None, 3.5),
    r("render-api-key", Token(&["rnd_"]), r"\b(rnd_[A-Za-z0-9]{32})\b", C::None, 3.5),
    r("mapbox-secret-token", Token(&["sk.eyJ"]), concat!(r"\b(sk\.eyJ[A-Za-z0-9_-]{50,}\.[A-Za-z0-9_-]{20,})", tokend!()), C::None, 3.5),
    r("facebook-access-token", Token(&["EAACEdEose0cBA", "EAAG", "EAAB"]), r"\b(EAA(?:CEdEose0cBA|G|B)[A-Za-z0-9]{80,})\b", C::None, 3.5),
    r("firecrawl-api-key", Token(&["fc-"]), r"\b(fc-[a-f0-9]{32})\b", C::None, 3.0),
    r("algolia-admin-key", Assignment(&["algolia"]), r"([a-f0-9]{32})\b", C::None, 3.0),
    r("snyk-api-token", Assignment(&["snyk"]), r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b", C::None, 3.0),
    // ---- keys, tokens with structure --------------------------------------------------------
    r("private-key", Anywhere(&["-----BEGIN"]),
        r"(-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s\\:,._-]*?-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\r\n\\:,._-]{40,}))",
        C::PemBody, 0.0),
    r("putty-private-key", Anywhere(&["PuTTY-User-Key-File-"]), r"(PuTTY-User-Key-File-[0-9]: [^\r\n]{3,40}\r?\n(?:[^\r\n]{0,200}\r?\n){0,64}?Private-Lines: [0-9]+)", C::None, 0.0),
    r("age-secret-key", Token(&["AGE-SECRET-KEY-1"]), r"\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b", C::Bech32, 0.0),
    r("jwt", Token(&["eyJ"]), concat!(r"\b(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{0,})", tokend!()), C::Jwt, 0.0),
    // ---- connection strings ------------------------------------------------------------------
    r("postgres-uri-password", Token(&["postgres://", "postgresql://"]), r"\bpostgres(?:ql)?://[^\s:/@]{0,128}:([^\s@/]{1,128})@[^\s]", C::None, 0.0),
    r("mysql-uri-password", Token(&["mysql://", "mysql+", "mariadb://"]), r"\b(?:mysql(?:\+[a-z]+)?|mariadb)://[^\s:/@]{0,128}:([^\s@/]{1,128})@[^\s]", C::None, 0.0),
    r("mongodb-uri-password", Token(&["mongodb://", "mongodb+srv://"]), r"\bmongodb(?:\+srv)?://[^\s:/@]{0,128}:([^\s@/]{1,128})@[^\s]", C::None, 0.0),
    r("redis-uri-password", Token(&["redis://", "rediss://"]), r"\brediss?://[^\s:/@]{0,128}:([^\s@/]{1,128})@[^\s]", C::None, 0.0),
    r("amqp-uri-password", Token(&["amqp://", "amqps://"]), r"\bamqps?://[^\s:/@]{0,128}:([^\s@/]{1,128})@[^\s]", C::None, 0.0),
    generic("uri-password", Token(&["://"]), r"\b(?:https?|ftps?|sftp|smtps?|ldaps?|imaps?|jdbc:[a-z]+)://[^\s:/@]{1,128}:([^\s@/]{3,128})@[A-Za-z0-9.-]", 0.0),
    // ---- generic assignments ------------------------------------------------------------------
    r("authorization-bearer", Assignment(&["authorization"]), r"(?i:bearer)\s+([A-Za-z0-9._~+/-]{20,}=*)", C::None, 3.0),
    r("authorization-basic", Assignment(&["authorization"]), concat!(r"(?i:basic)\s+([A-Za-z0-9+/]{12,400}={0,2})", b64end!()), C::None, 3.0),
    generic("generic-password", Assignment(&["password", "passwd", "pwd", "passphrase"]), r"([^\s'`\x22,;()\[\]{}<>]{6,128})", 2.5),
    generic("generic-api-key", Assignment(&["api_key", "apikey", "api-key", "access_key", "accesskey", "access-key", "client_secret", "private_key"]), r"([A-Za-z0-9_~+/.=-]{16,256})", 3.3),
    generic("generic-secret", Assignment(&["secret"]), r"([A-Za-z0-9_~+/.=!@#$%^&*-]{12,256})", 3.3),
    generic("generic-token", Assignment(&["token"]), r"([A-Za-z0-9_~+/.=-]{20,})", 3.5),
];
