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
    let cases: [Vec<&str>; 4] = [
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
