//! Data classes: `source-code-<language>` and `bulk-pii`, from the classifiers to the
//! exchange. Every sample is written here; people and numbers are made up.

use std::path::{Path, PathBuf};

use sluice_core::detect::classify::{self, MIN_PII_RECORDS};
use sluice_core::detect::{DetectorOptions, Scanner};
use sluice_core::{BodyOutcome, Engine, ExchangeContext, HeadersOutcome, Policy};

const RUST: &str = r##"use std::collections::HashMap;

/// Counts words.
pub fn word_counts(text: &str) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_insert(0) += 1;
    }
    counts
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, Error> {
        let raw = std::fs::read_to_string(path)?;
        let cfg: Config = toml::from_str(&raw)?;
        Ok(cfg)
    }
}
"##;

const PYTHON: &str = r##"import os
from pathlib import Path


class Inventory:
    def __init__(self, root):
        self.root = Path(root)
        self.items = []

    def scan(self):
        for name in os.listdir(self.root):
            if name.endswith(".json"):
                self.items.append(name)
        return len(self.items)


if __name__ == "__main__":
    inv = Inventory("/tmp")
    print(inv.scan())
"##;

const JAVASCRIPT: &str = r##"const express = require('express');
const app = express();

app.get('/users/:id', async (req, res) => {
  const user = await db.findUser(req.params.id);
  if (user === undefined) {
    return res.status(404).json({ error: 'not found' });
  }
  res.json(user);
});

function start(port) {
  app.listen(port, () => console.log(`listening on ${port}`));
}

module.exports = { start };
"##;

const TYPESCRIPT: &str = r##"interface User {
  id: number;
  name: string;
}

export async function fetchUsers(base: string): Promise<User[]> {
  const res = await fetch(`${base}/users`);
  if (!res.ok) {
    throw new Error(`status ${res.status}`);
  }
  const body = await res.json();
  return body.users.filter((u: User) => u.id !== 0);
}
"##;

const GO: &str = r##"package main

import (
	"fmt"
	"net/http"
)

func handler(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		http.Error(w, "missing name", http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "hello %s", name)
}

func main() {
	http.HandleFunc("/", handler)
	if err := http.ListenAndServe(":8080", nil); err != nil {
		panic(err)
	}
}
"##;

const JAVA: &str = r##"package com.example.orders;

import java.util.ArrayList;
import java.util.List;

public class OrderService {
    private final List<Order> orders = new ArrayList<>();

    public void add(Order order) throws InvalidOrderException {
        if (order.getTotal() < 0) {
            throw new InvalidOrderException("negative total");
        }
        orders.add(order);
    }

    public static void main(String[] args) {
        System.out.println("orders: " + new OrderService().orders.size());
    }
}
"##;

const C: &str = r##"#include <stdio.h>
#include <stdlib.h>

struct node {
    int value;
    struct node *next;
};

struct node *push(struct node *head, int value) {
    struct node *n = malloc(sizeof(struct node));
    if (n == NULL) {
        return head;
    }
    n->value = value;
    n->next = head;
    return n;
}

int main(void) {
    struct node *list = push(NULL, 42);
    printf("%d\n", list->value);
    free(list);
    return 0;
}
"##;

const CPP: &str = r##"#include <iostream>
#include <vector>

template <typename T>
class Stack {
public:
    void push(const T& v) { items_.push_back(v); }
    T pop() {
        T v = items_.back();
        items_.pop_back();
        return v;
    }
private:
    std::vector<T> items_;
};

int main() {
    Stack<int> s;
    s.push(1);
    std::cout << s.pop() << std::endl;
    return 0;
}
"##;

const CSHARP: &str = r##"using System;
using System.Collections.Generic;

namespace Shop.Models
{
    public class Customer
    {
        public int Id { get; set; }
        public string Name { get; set; }

        public async Task<bool> SaveAsync(IRepository repo)
        {
            var ok = await repo.StoreAsync(this);
            Console.WriteLine($"saved {Id}: {ok}");
            return ok;
        }
    }
}
"##;

const RUBY: &str = r##"require 'json'

