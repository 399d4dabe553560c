//! `node-server bench` (issue 3 fills this in).

/// Arguments of `node-server bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

/// Runs the benchmark.
pub fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("node-server bench is not built yet")
}
