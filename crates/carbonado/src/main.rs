//! The `carbonado` binary: one process, roles switched on by configuration.

mod whisper_cmd;

use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Whisper { verb } => whisper_cmd::run(verb),
    }
}
