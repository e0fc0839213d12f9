//! `carbonado whisper <verb>`: the whisper-*.py scripts, same arguments, same output.

use clap::Subcommand;

/// One whisper maintenance verb.
#[derive(Subcommand)]
pub enum WhisperCommand {}

/// Runs one verb.
pub fn run(verb: WhisperCommand) -> anyhow::Result<()> {
    match verb {}
}
