//! Envoy's admin `/stats`, read over the admin port a [`Stack`] exposes: the gauges that show
//! open requests and connections.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::client::{self, Request};
use crate::harness::Stack;

/// The gauges that count what is open: requests and connections, downstream and per cluster.
const GAUGES: &str = "(downstream_rq_active|downstream_cx_active|upstream_rq_active|upstream_cx_active|upstream_rq_pending_active)$";

/// Gauges of what is open, by full stat name (`cluster.sluice.upstream_rq_active`, …). The
/// admin listener's own stats (`http.admin.*`, `listener.admin.*`) are left out: the
/// request reading them is open while they are read. `None` when the admin does not answer.
pub async fn open_gauges(stack: &Stack) -> Option<BTreeMap<String, u64>> {
    let path = format!("/stats?filter={GAUGES}");
    let response = client::send(stack.admin(), &Request::get(&path), Duration::from_secs(5))
        .await
        .ok()?;
    if response.status != 200 {
        return None;
    }
    Some(parse_stats(&response.text()))
}

fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| line.split_once(": "))
        .filter(|(name, _)| !name.contains(".admin."))
        .filter_map(|(name, value)| Some((name.trim().to_owned(), value.trim().parse().ok()?)))
        .collect()
}

/// The requests Envoy still has open, in the gauges that matter for a stream's lifetime:
/// downstream requests of the data-plane listener and requests (ext_proc: gRPC streams) to
/// each cluster. Connections are left out: pools keep idle ones open on purpose.
pub fn open_requests(gauges: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    gauges
        .iter()
        .filter(|(name, _)| {
            name.ends_with(".downstream_rq_active")
                || name.ends_with(".upstream_rq_active")
                || name.ends_with(".upstream_rq_pending_active")
        })
        .map(|(n, v)| (n.clone(), *v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gauges_without_the_admin_listener() {
        let text = "cluster.sluice.upstream_cx_active: 2\ncluster.sluice.upstream_rq_active: 0\n\
                    http.admin.downstream_rq_active: 1\nhttp.sluice_ingress.downstream_rq_active: 3\n\
                    listener.admin.downstream_cx_active: 1\n";
        let g = parse_stats(text);
        assert_eq!(g.len(), 3);
        assert_eq!(g.get("http.sluice_ingress.downstream_rq_active"), Some(&3));
        let open = open_requests(&g);
        assert_eq!(
            open.keys().collect::<Vec<_>>(),
            vec![
                "cluster.sluice.upstream_rq_active",
                "http.sluice_ingress.downstream_rq_active"
            ]
        );
    }
}
