//! `sluice-mock-upstream`: the test suite's mock LLM provider as a standalone server, for
//! demos and latency benchmarks. Serves every API shape; request headers choose delivery
//! (`x-mock-chunking`, `x-mock-gap-ms`, `x-mock-gzip`, `x-mock-tokens`).

use std::net::SocketAddr;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "sluice-mock-upstream", version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free one; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mock = sluice_e2e::upstream::MockUpstream::start_on(args.listen)?;
    eprintln!("sluice-mock-upstream listening on {}", mock.addr());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(tokio::signal::ctrl_c())?;
    Ok(())
}
