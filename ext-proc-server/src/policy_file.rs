//! Reading a policy document from disk. JSON and YAML describe the same `Policy`, and the
//! core's own loader (`policy::document::check`) stays the only judge of what a valid policy
//! is; errors name the file, line and column.

use std::path::Path;

use sluice_core::Policy;
use sluice_core::policy::document::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("policy file {path} is not valid YAML: {source}")]
    Yaml {
        path: String,
        source: serde_yaml_ng::Error,
    },
    /// `FILE:LINE:COL: message`, the shape editors and CI annotate.
    #[error("{path}:{diagnostic}")]
    Invalid {
        path: String,
        diagnostic: Diagnostic,
    },
}

/// The policy document as JSON text, whether the file held JSON or YAML, and the file's bytes.
fn policy_json_and_bytes(path: &Path) -> Result<(String, Vec<u8>), PolicyFileError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| PolicyFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| PolicyFileError::Read {
        path: shown.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
    })?;
    let json = to_json(&text).map_err(|source| PolicyFileError::Yaml {
        path: shown,
        source,
    })?;
    Ok((json, text.into_bytes()))
}

/// The policy document as JSON text, whether the file held JSON or YAML.
pub fn policy_json(path: &Path) -> Result<String, PolicyFileError> {
    policy_json_and_bytes(path).map(|(json, _)| json)
}

/// Reads and validates a policy file.
pub fn load(path: &Path) -> Result<Policy, PolicyFileError> {
    load_document(path).map(|(policy, _)| policy)
}

/// Reads and validates a policy file; also returns the document's bytes as read (for the
/// policy hash in audit records).
pub fn load_document(path: &Path) -> Result<(Policy, Vec<u8>), PolicyFileError> {
    let bytes = read(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| PolicyFileError::Read {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    let policy = sluice_core::policy::document::check(text).map_err(|diagnostic| {
        PolicyFileError::Invalid {
            path: path.display().to_string(),
            diagnostic,
        }
    })?;
    Ok((policy, bytes))
}

pub fn read(path: &Path) -> Result<Vec<u8>, PolicyFileError> {
    std::fs::read(path).map_err(|source| PolicyFileError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// JSON text is kept as written (so the core reports JSON errors with JSON positions); any
/// other document is read as YAML and re-serialised as JSON.
fn to_json(text: &str) -> Result<String, serde_yaml_ng::Error> {
    if text.trim_start().starts_with('{') {
        return Ok(text.to_owned());
    }
    let value: serde_json::Value = serde_yaml_ng::from_str(text)?;
    // Serialising a `serde_json::Value` cannot fail.
    Ok(serde_json::to_string(&value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_give_the_same_policy() {
        let yaml = "version: 1\nlimits:\n  request_body_bytes: 1024\n";
        let json = r#"{"version":1,"limits":{"request_body_bytes":1024}}"#;
        let from_yaml = Policy::from_json(&to_json(yaml).unwrap()).unwrap();
        let from_json = Policy::from_json(&to_json(json).unwrap()).unwrap();
        assert_eq!(from_yaml, from_json);
        assert_eq!(from_yaml.limits.request_body_bytes, 1024);
    }

    #[test]
    fn unknown_fields_and_bad_yaml_are_errors() {
        assert!(Policy::from_json(&to_json("version: 1\nbogus: true\n").unwrap()).is_err());
        assert!(to_json("version: [1\n").is_err());
        assert!(Policy::from_json(&to_json("version: 7\n").unwrap()).is_err());
    }
}
