//! Decision cost per exchange: one rule evaluation over a typical activation (an identity with
//! claims, a request with headers, a few findings) for policies of 1, 20 and 200 rules, none
//! of which matches, so every rule is evaluated: the worst case of first-match-decides.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sluice_core::Category;
use sluice_core::exchange::Direction;
use sluice_core::policy::identity::{Identity, IdentitySource};
use sluice_core::policy::rules::{Activation, FindingFact, RequestFacts, RuleSet, RuleSpec};

fn specs(n: usize) -> Vec<RuleSpec> {
    let shapes = [
        r#"identity.claims.groups.exists(g, g == "contractors-{i}") && findings.exists(f, f.category == "credential")"#,
        "",
        r#"request.host == "h{i}.example" && request.path.startsWith("/v1/")"#,
        r#"identity.principal == "svc-{i}" && direction == "response""#,
    ];
    (0..n)
        .map(|i| {
            let when = shapes[i % shapes.len()].replace("{i}", &i.to_string());
            serde_json::from_value(serde_json::json!({
                "id": format!("r{i}"),
                // The allow-list shape names the request's model, so it stays false too.
                "when": if i % 4 == 1 { format!(r#"!(model in ["gpt-x", "m{i}"])"#) } else { when },
                "action": "block",
            }))
            .unwrap()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let identity = Identity {
        principal: Some("alice".into()),
        source: Some(IdentitySource::Jwt),
        claims:
            serde_json::json!({"sub": "alice", "groups": ["employees", "eu"], "iss": "https://idp"})
                .as_object()
                .cloned()
                .unwrap(),
    };
    let headers: Vec<(String, String)> = [
        ("content-type", "application/json"),
        ("user-agent", "OpenAI/Python 1.0"),
        ("x-request-id", "0b7e4c1e-5d0a-4b8e-9f00-123456789abc"),
        ("authorization", "[redacted]"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let findings = vec![FindingFact {
        rule: "email",
        category: Category::Pii,
        direction: Direction::Request,
        count: 1,
    }];
    let mut g = c.benchmark_group("rules/decision");
    for n in [1usize, 20, 200] {
        let rules = RuleSet::compile(&specs(n)).unwrap();
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                // Per exchange: the activation is built once, then evaluated.
                let act = Activation::new(
                    &identity,
                    RequestFacts {
                        method: "POST",
                        path: "/v1/chat/completions",
                        host: "api.openai.com",
                        headers: &headers,
                        api: "openai-chat",
                        model: Some("gpt-x"),
                        request_id: Some("0b7e4c1e"),
                    },
                );
                let d = rules.evaluate(&act, Direction::Request, &findings, 0.0);
                assert!(d.action.is_none());
                d
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