class Report
  attr_accessor :rows

  def initialize(rows)
    @rows = rows
  end

  def totals
    rows.each do |row|
      puts "#{row[:name]}: #{row[:total]}"
    end
  end

  def empty?
    rows.nil? || rows.empty?
  end
end
"##;

const PHP: &str = r##"<?php

namespace App\Http\Controllers;

class UserController extends Controller
{
    public function show($id)
    {
        $user = $this->users->find($id);
        if ($user === null) {
            abort(404);
        }
        return view('user.profile', ['user' => $user]);
    }
}
"##;

const SHELL: &str = r##"#!/bin/bash
set -euo pipefail

BACKUP_DIR="/var/backups/db"
mkdir -p "$BACKUP_DIR"

for db in $(psql -At -c "select datname from pg_database"); do
  if [ "$db" = "template0" ]; then
    continue
  fi
  pg_dump "$db" | gzip > "$BACKUP_DIR/$db.sql.gz"
done

find "$BACKUP_DIR" -mtime +7 -delete 2>/dev/null
echo "done"
"##;

const SQL: &str = r##"CREATE TABLE orders (
    id SERIAL PRIMARY KEY,
    customer_id INTEGER NOT NULL,
    total NUMERIC(10, 2) NOT NULL,
    created_at TIMESTAMP DEFAULT now()
);

SELECT c.name, COUNT(o.id) AS orders, SUM(o.total) AS spent
FROM customers c
LEFT JOIN orders o ON o.customer_id = c.id
WHERE o.created_at > now() - interval '30 days'
GROUP BY c.name
ORDER BY spent DESC
LIMIT 20;
"##;

/// Every language, as a prompt would carry it: unfenced, and fenced with its info string.
const SAMPLES: &[(&str, &str, &str)] = &[
    ("rust", "rust", RUST),
    ("python", "python", PYTHON),
    ("javascript", "js", JAVASCRIPT),
    ("javascript", "typescript", TYPESCRIPT),
    ("go", "go", GO),
    ("java", "java", JAVA),
    ("c", "c", C),
    ("cpp", "cpp", CPP),
    ("csharp", "csharp", CSHARP),
    ("ruby", "ruby", RUBY),
    ("php", "php", PHP),
    ("shell", "bash", SHELL),
    ("sql", "sql", SQL),
];

#[test]
fn every_language_is_named_unfenced() {
    for (language, _, code) in SAMPLES {
        let prompt = format!("Can you review this?\n\n{code}\nThanks, it fails in production.");
        let found = classify::source_code(&prompt)
            .unwrap_or_else(|| panic!("{language}: no source code found"));
        assert_eq!(found.language, *language, "unfenced {language}");
        assert!(found.lines >= 8, "{language}: {} lines", found.lines);
        let block = &prompt[found.start..found.end];
        assert!(!block.contains("Can you review"), "{language}: {block:?}");
        assert!(!block.contains("Thanks"), "{language}: {block:?}");
    }
}

#[test]
fn every_language_is_named_fenced_with_or_without_info() {
    for (language, info, code) in SAMPLES {
        let prompt = format!("Why does this not compile?\n\n```{info}\n{code}```\n\nThanks!");
        let found = classify::source_code(&prompt).expect(language);
        assert_eq!(found.language, *language, "fenced {info}");
        assert_eq!(
            &prompt[found.start..found.end],
            code.trim_end(),
            "{language}"
        );
        // Without an info string the tokens decide.
        let bare = format!("Why does this not compile?\n\n```\n{code}```\n");
        let found = classify::source_code(&bare).expect(language);
        assert_eq!(found.language, *language, "fenced, no info: {language}");
    }
}

#[test]
fn code_like_text_no_language_wins_is_unknown() {
    let code =
        "x = load(a)\ny = f(x)\nz = g(y, x)\nw = h(z)\nv = k(w)\nu = m(v)\nt = n(u)\ns = p(t)\n";
    let found = classify::source_code(code).expect("code");
    assert_eq!(found.language, "unknown");
}

const PROSE_WITH_INLINE: &str = "To fix it, call `cargo clean` and rebuild. The `target` \
directory holds the old artifacts; removing it is safe.\nIf that does not help, check the \
lock file.\n";

