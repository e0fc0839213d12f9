//! The `carbonado` binary: one process, roles switched on by configuration.

mod config;
mod http;
mod listen_transport;
mod rebalance;
mod relay_role;
mod selfmetrics;
mod serve;
mod storage;
mod whisper_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: receivers allocate and free a name per point, and glibc's
/// consolidation of freed chunks was about a third of the receivers' time (perf, bench/ingest.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Carbonado: a Graphite-compatible, distributed metrics store.
#[derive(Parser)]
#[command(name = "carbonado", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Whisper file tools, argument- and output-compatible with whisper's `whisper-*.py` scripts.
    Whisper {
        #[command(subcommand)]
        verb: whisper_cmd::WhisperCommand,
    },
    /// Runs the roles enabled in the configuration (the embedded default without --config).
    Serve {
        /// carbonado.toml to run.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Moves whisper files to where the relay's ring places them (dry run unless --apply).
    Rebalance(rebalance::RebalanceArgs),
    /// Validates a configuration file and prints what `serve` would run.
    CheckConfig {
        /// carbonado.toml to check.
        file: PathBuf,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CARBONADO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Whisper { verb } => whisper_cmd::run(verb),
        Command::Serve { config } => {
            init_logging();
            let cfg = match config {
                Some(path) => config::Config::load(&path)?,
                None => config::Config::embedded_default()?,
            };
            serve::run(&cfg)
        }
        Command::Rebalance(args) => {
            init_logging();
            rebalance::run(args)
        }
        Command::CheckConfig { file } => {
            let cfg = config::Config::load(&file)?;
            print!("{}", config::describe(&cfg)?);
            Ok(())
        }
    }
}
