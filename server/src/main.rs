//! The `ragd` binary.

use clap::Parser;
use server::cli::{self, Cli};

fn main() {
    // What ragd writes (the database, the index, original files, backups) is for its own
    // user only: folders 0700, files 0600.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    // A document parsed in a child process: no runtime, no log set-up, limits first.
    if let cli::Command::ParseChild(args) = &cli.command {
        std::process::exit(server::isolate::child_main(args));
    }
    let filter = cli
        .log
        .clone()
        .unwrap_or_else(|| cli.default_log().to_string());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(cli::run(cli));
    // Blocking tasks still running (an abandoned parse) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
