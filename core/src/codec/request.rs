//! Request bodies: every text field through `filter.full`, spliced back in place.

use super::json_str::{JsonWalker, decode_string, encode_string, splice};
use super::shapes::{Plan, plan_request};
use super::{Api, CodecError, Role, StreamKey, StreamKind, TextFilter, TextRef};

/// Rewrites a request body; `None` when no text changed (forward the original bytes).
pub fn rewrite(
    api: Api,
    body: &[u8],
    filter: &mut dyn TextFilter,
) -> Result<Option<Vec<u8>>, CodecError> {
    let text = std::str::from_utf8(body).map_err(|_| CodecError::Utf8)?;
    if api == Api::Text {
        let mut out = String::new();
        filter.full(
            TextRef {
                key: StreamKey {
                    kind: StreamKind::Text,
                    index: 0,
                    sub: 0,
                },
                role: Role::User,
                text,
            },
            &mut out,
        );
        return Ok((out != text).then(|| out.into_bytes()));
    }
    let mut walker = JsonWalker::new();
    let mut plan = Plan::default();
    plan_request(api, body, &mut walker, &mut plan)?;
    let mut scratch = String::new();
    let mut changed: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for site in &plan.sites {
        let token = body.get(site.span.clone()).unwrap_or_default();
        let text = decode_string(token, &mut scratch);
        let mut out = String::new();
        filter.full(
            TextRef {
                key: site.key,
                role: site.role,
                text,
            },
            &mut out,
        );
        if out != text {
            changed.push((site.span.clone(), out));
        }
    }
    if changed.is_empty() {
        return Ok(None);
    }
    changed.sort_by_key(|c| c.0.start);
    let spans: Vec<_> = changed.iter().map(|c| c.0.clone()).collect();
    let mut out = Vec::with_capacity(body.len() + 64);
    splice(body, &spans, &mut out, |n, out| {
        encode_string(changed.get(n).map_or("", |c| c.1.as_str()), out);
    });
    Ok(Some(out))
}