const SNIPPET: &str = "Try this:\n\n```python\nimport os\nprint(os.getcwd())\nos.chdir('/tmp')\n```\n\nIt prints the directory.";

const MARKDOWN: &str = "# Release notes\n\nThe following changed:\n\n- faster startup (about 20 %)\n- new `--quiet` flag\n- fixed a crash on empty input\n- docs: a section on proxies\n\n| option | default | meaning |\n|---|---|---|\n| `--port` | 8080 | where to listen |\n| `--host` | 0.0.0.0 | which address |\n| `--quiet` | off | less output |\n| `--workers` | 4 | threads |\n| `--timeout` | 30s | per request |\n| `--log` | info | log level |\n| `--config` | none | file to read |\n\n1. Install it.\n2. Run it.\n3. Enjoy.\n";

const YAML: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: web\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n          ports:\n            - containerPort: 80\n          args: [\"--port\", \"80\"]\n";

const JSON_DATA: &str = "{\n  \"name\": \"sluice\",\n  \"version\": \"1.2.0\",\n  \"private\": true,\n  \"scripts\": {\n    \"build\": \"tsc -p .\",\n    \"test\": \"jest\"\n  },\n  \"dependencies\": {\n    \"express\": \"^4.19.2\",\n    \"pg\": \"^8.11.0\"\n  },\n  \"tags\": [\"a\", \"b\", \"c\"],\n  \"count\": 12\n}\n";

const LOG: &str = "2026-12-07T10:00:01Z INFO server: listening on 0.0.0.0:8080\n2026-12-07T10:00:02Z INFO db: connected (pool=10)\n2026-12-07T10:00:05Z WARN http: slow request GET /api/users took 1203ms\n2026-12-07T10:00:06Z ERROR http: handler panicked: index out of bounds\n2026-12-07T10:00:06Z INFO http: 500 GET /api/users/7\n2026-12-07T10:00:07Z INFO http: 200 GET /health\n2026-12-07T10:00:09Z INFO http: 200 GET /health\n2026-12-07T10:00:10Z WARN db: retrying query (attempt=2)\n2026-12-07T10:00:12Z INFO http: 200 POST /api/orders\n[2026-12-07 10:00:13] worker.INFO: job finished {\"id\": 12}\n[2026-12-07 10:00:14] worker.INFO: job started {\"id\": 13}\n";

const ESSAY: &str = "The history of the canal is a long one. Work began in 1820, when the company\nbought the land along the river and hired a few hundred labourers from the nearby\ntowns. For the first decade progress was slow: the ground was wet, the money was\nshort, and the engineers argued about the route (some wanted the northern bank,\nothers the southern one). When the first barges finally passed in 1834, the\ntown held a fair that lasted three days.\n\nToday the canal carries mostly pleasure boats. If you walk along the towpath\nfrom the lock to the old warehouse, you will see the iron rings where the horses\nwere tied, and the marks the ropes left on the stone. It is a quiet place; on a\nSunday morning you may meet only a fisherman or two.\n";

#[test]
fn prose_snippets_tables_logs_json_and_yaml_are_not_source_code() {
    for (name, text) in [
        ("inline code", PROSE_WITH_INLINE),
        ("3-line snippet", SNIPPET),
        ("markdown", MARKDOWN),
        ("yaml", YAML),
        ("json", JSON_DATA),
        ("log", LOG),
        ("essay", ESSAY),
        ("empty", ""),
        ("newlines", &"\n".repeat(10_000)),
    ] {
        assert_eq!(classify::source_code(text), None, "{name}");
        let fenced = format!("Here:\n```\n{text}\n```\n");
        assert_eq!(classify::source_code(&fenced), None, "fenced {name}");
    }
    for info in ["json", "yaml", "text", "log"] {
        let fenced = format!("```{info}\n{RUST}```\n");
        assert_eq!(classify::source_code(&fenced), None, "fenced as {info}");
    }
}

#[test]
fn odd_inputs_are_cheap_and_do_not_fire() {
    let long = "a".repeat(2 << 20);
    assert_eq!(classify::source_code(&long), None);
    let long_code = "let x = f(y);".repeat(100_000);
    assert_eq!(
        classify::source_code(&long_code),
        None,
        "one line is not a block"
    );
    let unclosed = format!("```rust\n{RUST}");
    assert_eq!(
        classify::source_code(&unclosed).map(|s| s.language),
        Some("rust")
    );
    let fences = "```\n".repeat(1000);
    assert_eq!(classify::source_code(&fences), None);
    let multibyte = "é😀\n".repeat(1000);
    assert_eq!(classify::source_code(&multibyte), None);
    let big = RUST.repeat(2000);
    let t = std::time::Instant::now();
    let found = classify::source_code(&big).expect("big block");
    assert_eq!(found.language, "rust");
    assert!(t.elapsed().as_secs() < 2, "{:?}", t.elapsed());
}

fn corpus(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("../tests/corpus").join(name),
        manifest.join("../../shared/corpus").join(name),
        manifest.join("../../../shared/corpus").join(name),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("corpus file {name} not found"))
}

