//! Offline validation of `deploy/` manifests against the CRD schemas in `deploy/schemas/`:
//! JSON-schema validation of each object's body, plus the unknown-field check the API server's
//! strict field validation would apply (CRD schemas do not forbid extra properties themselves,
//! so a misspelt field would otherwise pass silently). Shared by the manifest test binaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Every non-empty document of a YAML stream; `origin` names it in errors.
pub fn parse_yaml_documents(text: &str, origin: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{origin}: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

pub fn yaml_documents(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    parse_yaml_documents(&text, &path.display().to_string())
}

/// `apiVersion` + `kind` → that version's openAPIV3Schema, from CRD files relative to the
/// workspace root.
pub type CrdSchemas = BTreeMap<(String, String), Value>;

pub fn crd_schemas(files: &[&str]) -> CrdSchemas {
    let mut schemas = BTreeMap::new();
    for file in files {
        for crd in yaml_documents(&workspace_root().join(file)) {
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
    }
    schemas
}

/// Paths of fields the schema does not declare, as strict field validation reports them.
pub fn unknown_fields(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
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

/// Every problem with one custom object; empty when it would be accepted.
pub fn problems(object: &Value, schemas: &CrdSchemas) -> Vec<String> {
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
