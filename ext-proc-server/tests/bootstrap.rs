//! The bootstraps checked into `envoy/` are exactly what `sluice envoy-bootstrap` prints, and
//! Envoy 1.40 accepts each of them (`envoy --mode validate`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// File under `envoy/` and the arguments that generate it (also listed in envoy/README.md).
const GENERATED: &[(&str, &[&str])] = &[
    (
        "ext-proc.yaml",
        &[
            "--mode",
            "ext-proc",
            "--listen",
            "127.0.0.1:10000",
            "--upstream",
            "http://127.0.0.1:8080",
            "--sluice",
            "127.0.0.1:50051",
        ],
    ),
    (
        "ext-proc-unix.yaml",
        &[
            "--mode",
            "ext-proc",
            "--listen",
            "127.0.0.1:10000",
            "--upstream",
            "http://127.0.0.1:8080",
            "--sluice",
            "unix:/tmp/sluice.sock",
        ],
    ),
    (
        "wasm.yaml",
        &[
            "--mode",
            "wasm",
            "--listen",
            "127.0.0.1:10000",
            "--upstream",
            "http://127.0.0.1:8080",
            "--wasm",
            WASM_RELATIVE,
        ],
    ),
    (
        "openai-tls.yaml",
        &[
            "--mode",
            "ext-proc",
            "--listen",
            "127.0.0.1:10000",
            "--upstream",
            "https://api.openai.com",
            "--sluice",
            "unix:/tmp/sluice.sock",
        ],
    ),
];

