//! The `luatrade` binary: parse, set up logging, run, map the outcome to an exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = luatrade::cli::Cli::parse();
    // A backtest counts its risk alerts in the report instead of logging each one.
    let default_filter = match cli.command {
        luatrade::cli::Command::Backtest(_) => "warn,luatrade::engine=error",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LUATRADE_LOG").unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match luatrade::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", luatrade::cli::error_text(&e));
            ExitCode::FAILURE
        }
    }
}