/// Benign prose of the corpora: the injection development set's benign rows, and the
/// training corpus's rows from prose sources (e-mails, questions, word problems).
fn benign_prose() -> Vec<String> {
    let mut out = Vec::new();
    let read = |p: PathBuf| std::fs::read_to_string(p).expect("corpus readable");
    for line in read(corpus("injection-dev.jsonl")).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("jsonl");
        if v["label"] == "benign" {
            out.push(v["text"].as_str().unwrap_or_default().to_string());
        }
    }
    let prose = [
        "BIPIA",
        "grade-school-math",
        "oos-eval",
        "banking_data",
        "self-instruct",
    ];
    for line in read(corpus("injection-train/dev.jsonl")).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("jsonl");
        let source = v["source"].as_str().unwrap_or_default();
        if v["label"] == "benign" && prose.iter().any(|p| source.contains(p)) {
            out.push(v["text"].as_str().unwrap_or_default().to_string());
        }
    }
    out
}

#[test]
fn benign_prose_of_the_corpus_fires_neither_class() {
    let texts = benign_prose();
    assert!(texts.len() >= 100, "{} texts", texts.len());
    let scanner = Scanner::new(&DetectorOptions {
        source_code: true,
        bulk_pii: true,
        ..DetectorOptions::default()
    })
    .unwrap();
    for text in &texts {
        let mut out = Vec::new();
        scanner.scan(text, &mut out);
        scanner.classify(text, &mut out);
        let fired: Vec<&str> = out
            .iter()
            .filter(|f| classify::is_data_class(f.category))
            .map(|f| f.rule)
            .collect();
        assert!(fired.is_empty(), "{fired:?} on {text:?}");
    }
}

const FIRST: &[&str] = &[
    "Ada", "Brice", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira",
    "Lars",
];
const LAST: &[&str] = &[
    "Moreau", "Novak", "Okafor", "Petit", "Quinn", "Rossi", "Silva", "Tanaka", "Ueda", "Varga",
    "Weber", "Xu",
];

fn people() -> impl Iterator<Item = (usize, String, String, String)> {
    FIRST.iter().zip(LAST).enumerate().map(|(i, (f, l))| {
        let email = format!("{}.{}@example.org", f.to_lowercase(), l.to_lowercase());
        let phone = format!("(212) 555-{:04}", 1200 + i * 7);
        (i, f.to_string(), l.to_string(), format!("{email},{phone}"))
    })
}

fn scan_all(text: &str) -> Vec<sluice_core::Finding> {
    let scanner = Scanner::new(&DetectorOptions {
        source_code: true,
        bulk_pii: true,
        ..DetectorOptions::default()
    })
    .unwrap();
    let mut out = Vec::new();
    scanner.scan(text, &mut out);
    scanner.classify(text, &mut out);
    out
}

