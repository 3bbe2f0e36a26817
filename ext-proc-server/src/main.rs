//! `sluice`: the command-line front of the engine and the ext_proc service.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod audit_cli;
mod audit_endpoint;
mod audit_sink;
mod bootstrap;
mod cli;
mod grpc;
mod listen;
mod metrics;
mod otlp;
mod policy_cli;
mod policy_file;
mod policy_reload;
mod serve;
mod service;
mod session;
mod trace_attributes;

/// Sluice inspects LLM traffic for leaked credentials, personal data and prompt injection.
#[derive(Parser, Debug)]
#[command(name = "sluice", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Scan(cli::ScanArgs),
    Redact(cli::RedactArgs),
    /// Serve the Envoy ext_proc gRPC service.
    Serve(serve::ServeArgs),
    /// Print an Envoy bootstrap (YAML) that puts Sluice in front of an upstream.
    EnvoyBootstrap(bootstrap::BootstrapArgs),
    /// Audit trail keys and verification.
    #[command(subcommand)]
    Audit(audit_cli::AuditCommand),
    /// Policy files: validate them and run their test cases.
    #[command(subcommand)]
    Policy(policy_cli::PolicyCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => cli::scan(args),
        Command::Redact(args) => cli::redact(args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => serve::serve(args).map(|()| ExitCode::SUCCESS),
        Command::EnvoyBootstrap(args) => bootstrap::bootstrap(args).map(|()| ExitCode::SUCCESS),
        Command::Audit(command) => audit_cli::run(command),
        Command::Policy(command) => Ok(policy_cli::run(command)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::from(2)
        }
    }
}
