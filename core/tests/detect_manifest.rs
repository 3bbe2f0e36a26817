//! Kubernetes `Secret` manifests: every `data` / `stringData` value is reported, whatever
//! its key, in YAML and JSON; other kinds' `data`, templates and broken base64 are not.

use sluice_core::{DetectorOptions, Finding, Scanner};

fn scan(text: &str) -> Vec<Finding> {
    let scanner = Scanner::new(&DetectorOptions::default()).expect("scanner");
    let mut out = Vec::new();
    scanner.scan(text, &mut out);
    out
}

/// The exact texts reported under `rule`.
fn values<'a>(text: &'a str, rule: &str) -> Vec<&'a str> {
    scan(text)
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| &text[f.start..f.end])
        .collect()
}

const YAML: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: web-tls
  labels:
    data: not-a-secret-map
type: Opaque
data:
  tls.key: TFMwdExTMUNSVWRKVGlCUVVrbFdRVlJGSUV0RldTMHRMUzB0
  .dockerconfigjson: \"eyJhdXRocyI6eyJyZWcuZXhhbXBsZS5jb20iOnt9fX0=\"
  DB_PASS: cTdWIW1aMnhMOXdS  # rotated monthly

  empty: \"\"
  not-base64: this is not base64!
stringData:
  api_url_token: s3cr3t-plain-Value-42
  helm: \"{{ .Values.password }}\"
  config.yaml: |
    user: admin
    password: Zt8#qLw2
---
apiVersion: v1
kind: ConfigMap
data:
  DB_HOST: ZGIuaW50ZXJuYWw=
";

#[test]
fn every_value_of_a_yaml_secret_is_reported_exactly() {
    assert_eq!(
        values(YAML, "kubernetes-secret"),
        vec![
            "TFMwdExTMUNSVWRKVGlCUVVrbFdRVlJGSUV0RldTMHRMUzB0",
            "eyJhdXRocyI6eyJyZWcuZXhhbXBsZS5jb20iOnt9fX0=",
            "cTdWIW1aMnhMOXdS",
            "s3cr3t-plain-Value-42",
            "user: admin\n    password: Zt8#qLw2",
        ]
    );
    // The ConfigMap's data, the label called `data`, the template, the empty value and the
    // text that is not base64 are not secrets.
    let found = scan(YAML);
    let host = YAML.find("ZGIuaW50ZXJuYWw=").expect("present");
    assert!(found.iter().all(|f| f.end <= host || f.start > host));
    assert!(
        !found
            .iter()
            .any(|f| YAML[f.start..f.end].contains("not-a-secret"))
    );
    assert!(
        !found
            .iter()
            .any(|f| YAML[f.start..f.end].contains("Values"))
    );
}

#[test]
fn secrets_in_a_list_and_in_json_are_reported() {
    let list = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  data:
    token: bXktdG9rZW4tdmFsdWUtOTk=
- apiVersion: v1
  kind: ConfigMap
  data:
    mode: ZmFzdA==
";
    assert_eq!(
        values(list, "kubernetes-secret"),
        vec!["bXktdG9rZW4tdmFsdWUtOTk="]
    );
    let json = r#"{"apiVersion": "v1", "data": {"password": "cGFzc3dvcmQtMTIzNDU=", "user": "YWRtaW4="},
 "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"note": "plain-s3cret"}}"#;
    assert_eq!(
        values(json, "kubernetes-secret"),
        vec!["cGFzc3dvcmQtMTIzNDU=", "YWRtaW4=", "plain-s3cret"]
    );
    let config_map = r#"{"kind": "ConfigMap", "data": {"password": "cGFzc3dvcmQtMTIzNDU="}}"#;
    assert!(values(config_map, "kubernetes-secret").is_empty());
}

#[test]
fn a_provider_key_inside_a_secret_value_is_named_by_its_own_rule() {
    let text = "kind: Secret\ndata:\n  GITHUB_TOKEN: Z2hwX3pBNktPS2ZLRTRjaTd0NzFSeHFoRlhqR20xc29UcTFYNzFLQQ==\n";
    let found = scan(text);
    let value = "Z2hwX3pBNktPS2ZLRTRjaTd0NzFSeHFoRlhqR20xc29UcTFYNzFLQQ==";
    let at = text.find(value).expect("present");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "github-pat");
    assert!(found[0].encoding.is_some());
    assert_eq!((found[0].start, found[0].end), (at, at + value.len()));
}

#[test]
fn prose_about_secrets_is_not_a_manifest() {
    let text = "The Secret kind holds data: keys map to base64 values.\nkind: Secretive\ndata:\n  a: YWJj\n";
    assert!(values(text, "kubernetes-secret").is_empty());
}
