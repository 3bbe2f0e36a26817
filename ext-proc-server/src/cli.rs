//! `scan` and `redact`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// File to scan, or `-` for standard input.
    #[arg(default_value = "-")]
    pub input: PathBuf,
}

#[derive(Args, Debug)]
pub struct RedactArgs {
    #[arg(default_value = "-")]
    pub input: PathBuf,
}

pub fn scan(_args: ScanArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}

pub fn redact(_args: RedactArgs) -> anyhow::Result<()> {
    Ok(())
}
