//! `sluice envoy-bootstrap`.
use clap::Args;

#[derive(Args, Debug)]
pub struct BootstrapArgs {}

pub fn bootstrap(_args: BootstrapArgs) -> anyhow::Result<()> {
    Ok(())
}