const WASM_RELATIVE: &str = "target/wasm32-wasip1/release-wasm/sluice_wasm.wasm";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn bootstrap(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("envoy-bootstrap")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sluice envoy-bootstrap {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn envoy() -> PathBuf {
    let path = std::env::var_os("SLUICE_ENVOY")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/envoy"));
    assert!(
        path.is_file(),
        "Envoy binary not found at {} (set SLUICE_ENVOY, or run scripts/test.sh which installs it)",
        path.display()
    );
    path
}

fn validate(envoy: &Path, name: &str, yaml: &str) {
    let dir = std::env::temp_dir().join(format!("sluice-bootstrap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(envoy)
        .arg("--mode")
        .arg("validate")
        .arg("-c")
        .arg(&file)
        .arg("--log-level")
        .arg("warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "envoy rejected {name}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn checked_in_bootstraps_match_the_generator() {
    let dir = workspace_root().join("envoy");
    for (name, args) in GENERATED {
        let expected =
            std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("envoy/{name}: {e}"));
        assert_eq!(
            bootstrap(args),
            expected,
            "envoy/{name} is stale: regenerate it with the command in envoy/README.md"
        );
    }
}

#[test]
fn envoy_accepts_every_bootstrap() {
    let envoy = envoy();
    for (name, args) in GENERATED {
        if *name == "wasm.yaml" {
            continue;
        }
        validate(&envoy, name, &bootstrap(args));
    }
}

/// Envoy's validate mode loads the module (and checks its ABI), so the wasm bootstrap is
/// validated against the built module, made absolute, when it exists.
#[test]
fn envoy_accepts_the_wasm_bootstrap_when_the_module_is_built() {
    let envoy = envoy();
    let module = std::env::var_os("SLUICE_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(WASM_RELATIVE));
    if !module.is_file() {
        eprintln!(
            "skipping the wasm bootstrap validation: no module at {} (build it or set SLUICE_WASM)",
            module.display()
        );
        return;
    }
    let module = module.to_string_lossy().into_owned();
    let (_, args) = GENERATED
        .iter()
        .find(|(name, _)| *name == "wasm.yaml")
        .unwrap();
    let args: Vec<&str> = args
        .iter()
        .map(|a| {
            if *a == WASM_RELATIVE {
                module.as_str()
            } else {
                a
            }
        })
        .collect();
    validate(&envoy, "wasm.yaml", &bootstrap(&args));
}

#[test]
fn ext_proc_defaults_to_the_unix_socket_serve_listens_on() {
    let doc = |extra: &[&str]| -> serde_json::Value {
        let args = [
            &[
                "--mode",
                "ext-proc",
                "--listen",
                "127.0.0.1:10000",
                "--upstream",
                "http://127.0.0.1:8080",
            ][..],
            extra,
        ]
        .concat();
        serde_yaml_ng::from_str(&bootstrap(&args)).unwrap()
    };
    let address = |doc: &serde_json::Value| {
        doc["static_resources"]["clusters"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "sluice"))
            .map(|c| {
                c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                    .clone()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        address(&doc(&[]))["pipe"]["path"],
        "/run/sluice/sluice.sock"
    );
    // TCP stays available.
    let tcp = address(&doc(&["--sluice", "127.0.0.1:50051"]));
    assert_eq!(tcp["socket_address"]["port_value"], 50051);
}

#[test]
fn wasm_configuration_carries_the_policy_as_json() {
    let dir = std::env::temp_dir().join(format!("sluice-bootstrap-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        "version: 1\nlimits:\n  request_body_bytes: 1000000\n",
    )
    .unwrap();
    let yaml = bootstrap(&[
        "--mode",
        "wasm",
        "--listen",
        "127.0.0.1:10000",
        "--upstream",
        "http://127.0.0.1:8080",
        "--wasm",
        "/x/sluice_wasm.wasm",
        "--config",
        policy.to_str().unwrap(),
    ]);
    let doc: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let filter = &doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["http_filters"][0]["typed_config"]["config"];
    let value = filter["configuration"]["value"].as_str().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(value).unwrap();
    assert_eq!(parsed["limits"]["request_body_bytes"], 1_000_000);
    assert_eq!(filter["failure_policy"], "FAIL_CLOSED");
    assert_eq!(filter["vm_config"]["runtime"], "envoy.wasm.runtime.v8");
    // Envoy's buffers follow the policy's request body limit (plus slack).
    assert_eq!(
        doc["static_resources"]["listeners"][0]["per_connection_buffer_limit_bytes"],
        1_000_000 + 1024 * 1024
    );
}

#[test]
fn wasm_audit_sink_adds_its_cluster_and_wraps_the_policy() {
    let dir = std::env::temp_dir().join(format!("sluice-bootstrap-sink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, "version: 1\npolicy_id: p\n").unwrap();
    let base = [
        "--mode",
        "wasm",
        "--listen",
        "127.0.0.1:10000",
        "--upstream",
        "http://127.0.0.1:8080",
        "--wasm",
        "/x/sluice_wasm.wasm",
        "--audit-sink",
        "127.0.0.1:9911",
    ];
    let configuration = |doc: &serde_json::Value| -> serde_json::Value {
        let filter = &doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
            ["http_filters"][0]["typed_config"]["config"];
        serde_json::from_str(filter["configuration"]["value"].as_str().unwrap()).unwrap()
    };
    let with_policy: serde_json::Value = serde_yaml_ng::from_str(&bootstrap(
        &[
            &base[..],
            &[
                "--config",
                policy.to_str().unwrap(),
                "--audit-sink-timeout-ms",
                "250",
            ],
        ]
        .concat(),
    ))
    .unwrap();
    let envelope = configuration(&with_policy);
    assert_eq!(envelope["audit_sink"]["cluster"], "sluice_audit");
    assert_eq!(envelope["audit_sink"]["timeout_ms"], 250);
    assert_eq!(envelope["policy"]["policy_id"], "p");
    let cluster = with_policy["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sluice_audit")
        .expect("audit sink cluster")
        .clone();
    assert_eq!(cluster["type"], "STATIC");
    let address = &cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        ["socket_address"];
    assert_eq!(address["address"], "127.0.0.1");
    assert_eq!(address["port_value"], 9911);
    // HTTP/1.1: no protocol options that would make it HTTP/2.
    assert!(cluster.get("typed_extension_protocol_options").is_none());

    // Without --config: the envelope alone (the built-in policy), default timeout.
    let default: serde_json::Value = serde_yaml_ng::from_str(&bootstrap(&base)).unwrap();
    let envelope = configuration(&default);
    assert_eq!(envelope["audit_sink"]["timeout_ms"], 1000);
    assert!(envelope.get("policy").is_none());
}

#[test]
fn invalid_inputs_are_refused() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("envoy-bootstrap")
            .args(args)
            .output()
            .unwrap()
    };
    let listen = ["--listen", "127.0.0.1:10000"];
    let http = ["--upstream", "http://127.0.0.1:8080"];
    let cases: [Vec<&str>; 6] = [
        // an audit sink in ext-proc mode (ext_proc writes the trail itself)
        [
            &listen[..],
            &http,
            &["--mode", "ext-proc", "--audit-sink", "127.0.0.1:9911"],
        ]
        .concat(),
        // a zero audit sink timeout
        [
            &listen[..],
            &http,
            &[
                "--mode",
                "wasm",
                "--wasm",
                "/x.wasm",
                "--audit-sink",
                "127.0.0.1:9911",
                "--audit-sink-timeout-ms",
                "0",
            ],
        ]
        .concat(),
        // ext-proc with a wasm module
        [
            &listen[..],
            &http,
            &["--mode", "ext-proc", "--wasm", "/x.wasm"],
        ]
        .concat(),
        // wasm without --wasm
        [&listen[..], &http, &["--mode", "wasm"]].concat(),
        // a path in the upstream URL
        [
            &listen[..],
            &[
                "--upstream",
                "http://h/v1",
                "--mode",
                "ext-proc",
                "--sluice",
                "127.0.0.1:1",
            ],
        ]
        .concat(),
        // a unix socket as the data-plane listener
        [
            &["--listen", "unix:/tmp/x.sock"][..],
            &http,
            &["--mode", "ext-proc", "--sluice", "127.0.0.1:1"],
        ]
        .concat(),
    ];
    for args in cases {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
}

/// The Istio EnvoyFilter of `deploy/kubernetes/overlays/istio-ext-proc` carries raw Envoy
/// configuration, which the CRD schema does not check. Envoy does: the patches are applied to
/// an ext_proc bootstrap the way Istio applies them (the HTTP filter inserted before the
/// router, the listener fields merged), with a cluster of the name Istio generates, and Envoy's
/// validate mode must accept the result. A misspelt proto field fails here.
#[test]
fn envoy_accepts_the_istio_ext_proc_filter() {
    use serde_json::Value;
    let path = workspace_root().join("deploy/kubernetes/overlays/istio-ext-proc/envoyfilter.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let filter: Value = serde_yaml_ng::from_str(&text).unwrap();
    let patches = filter["spec"]["configPatches"]
        .as_array()
        .expect("configPatches");

    let (_, args) = GENERATED
        .iter()
        .find(|(name, _)| *name == "ext-proc.yaml")
        .unwrap();
    let mut doc: Value = serde_yaml_ng::from_str(&bootstrap(args)).unwrap();
    let mut patched = 0;
    for patch in patches {
        let value = patch["patch"]["value"].clone();
        match (
            patch["applyTo"].as_str().unwrap_or_default(),
            patch["patch"]["operation"].as_str().unwrap_or_default(),
        ) {
            ("HTTP_FILTER", "INSERT_BEFORE") => {
                let before =
                    patch["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"]
                        .as_str()
                        .expect("subFilter.name");
                let filters = doc
                    .pointer_mut(
                        "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters",
                    )
                    .and_then(Value::as_array_mut)
                    .expect("http_filters");
                // The generated ext_proc filter gives way to the manifest's.
                filters.retain(|f| f["name"] != value["name"]);
                let at = filters
                    .iter()
                    .position(|f| f["name"] == before)
                    .unwrap_or_else(|| panic!("no {before} filter"));
                filters.insert(at, value.clone());
                // The cluster Istio generates for the Service, by the name the filter uses.
                let cluster = value["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"]
                    .as_str()
                    .expect("envoy_grpc.cluster_name")
                    .to_owned();
                let clusters = doc
                    .pointer_mut("/static_resources/clusters")
                    .and_then(Value::as_array_mut)
                    .unwrap();
                let sluice = clusters
                    .iter_mut()
                    .find(|c| c["name"] == "sluice")
                    .expect("the sluice cluster");
                sluice["name"] = Value::from(cluster.clone());
                sluice["load_assignment"]["cluster_name"] = Value::from(cluster);
            }
            ("LISTENER", "MERGE") => {
                let listener = doc
                    .pointer_mut("/static_resources/listeners/0")
                    .and_then(Value::as_object_mut)
                    .unwrap();
                for (k, v) in value.as_object().expect("an object to merge") {
                    listener.insert(k.clone(), v.clone());
                }
            }
            other => panic!("the test does not apply a {other:?} patch yet"),
        }
        patched += 1;
    }
    assert_eq!(patched, 2);
    let yaml = serde_yaml_ng::to_string(&doc).unwrap();
    validate(&envoy(), "istio-ext-proc.yaml", &yaml);
}

/// A P-256 key's JWKS and a CA-signed server certificate (with its CA) in `dir`: the files
/// the identity options name, real enough for Envoy's validate mode to load.
fn identity_files(dir: &Path) -> [String; 4] {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing = rcgen::KeyPair::generate().unwrap();
    let point = signing.public_key_raw();
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k",
        "x": b64.encode(&point[1..33]), "y": b64.encode(&point[33..65]),
    }]});
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let files = [
        ("jwks.json", jwks.to_string()),
        ("server.pem", server.pem()),
        ("server.key", server_key.serialize_pem()),
        ("ca.pem", ca.pem()),
    ];
    files.map(|(name, text)| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    })
}

const EXT_PROC_BASE: [&str; 8] = [
    "--mode",
    "ext-proc",
    "--listen",
    "127.0.0.1:10000",
    "--upstream",
    "http://127.0.0.1:8080",
    "--sluice",
    "127.0.0.1:50051",
];

fn http_filters(doc: &serde_json::Value) -> Vec<serde_json::Value> {
    doc.pointer("/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn jwt_and_mtls_options_emit_what_envoy_needs_and_envoy_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let [jwks, cert, key, ca] = identity_files(dir.path());
    let identity = [
        "--jwt-issuer",
        "https://issuer.example",
        "--jwt-audience",
        "a1",
        "--jwt-audience",
        "a2",
        "--jwt-jwks-file",
        &jwks,
        "--jwt-optional",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--client-ca",
        &ca,
        "--spiffe-trust-domain",
        "example.org",
    ];
    let yaml = bootstrap(&[&EXT_PROC_BASE[..], &identity].concat());
    let doc: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap();

    let filters = http_filters(&doc);
    let names: Vec<&str> = filters.iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "envoy.filters.http.jwt_authn",
            "envoy.filters.http.ext_proc",
            "envoy.filters.http.router"
        ]
    );
    let jwt = &filters[0]["typed_config"];
    let provider = &jwt["providers"]["sluice"];
    assert_eq!(provider["issuer"], "https://issuer.example");
    assert_eq!(provider["audiences"], serde_json::json!(["a1", "a2"]));
    assert_eq!(provider["local_jwks"]["filename"], jwks.as_str());
    assert_eq!(provider["payload_in_metadata"], "jwt_payload");
    // Missing tokens pass (rules decide); present ones must verify.
    assert_eq!(
        jwt["rules"][0]["requires"]["requires_any"]["requirements"][1],
        serde_json::json!({"allow_missing": {}})
    );
    let ext_proc = &filters[1]["typed_config"];
    assert_eq!(
        ext_proc["metadata_options"]["forwarding_namespaces"]["untyped"],
        serde_json::json!(["envoy.filters.http.jwt_authn"])
    );
    assert_eq!(
        ext_proc["request_attributes"],
        serde_json::json!(["connection.uri_san_peer_certificate"])
    );
    let tls = &doc["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"]["typed_config"];
    assert_eq!(tls["require_client_certificate"], true);
    let common = &tls["common_tls_context"];
    assert_eq!(
        common["tls_certificates"][0]["certificate_chain"]["filename"],
        cert.as_str()
    );
    assert_eq!(
        common["validation_context"]["trusted_ca"]["filename"],
        ca.as_str()
    );
    assert_eq!(
        common["validation_context"]["match_typed_subject_alt_names"],
        serde_json::json!([{"san_type": "URI", "matcher": {"prefix": "spiffe://example.org/"}}])
    );
    validate(&envoy(), "identity.yaml", &yaml);

    // Required tokens by default.
    let doc: serde_json::Value = serde_yaml_ng::from_str(&bootstrap(
        &[
            &EXT_PROC_BASE[..],
            &["--jwt-issuer", "iss", "--jwt-jwks-file", &jwks],
        ]
        .concat(),
    ))
    .unwrap();
    assert_eq!(
        http_filters(&doc)[0]["typed_config"]["rules"][0]["requires"],
        serde_json::json!({"provider_name": "sluice"})
    );
    // Without --client-ca no attribute is asked for.
    assert!(http_filters(&doc)[1]["typed_config"]["request_attributes"].is_null());
}

#[test]
fn remote_jwks_gets_its_own_tls_cluster() {
    let yaml = bootstrap(
        &[
            &EXT_PROC_BASE[..],
            &[
                "--jwt-issuer",
                "https://login.example.com/",
                "--jwt-jwks-uri",
                "https://login.example.com/.well-known/jwks.json",
                "--jwt-jwks-cache-secs",
                "120",
                "--jwt-header",
                "X-Identity-Token",
                "--jwt-payload-key",
                "claims",
            ],
        ]
        .concat(),
    );
    let doc: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let provider = &http_filters(&doc)[0]["typed_config"]["providers"]["sluice"];
    let remote = &provider["remote_jwks"];
    assert_eq!(
        remote["http_uri"]["uri"],
        "https://login.example.com/.well-known/jwks.json"
    );
    assert_eq!(remote["http_uri"]["cluster"], "sluice_jwks");
    assert_eq!(remote["cache_duration"], "120s");
    assert_eq!(
        provider["from_headers"],
        serde_json::json!([{"name": "x-identity-token"}])
    );
    assert_eq!(provider["payload_in_metadata"], "claims");
    let clusters = doc["static_resources"]["clusters"].as_array().unwrap();
    let jwks = clusters
        .iter()
        .find(|c| c["name"] == "sluice_jwks")
        .unwrap();
    assert_eq!(jwks["type"], "STRICT_DNS");
    let socket = &jwks["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        ["socket_address"];
    assert_eq!(socket["address"], "login.example.com");
    assert_eq!(socket["port_value"], 443);
    let tls = &jwks["transport_socket"]["typed_config"];
    assert_eq!(tls["sni"], "login.example.com");
    assert_eq!(
        tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0]["matcher"]
            ["exact"],
        "login.example.com"
    );
    validate(&envoy(), "remote-jwks.yaml", &yaml);
}

#[test]
fn wasm_mode_reads_identity_from_properties() {
    let dir = tempfile::tempdir().unwrap();
    let [jwks, cert, key, ca] = identity_files(dir.path());
    let doc: serde_json::Value = serde_yaml_ng::from_str(&bootstrap(&[
        "--mode",
        "wasm",
        "--listen",
        "127.0.0.1:10000",
        "--upstream",
        "http://127.0.0.1:8080",
        "--wasm",
        "/x/sluice_wasm.wasm",
        "--jwt-issuer",
        "iss",
        "--jwt-jwks-file",
        &jwks,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--client-ca",
        &ca,
    ]))
    .unwrap();
    let filters = http_filters(&doc);
    assert_eq!(filters[0]["name"], "envoy.filters.http.jwt_authn");
    assert_eq!(filters[1]["name"], "envoy.filters.http.wasm");
    // The module reads `metadata` and `connection.uri_san_peer_certificate` itself.
    assert!(filters[1]["typed_config"]["metadata_options"].is_null());
    assert!(
        doc["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"].is_object()
    );
}

#[test]
fn inconsistent_identity_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let [jwks, cert, key, ca] = identity_files(dir.path());
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "version: 2\nidentity:\n  jwt: {payload_key: other}\n",
    )
    .unwrap();
    let policy = policy.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--jwt-issuer", "iss"], "JWKS source"),
        (vec!["--jwt-jwks-file", &jwks], "--jwt-issuer"),
        (vec!["--jwt-optional"], "--jwt-issuer"),
        (
            vec![
                "--jwt-issuer",
                "iss",
                "--jwt-jwks-file",
                &jwks,
                "--jwt-jwks-uri",
                "https://x/j",
            ],
            "cannot be used with",
        ),
        (
            vec!["--jwt-issuer", "iss", "--jwt-jwks-uri", "http://x/jwks"],
            "https://",
        ),
        (
            vec![
                "--jwt-issuer",
                "iss",
                "--jwt-jwks-file",
                &jwks,
                "--jwt-header",
                "bad header",
            ],
            "not a header name",
        ),
        (vec!["--tls-cert", &cert], "--tls-key"),
        (vec!["--client-ca", &ca], "--tls-cert"),
        (
            vec![
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--spiffe-trust-domain",
                "example.org",
            ],
            "--client-ca",
        ),
        (
            vec![
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--client-ca",
                &ca,
                "--spiffe-trust-domain",
                "Example.org/x",
            ],
            "not a trust domain",
        ),
        (
            vec![
                "--mode",
                "wasm",
                "--wasm",
                "/x.wasm",
                "--config",
                &policy,
                "--jwt-issuer",
                "iss",
                "--jwt-jwks-file",
                &jwks,
            ],
            "payload_key",
        ),
    ];
    for (extra, message) in cases {
        let mode: &[&str] = if extra.contains(&"wasm") {
            &[]
        } else {
            &["--mode", "ext-proc"]
        };
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("envoy-bootstrap")
            .args([
                "--listen",
                "127.0.0.1:10000",
                "--upstream",
                "http://127.0.0.1:8080",
            ])
            .args(mode)
            .args(&extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{extra:?}");
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
    }
}

/// `--otlp-tracing ADDR` gives the connection manager Envoy's OpenTelemetry tracer (every
/// request sampled) and a cluster for the collector; Envoy accepts it in both modes, and
/// without the option there is no tracing at all.
#[test]
fn otlp_tracing_adds_envoys_tracer_and_its_collector_cluster() {
    let envoy = envoy();
    let args = [
        "--mode",
        "ext-proc",
        "--listen",
        "127.0.0.1:10000",
        "--upstream",
        "http://127.0.0.1:8080",
        "--sluice",
        "127.0.0.1:50051",
        "--otlp-tracing",
        "127.0.0.1:4317",
    ];
    let yaml = bootstrap(&args);
    validate(&envoy, "otlp-tracing.yaml", &yaml);
    let doc: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let hcm =
        &doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    let tracing = &hcm["tracing"];
    assert_eq!(tracing["random_sampling"]["value"], 100.0, "{tracing}");
    assert_eq!(
        tracing["provider"]["name"], "envoy.tracers.opentelemetry",
        "{tracing}"
    );
    let otel = &tracing["provider"]["typed_config"];
    assert_eq!(otel["service_name"], "envoy", "{otel}");
    let cluster_name = otel["grpc_service"]["envoy_grpc"]["cluster_name"]
        .as_str()
        .unwrap();
    let clusters = doc["static_resources"]["clusters"].as_array().unwrap();
    let cluster = clusters
        .iter()
        .find(|c| c["name"] == cluster_name)
        .unwrap_or_else(|| panic!("no cluster {cluster_name}: {clusters:?}"));
    let address = &cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        ["socket_address"];
    assert_eq!(address["port_value"], 4317, "{cluster}");

    let plain = bootstrap(&args[..args.len() - 2]);
    assert!(!plain.contains("tracing"), "{plain}");
    assert!(!plain.contains(cluster_name), "{plain}");
}
