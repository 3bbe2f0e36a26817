//! `deploy/istio/` manifests checked offline against the Istio CRD schemas in
//! `deploy/schemas/istio-crds.yaml` (the checks are in `support/`), and the WasmPlugin's
//! settings and policy.

use std::path::PathBuf;

use serde_json::Value;
use sluice_core::Policy;

#[allow(dead_code)]
mod support;
use support::{CrdSchemas, problems, workspace_root, yaml_documents};

fn crd_schemas() -> CrdSchemas {
    support::crd_schemas(&["deploy/schemas/istio-crds.yaml"])
}

fn istio_manifests() -> Vec<(PathBuf, Value)> {
    let dir = workspace_root().join("deploy/istio");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .flat_map(|p| {
            yaml_documents(&p)
                .into_iter()
                .map(move |doc| (p.clone(), doc))
        })
        .collect()
}

#[test]
fn every_istio_manifest_validates_against_its_crd() {
    let schemas = crd_schemas();
    let manifests = istio_manifests();
    assert!(
        manifests.iter().any(|(_, m)| m["kind"] == "WasmPlugin"),
        "deploy/istio has no WasmPlugin"
    );
    for (path, object) in &manifests {
        let found = problems(object, &schemas);
        assert!(found.is_empty(), "{}: {found:#?}", path.display());
    }
}

#[test]
fn the_validation_catches_bad_values_and_misspelt_fields() {
    let schemas = crd_schemas();
    let (_, plugin) = istio_manifests()
        .into_iter()
        .find(|(_, m)| m["kind"] == "WasmPlugin")
        .expect("a WasmPlugin manifest");

    let mut bad_enum = plugin.clone();
    bad_enum["spec"]["failStrategy"] = Value::from("FAIL_SOMETIMES");
    assert!(!problems(&bad_enum, &schemas).is_empty());

    let mut misspelt = plugin.clone();
    misspelt["spec"]["phaes"] = Value::from("STATS");
    assert_eq!(
        problems(&misspelt, &schemas),
        vec![".spec.phaes".to_owned()]
    );

    let mut no_url = plugin.clone();
    if let Some(spec) = no_url["spec"].as_object_mut() {
        spec.remove("url");
    }
    assert!(!problems(&no_url, &schemas).is_empty());

    let mut both_targets = plugin;
    both_targets["spec"]["targetRefs"] =
        serde_json::json!([{ "kind": "Gateway", "name": "llm-gateway" }]);
    // Mutually exclusive with `selector` only through a CEL rule, which JSON Schema cannot
    // express: the check below covers it.
    assert!(problems(&both_targets, &schemas).is_empty());
    assert!(selector_and_target_refs_exclusive(&both_targets).is_err());
}

/// The CRD's CEL rule "only one of targetRefs or selector can be set".
fn selector_and_target_refs_exclusive(plugin: &Value) -> Result<(), String> {
    let set = ["selector", "targetRef", "targetRefs"]
        .iter()
        .filter(|k| !plugin["spec"][**k].is_null())
        .count();
    if set <= 1 {
        Ok(())
    } else {
        Err(format!("{set} of selector/targetRef/targetRefs set"))
    }
}

#[test]
fn wasm_plugin_settings_keep_sluice_fail_closed_and_correctly_placed() {
    let (_, plugin) = istio_manifests()
        .into_iter()
        .find(|(_, m)| m["kind"] == "WasmPlugin")
        .expect("a WasmPlugin manifest");
    let spec = &plugin["spec"];
    assert_eq!(spec["failStrategy"], "FAIL_CLOSE");
    assert_eq!(spec["phase"], "STATS");
    assert_eq!(spec["type"], "HTTP");
    assert!(
        spec["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("oci://"))
    );
    selector_and_target_refs_exclusive(&plugin).expect("one workload selection");
}

#[test]
fn wasm_plugin_config_is_the_built_in_default_policy() {
    let (_, plugin) = istio_manifests()
        .into_iter()
        .find(|(_, m)| m["kind"] == "WasmPlugin")
        .expect("a WasmPlugin manifest");
    let json = plugin["spec"]["pluginConfig"].to_string();
    let policy = Policy::from_json(&json).expect("pluginConfig is a valid policy");
    assert_eq!(
        policy,
        Policy::default(),
        "deploy/istio/wasmplugin.yaml pluginConfig drifted from Policy::default()"
    );
    // What the plugin itself does with it.
    sluice_wasm::config::engine_from_configuration(Some(json.as_bytes()))
        .expect("the plugin accepts its manifest's configuration");
}
