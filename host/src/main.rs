//! The `mqhost` executable: command line, configuration, logging, startup.

use std::path::PathBuf;
use std::process::ExitCode;

use mqhost::cli::{self, Command};
use mqhost::config::{self, HostConfig};

/// Exit status for bad arguments or configuration.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let command = match args {
        Ok(args) => cli::parse_args(args),
        Err(arg) => Err(format!("argument {arg:?} is not valid UTF-8")),
    };
    match command {
        Ok(Command::Help) => {
            print!("{}", cli::usage());
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("{}", cli::version_line());
            ExitCode::SUCCESS
        }
        Ok(Command::Ctl(args)) => finish(
            "ctl",
            mqhost::admin::ctl::run(&args).map_err(|e| {
                // With --json, the API's answer to a refusal goes out too.
                print!("{}", e.output);
                (e.message, e.status)
            }),
        ),
        Ok(Command::Admins(args)) => finish(
            "admins",
            mqhost::admin::admins::run(&args).map_err(|e| (e.message, e.status)),
        ),
        Ok(Command::Passwd(args)) => finish(
            "passwd",
            mqhost::access::passwd_command::run(&args).map_err(|e| (e.message, e.status)),
        ),
        Ok(Command::Run { config, overrides }) => run(config, &overrides),
        Err(e) => {
            eprintln!("mqhost: {e}");
            eprintln!("Try 'mqhost --help' for usage.");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Prints what subcommand `name` output, or its error message, and exits
/// with its status.
fn finish(name: &str, result: Result<String, (String, u8)>) -> ExitCode {
    match result {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err((message, status)) => {
            eprintln!("mqhost {name}: {message}");
            ExitCode::from(status)
        }
    }
}

/// Loads the configuration, starts logging and the runtime, and runs the broker.
fn run(config_arg: Option<PathBuf>, overrides: &[(String, String)]) -> ExitCode {
    let path = config::locate(config_arg.as_deref());
    let config = match HostConfig::load(path.as_deref(), overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mqhost: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    mqhost::logging::init(config.log.level.as_str());
    let access = match mqhost::access::decider::Decider::load(&config) {
        Ok(access) => access,
        Err(e) => {
            eprintln!("mqhost: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Before the runtime's threads exist: see open_files.
    match mqhost::open_files::prepare() {
        Some(files) => tracing::debug!(
            "open files: soft limit {} (was {}), descriptor table grown to {}",
            files.soft,
            files.was,
            files.table
        ),
        None => tracing::debug!("open files: limits not readable, left as they are"),
    }

    let runtime = match runtime(config.node.worker_threads) {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime
        .block_on(async {
            let source = match config.config_file() {
                Some(path) => path.display().to_string(),
                None => "built-in defaults".to_owned(),
            };
            tracing::info!(
                "{} starting, node {}, config {source}",
                cli::version_line(),
                config.node.name
            );
            mqhost::server::run(config, access).await
        })
        .map_or_else(
            |e| {
                tracing::error!("{e}");
                ExitCode::FAILURE
            },
            |()| ExitCode::SUCCESS,
        )
}

/// One thread keeps packets from different connections in arrival order
/// (a multi-thread scheduler may run a later-woken task first); more
/// threads trade that for parallelism.
fn runtime(threads: u16) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(threads))
            .enable_all()
            .build()
    }
}
