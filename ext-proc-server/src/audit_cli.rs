//! `sluice audit keygen` and `sluice audit verify`.
//!
//! Exit status of `verify`: 0 = every record's signature, order and chain are intact; 1 = a
//! record is bad (the first is named as FILE:LINE); 2 = usage error (missing file, bad key).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use sluice_core::audit::{SigningKey, Verifier, VerifyingKey};

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Write a new Ed25519 signing key: PREFIX.key (secret, mode 0600) and PREFIX.pub.
    Keygen(KeygenArgs),
    /// Check the signatures, order and hash chain of audit files.
    ///
    /// Give all files at once (rotated files and several instances' files, in any order):
    /// each instance's chain is checked across them. Exit status: 0 intact, 1 a bad record
    /// (the first is named FILE:LINE), 2 usage error.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Path prefix of the two files written.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Audit files (the current one and rotated ones, of one or more instances).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Public key file (PREFIX.pub); repeat to accept records signed by any of several keys.
    #[arg(long, required = true)]
    pub key: Vec<PathBuf>,
}

pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Keygen(args) => keygen(&args.out).map(|()| ExitCode::SUCCESS),
        AuditCommand::Verify(args) => verify(&args),
    }
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn keygen(prefix: &Path) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no entropy source: {e}"))?;
    let key = SigningKey::from_seed(seed);
    seed.fill(0);
    let secret_path = with_suffix(prefix, ".key");
    let public_path = with_suffix(prefix, ".pub");
    // Never overwrite a key: a lost signing key makes the trail it signed unverifiable only
    // if its public half is lost too, but an overwritten one is a silent surprise.
    let mut secret = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret_path)
        .with_context(|| format!("creating {}", secret_path.display()))?;
    secret
        .write_all(key.to_key_file().as_bytes())
        .and_then(|()| secret.sync_all())
        .with_context(|| format!("writing {}", secret_path.display()))?;
    let public = key.verifying_key();
    std::fs::write(&public_path, public.to_pub_file())
        .with_context(|| format!("writing {}", public_path.display()))?;
    println!(
        "wrote {} (secret) and {} (public key {})",
        secret_path.display(),
        public_path.display(),
        public.to_hex()
    );
    Ok(())
}

/// Reads a `.key` file (the signing key for `sluice serve --audit-key`).
pub fn read_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading audit key {}", path.display()))?;
    SigningKey::from_key_file(&text).with_context(|| format!("audit key {}", path.display()))
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut keys = Vec::new();
    for path in &args.key {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading public key {}", path.display()))?;
        keys.push(
            VerifyingKey::from_pub_file(&text)
                .with_context(|| format!("public key {}", path.display()))?,
        );
    }
    // Read every file first: a missing one is a usage error, whatever the others hold.
    let mut contents = Vec::new();
    for path in &args.files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        contents.push((path.display().to_string(), bytes));
    }
    let mut verifier = Verifier::new(keys);
    for (name, bytes) in &contents {
        verifier.add_file(name, bytes);
    }
    let report = verifier.finish();
    for (file, line) in &report.truncated {
        println!(
            "{file}:{line}: truncated tail: incomplete last line (a write cut short; that exchange was never released)"
        );
    }
    if let Some(first) = report.failures.first() {
        println!("FAILED {first}");
        for more in report.failures.iter().skip(1).take(20) {
            println!("  also {more}");
        }
        return Ok(ExitCode::from(1));
    }
    for c in &report.chains {
        println!(
            "ok instance {}: {} records, seq {}..{}, head {}",
            c.instance, c.records, c.first_seq, c.last_seq, c.head
        );
    }
    if report.chains.is_empty() {
        println!("ok: no records");
    }
    Ok(ExitCode::SUCCESS)
}
