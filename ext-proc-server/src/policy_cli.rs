//! `sluice policy check|test|explain`: policy as code in CI, with no Envoy involved. `test`
//! runs the document's own `tests:` through the same core engine the adapters drive.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use sluice_core::Engine;
use sluice_core::policy::testing::{self, CaseResult};

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate a policy file: exit 0 valid, 2 invalid (`FILE:LINE:COL: message` on stderr).
    Check { file: PathBuf },
    /// Run the file's `tests:` cases: exit 0 all pass, 1 any fails, 2 invalid file.
    Test { file: PathBuf },
    /// Show how one test case is decided: every rule's outcome in order.
    Explain {
        file: PathBuf,
        /// The test case's `name`.
        #[arg(long = "case")]
        case: String,
    },
}

pub fn run(command: PolicyCommand) -> ExitCode {
    match command {
        PolicyCommand::Check { file } => check(&file),
        PolicyCommand::Test { file } => test(&file),
        PolicyCommand::Explain { file, case } => explain(&file, &case),
    }
}

const INVALID: u8 = 2;

fn load(file: &Path) -> Result<Engine, ExitCode> {
    let (policy, bytes) = crate::policy_file::load_document(file).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(INVALID)
    })?;
    match Engine::new(policy) {
        Ok(engine) => Ok(engine.with_policy_document(&bytes)),
        Err(e) => {
            eprintln!("{}:1:1: {e}", file.display());
            Err(ExitCode::from(INVALID))
        }
    }
}

fn check(file: &Path) -> ExitCode {
    let engine = match load(file) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let p = engine.policy();
    println!(
        "{}: ok (version {}, policy_id {}, {} rules, {} tests, sha256 {})",
        file.display(),
        p.version,
        p.policy_id.as_deref().unwrap_or("-"),
        p.rules.len(),
        p.tests.len(),
        engine.policy_sha256()
    );
    ExitCode::SUCCESS
}

fn describe(r: &CaseResult) -> String {
    let mut s = format!(
        "decision={} rule={}",
        r.decision.as_str(),
        r.rule.as_deref().unwrap_or("-")
    );
    if !r.dry_run.is_empty() {
        s.push_str(&format!(" dry-run={}", r.dry_run.join(",")));
    }
    s
}

fn test(file: &Path) -> ExitCode {
    let engine = match load(file) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let results = testing::run(&engine);
    if results.is_empty() {
        println!("{}: no test cases", file.display());
        return ExitCode::SUCCESS;
    }
    let mut failed = 0;
    for r in &results {
        if r.passed {
            println!("PASS {}: {}", r.name, describe(r));
        } else {
            failed += 1;
            println!(
                "FAIL {}: {} ({})",
                r.name,
                describe(r),
                r.mismatches.join("; ")
            );
        }
    }
    println!(
        "{}: {} cases, {} passed, {} failed",
        file.display(),
        results.len(),
        results.len() - failed,
        failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn explain(file: &Path, name: &str) -> ExitCode {
    let engine = match load(file) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let Some(case) = engine.policy().tests.iter().find(|c| c.name == name) else {
        eprintln!("{}: no test case named {name:?}", file.display());
        return ExitCode::from(INVALID);
    };
    let r = testing::run_case(&engine, case);
    println!("case: {}", r.name);
    println!("decision: {}", r.decision.as_str());
    match &r.rule {
        Some(rule) => println!("decided by rule: {rule}"),
        None => println!("decided by: the per-category defaults (no rule decided)"),
    }
    for d in &r.dry_run {
        println!("matched without deciding: {d}");
    }
    for m in &r.mismatches {
        println!("expectation not met: {m}");
    }
    if r.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
