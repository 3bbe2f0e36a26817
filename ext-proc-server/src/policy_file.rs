//! Policy files on disk: JSON, or YAML converted to the same document.

use sluice_core::Policy;

#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("not valid YAML/JSON: {0}")]
    Syntax(String),
    #[error(transparent)]
    Policy(#[from] sluice_core::policy::PolicyError),
}

/// Parses a policy written as JSON or YAML.
pub fn parse(text: &str) -> Result<Policy, PolicyFileError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return Ok(Policy::from_json(text)?);
    }
    let value: serde_json::Value =
        serde_yaml_ng::from_str(text).map_err(|e| PolicyFileError::Syntax(e.to_string()))?;
    Ok(Policy::from_json(&value.to_string())?)
}
