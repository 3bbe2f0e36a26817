//! `deploy/istio/` manifests checked offline against the Istio CRD schemas in
//! `deploy/schemas/istio-crds.yaml`: JSON-schema validation of each object's spec, plus the
//! unknown-field check the API server's strict field validation would apply (CRD schemas do not
//! forbid extra properties themselves, so a misspelt field would otherwise pass silently).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use sluice_core::Policy;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// `apiVersion` + `kind` → the version's openAPIV3Schema.
fn crd_schemas() -> BTreeMap<(String, String), Value> {
    let mut schemas = BTreeMap::new();
    for crd in yaml_documents(&workspace_root().join("deploy/schemas/istio-crds.yaml")) {
        let group = crd["spec"]["group"].as_str().unwrap_or_default().to_owned();
        let kind = crd["spec"]["names"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for version in crd["spec"]["versions"].as_array().into_iter().flatten() {
            let name = version["name"].as_str().unwrap_or_default();
            schemas.insert(
                (format!("{group}/{name}"), kind.clone()),
                version["schema"]["openAPIV3Schema"].clone(),
            );
        }
    }
    schemas
}

/// Paths of fields the schema does not declare, as strict field validation reports them.
fn unknown_fields(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true) {
        return;
    }
    match value {
        Value::Object(fields) => {
            let declared = schema["properties"].as_object();
            let additional = &schema["additionalProperties"];
            for (name, field) in fields {
                let child = format!("{path}.{name}");
                match declared.and_then(|d| d.get(name)) {
                    Some(field_schema) => unknown_fields(field, field_schema, &child, out),
                    None if additional.is_object() => {
                        unknown_fields(field, additional, &child, out)
                    }
                    None => out.push(child),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                unknown_fields(item, &schema["items"], &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Every problem with one manifest object; empty when it would be accepted.
fn problems(object: &Value, schemas: &BTreeMap<(String, String), Value>) -> Vec<String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    let Some(schema) = schemas.get(&(api_version.clone(), kind.clone())) else {
        return vec![format!("no CRD schema for {api_version} {kind}")];
    };
    let mut found = Vec::new();
    if object["metadata"]["name"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        found.push("metadata.name missing".to_owned());
    }
    // The schema covers spec/status; apiVersion, kind and metadata are the API server's.
    let mut body = object.clone();
    if let Some(fields) = body.as_object_mut() {
        for key in ["apiVersion", "kind", "metadata"] {
            fields.remove(key);
        }
    }
    match jsonschema::validator_for(schema) {
        Ok(validator) => found.extend(
            validator
                .iter_errors(&body)
                .map(|e| format!("{}: {e}", e.instance_path())),
        ),
        Err(e) => found.push(format!("schema does not compile: {e}")),
    }
    unknown_fields(&body, schema, "", &mut found);
    found
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