#[test]
fn csv_dump_of_people_is_bulk_pii() {
    let mut csv = String::from("id,first,last,email,phone\n");
    for (i, f, l, contact) in people() {
        csv.push_str(&format!("{i},{f},{l},{contact}\n"));
    }
    let findings = scan_all(&csv);
    let bulk = classify::bulk_pii(&csv, &findings).expect("bulk");
    assert_eq!(bulk.records, FIRST.len());
    assert!(bulk.start > 0 && csv[..bulk.start].ends_with("phone\n"));
    let f: Vec<_> = findings.iter().filter(|f| f.rule == "bulk-pii").collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].category.as_str(), "data-class");
    // TSV alike; the same rows as a prompt with a question around them too.
    let tsv = csv.replace(',', "\t");
    assert!(classify::bulk_pii(&tsv, &scan_all(&tsv)).is_some());
    let prompt = format!("Please dedupe this list:\n\n{csv}\nKeep the newest row.");
    assert!(scan_all(&prompt).iter().any(|f| f.rule == "bulk-pii"));
}

#[test]
fn json_array_dumps_are_bulk_pii_one_record_per_object() {
    let objects: Vec<serde_json::Value> = people()
        .map(|(i, f, l, contact)| {
            let (email, phone) = contact.split_once(',').unwrap();
            serde_json::json!({"id": i, "name": format!("{f} {l}"),
                "contact": {"email": email, "phone": phone}})
        })
        .collect();
    let pretty = serde_json::to_string_pretty(&objects).unwrap();
    let bulk = classify::bulk_pii(&pretty, &scan_all(&pretty)).expect("pretty");
    assert_eq!(
        bulk.records,
        FIRST.len(),
        "nested e-mail and phone are one record"
    );
    let compact = serde_json::to_string(&serde_json::json!({"users": objects})).unwrap();
    let bulk = classify::bulk_pii(&compact, &scan_all(&compact)).expect("compact");
    assert_eq!(bulk.records, FIRST.len());
    let ndjson: String = objects.iter().map(|o| format!("{o}\n")).collect();
    let bulk = classify::bulk_pii(&ndjson, &scan_all(&ndjson)).expect("ndjson");
    assert_eq!(bulk.records, FIRST.len());
}

#[test]
fn few_records_are_not_bulk() {
    let answer = "You can reach the team at ada.moreau@example.org, brice.novak@example.org \
        or chiara.okafor@example.org; for billing call (212) 555-0134.\n";
    assert_eq!(classify::bulk_pii(answer, &scan_all(answer)), None);
    let mut csv = String::from("first,email\n");
    for (_, f, _, contact) in people().take(MIN_PII_RECORDS - 1) {
        csv.push_str(&format!("{f},{contact}\n"));
    }
    assert_eq!(classify::bulk_pii(&csv, &scan_all(&csv)), None);
    // One record carrying many addresses is one record.
    let one: String = people().map(|(_, _, _, c)| c).collect::<Vec<_>>().join(" ");
    assert_eq!(classify::bulk_pii(&one, &scan_all(&one)), None);
    assert_eq!(classify::bulk_pii("", &[]), None);
}

#[test]
fn switches_turn_each_class_off_and_default_policy_does_not_name_them() {
    let mut csv = String::new();
    for (i, f, l, contact) in people() {
        csv.push_str(&format!("{i},{f},{l},{contact}\n"));
    }
    let text = format!("{csv}\n```rust\n{RUST}```\n");
    let rules = |source_code: bool, bulk_pii: bool| {
        let s = Scanner::new(&DetectorOptions {
            source_code,
            bulk_pii,
            ..DetectorOptions::default()
        })
        .unwrap();
        let mut out = Vec::new();
        s.scan(&text, &mut out);
        s.classify(&text, &mut out);
        let mut r: Vec<&str> = out
            .iter()
            .filter(|f| classify::is_data_class(f.category))
            .map(|f| f.rule)
            .collect();
        r.sort_unstable();
        r
    };
    assert_eq!(rules(true, true), ["bulk-pii", "source-code-rust"]);
    assert_eq!(rules(true, false), ["source-code-rust"]);
    assert_eq!(rules(false, true), ["bulk-pii"]);
    assert!(rules(false, false).is_empty());

    let default = serde_json::to_string(&Policy::default()).unwrap();
    assert!(!default.contains("source_code") && !default.contains("bulk_pii"));
    let p = Policy::from_text("detectors: {source_code: true, bulk_pii: true}\n").unwrap();
    let options = p.detectors.options().unwrap();
    assert!(options.source_code && options.bulk_pii);
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("\"source_code\":true") && json.contains("\"bulk_pii\":true"));
    // A policy's own category may not take the data-class name.
    let err = Policy::from_text(
        "version: 2\ndetectors:\n  custom:\n    - {id: x, category: data-class, pattern: 'x+'}\n",
    );
    assert!(err.is_err());
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn chat(content: &str) -> Vec<u8> {
    serde_json::json!({"model": "m", "messages": [{"role": "user", "content": content}]})
        .to_string()
        .into_bytes()
}

#[test]
fn engine_flags_source_code_without_changing_the_request() {
    let policy = Policy::from_text("detectors: {source_code: true}\n").unwrap();
    let engine = Engine::new(policy).unwrap();
    let body = chat(&format!("Why is this slow?\n\n```rust\n{RUST}```\n"));
    let mut ex = engine.exchange(ExchangeContext {
        request_id: Some("code-1".into()),
        ..Default::default()
    });
    let HeadersOutcome::Continue(_) = ex.request_headers(&h(&[
        (":path", "/v1/chat/completions"),
        (":method", "POST"),
    ])) else {
        panic!("refused at headers")
    };
    assert_eq!(ex.request_body(&body, true), BodyOutcome::Unchanged);
    let HeadersOutcome::Continue(m) = ex.response_headers(&h(&[
        (":status", "200"),
        ("content-type", "application/json"),
    ])) else {
        panic!()
    };
    let decision = &m
        .set
        .iter()
        .find(|(k, _)| k == "x-sluice-decision")
        .unwrap()
        .1;
    assert!(decision.starts_with("flag"), "{decision}");
    let _ = ex.response_body(
        br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}]}"#,
        true,
    );
    let record = serde_json::to_value(ex.finish()).unwrap();
    let findings = record["findings"].to_string();
    assert!(findings.contains("source-code-rust"), "{record}");
    assert!(findings.contains("data-class"), "{record}");
}

#[test]
fn a_rule_blocks_source_code_in_the_provider_shape() {
    let policy = Policy::from_text(
        "version: 2\ndetectors: {source_code: true}\nrules:\n  - id: no-code\n    when: 'findings.exists(f, f.rule.startsWith(\"source-code\"))'\n    action: block\n",
    )
    .unwrap();
    let engine = Engine::new(policy).unwrap();
    let send = |path: &str, body: &[u8]| {
        let mut ex = engine.exchange(ExchangeContext::default());
        ex.request_headers(&h(&[(":path", path), (":method", "POST")]));
        ex.request_body(body, true)
    };
    let BodyOutcome::Reply(r) = send("/v1/chat/completions", &chat(GO)) else {
        panic!("expected a refusal");
    };
    assert_eq!(r.status, 403);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("no-code"),
        "{v}"
    );
    let anthropic = serde_json::json!({"model": "m", "max_tokens": 5,
        "messages": [{"role": "user", "content": format!("```python\n{PYTHON}```")}]});
    let BodyOutcome::Reply(r) = send("/v1/messages", anthropic.to_string().as_bytes()) else {
        panic!("expected a refusal");
    };
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["type"], "error", "Anthropic error shape: {v}");
    // Prose passes, and a masking policy never masks a code block.
    assert_eq!(
        send("/v1/chat/completions", &chat(ESSAY)),
        BodyOutcome::Unchanged
    );
}

#[test]
fn data_class_findings_are_never_masked() {
    // Even when a rule decides the request as a whole with `mask`.
    let policy = Policy::from_text(
        "version: 2\ndetectors: {source_code: true, bulk_pii: true}\nrules:\n  - id: mask-all\n    when: 'findings.exists(f, f.category == \"data-class\")'\n    action: mask\n",
    )
    .unwrap();
    let engine = Engine::new(policy).unwrap();
    let mut ex = engine.exchange(ExchangeContext::default());
    ex.request_headers(&h(&[
        (":path", "/v1/chat/completions"),
        (":method", "POST"),
    ]));
    let body = chat(JAVA);
    assert_eq!(ex.request_body(&body, true), BodyOutcome::Unchanged);
}
