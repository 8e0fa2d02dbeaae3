//! The command line: turning `mqhost`'s arguments into a [`Command`].
//!
//! ```text
//! mqhost [--config FILE] [--set KEY=VALUE]...   run the broker
//! mqhost ctl ...                                 control a running broker
//! mqhost passwd ...                              maintain a password file
//! mqhost admins ...                              maintain the admin users
//! mqhost --help | --version
//! ```
//!
//! Parsing is pure (no I/O), so `main` decides what to print and how to exit.

use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the broker.
    Run {
        /// The `--config` file, if given; `None` means "use the default".
        config: Option<PathBuf>,
        /// `--set KEY=VALUE` overrides, in command-line order.
        overrides: Vec<(String, String)>,
    },
    /// Print [`usage`] and exit.
    Help,
    /// Print [`version_line`] and exit.
    Version,
    /// `mqhost ctl ...`: the arguments after `ctl`.
    Ctl(Vec<String>),
    /// `mqhost passwd ...`: the arguments after `passwd`.
    Passwd(Vec<String>),
    /// `mqhost admins ...`: the arguments after `admins`.
    Admins(Vec<String>),
}

/// The `mqhost <version>` line printed by `--version`.
pub fn version_line() -> String {
    format!("mqhost {}", env!("CARGO_PKG_VERSION"))
}

/// The text printed by `--help`.
pub fn usage() -> String {
    format!(
        "\
{version}
An MQTT broker whose behaviour is extended by plugins.

Usage:
  mqhost [--config FILE] [--set KEY=VALUE]...
  mqhost ctl [CTL OPTIONS] status|listeners|config
  mqhost ctl [CTL OPTIONS] clients list|show ID|kick ID
  mqhost ctl [CTL OPTIONS] subscriptions ID [add TOPIC QOS | remove TOPIC]
  mqhost ctl [CTL OPTIONS] retained list|show TOPIC|delete TOPIC
  mqhost ctl [CTL OPTIONS] publish TOPIC PAYLOAD [--qos N] [--retain]
  mqhost ctl [CTL OPTIONS] plugins list|load|unload|reload NAME
  mqhost ctl [CTL OPTIONS] plugins config show|check|set NAME [FILE]
  mqhost passwd [-c | -D] FILE USER
  mqhost admins [--config FILE] add|delete NAME

Options:
  --config FILE      Read settings from FILE. Default: etc/mqhost.conf if it
                     exists in the current directory, else built-in defaults.
  --set KEY=VALUE    Override one setting after the file is read; repeatable.
                     Also written --set=KEY=VALUE.
  -h, --help         Print this help and exit.
  -V, --version      Print the version and exit.

CTL OPTIONS: --config FILE, --admin ADDR, --token-file FILE, --cacert FILE,
--json
(mqhost ctl --help says more).

Every setting is described in docs/configuration.md and etc/mqhost.conf.
RUST_LOG, when set, takes precedence over log.level.
",
        version = version_line()
    )
}

/// Parses the arguments after the program name (`std::env::args().skip(1)`).
///
/// `-h`/`--help` and `-V`/`--version` win as soon as they are seen. An
/// unknown option, a stray argument or a malformed `--set` is an error
/// message naming it.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let mut config: Option<PathBuf> = None;
    let mut overrides = Vec::new();
    let mut first = true;

    while let Some(arg) = args.next() {
        if first && arg == "ctl" {
            return Ok(Command::Ctl(args.collect()));
        }
        if first && arg == "passwd" {
            return Ok(Command::Passwd(args.collect()));
        }
        if first && arg == "admins" {
            return Ok(Command::Admins(args.collect()));
        }
        first = false;

        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        match name {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--config" => {
                let value = option_value(name, inline, &mut args)?;
                if value.is_empty() {
                    return Err("--config needs a file name".to_owned());
                }
                if config.is_some() {
                    return Err("--config given more than once".to_owned());
                }
                config = Some(PathBuf::from(value));
            }
            "--set" => {
                let value = option_value(name, inline, &mut args)?;
                overrides.push(parse_override(&value)?);
            }
            _ if name.starts_with('-') && name != "-" => {
                return Err(format!("unknown option {name:?}"));
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Command::Run { config, overrides })
}

/// The value of option `name`: after its `=`, or else the next argument.
fn option_value(
    name: &str,
    inline: Option<String>,
    args: &mut impl Iterator<Item = String>,
) -> Result<String, String> {
    match inline {
        Some(value) => Ok(value),
        None => args.next().ok_or_else(|| format!("{name} needs a value")),
    }
}

/// Splits a `--set` value at its first `=` into a trimmed key and value.
fn parse_override(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("--set expects KEY=VALUE, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    fn run(config: Option<&str>, overrides: &[(&str, &str)]) -> Command {
        Command::Run {
            config: config.map(PathBuf::from),
            overrides: overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn no_arguments_runs_with_the_default_config() {
        assert_eq!(parse(&[]), Ok(run(None, &[])));
    }

    #[test]
    fn config_accepts_separate_and_equals_forms() {
        assert_eq!(parse(&["--config", "a.conf"]), Ok(run(Some("a.conf"), &[])));
        assert_eq!(
            parse(&["--config=a=b.conf"]),
            Ok(run(Some("a=b.conf"), &[]))
        );
    }

    #[test]
    fn set_is_repeatable_in_both_forms_and_keeps_order() {
        let cmd = parse(&[
            "--set",
            "mqtt.max_inflight=10",
            "--config",
            "x.conf",
            "--set=node.name=a@b",
            "--set",
            "acl.deny_subscribe = a/#, b ",
            "--set=x.y=v=w",
        ]);
        assert_eq!(
            cmd,
            Ok(run(
                Some("x.conf"),
                &[
                    ("mqtt.max_inflight", "10"),
                    ("node.name", "a@b"),
                    ("acl.deny_subscribe", "a/#, b"),
                    ("x.y", "v=w"),
                ]
            ))
        );
    }

    #[test]
    fn set_may_give_an_empty_value() {
        assert_eq!(
            parse(&["--set", "acl.deny_subscribe="]),
            Ok(run(None, &[("acl.deny_subscribe", "")]))
        );
    }

    #[test]
    fn set_without_equals_or_key_is_an_error() {
        let err = parse(&["--set", "mqtt.max_inflight"]).unwrap_err();
        assert_eq!(err, r#"--set expects KEY=VALUE, got "mqtt.max_inflight""#);
        assert!(parse(&["--set", "=1"]).is_err());
        assert!(parse(&["--set="]).is_err());
    }

    #[test]
    fn option_missing_its_value_is_an_error() {
        assert_eq!(
            parse(&["--config"]),
            Err("--config needs a value".to_owned())
        );
        assert_eq!(parse(&["--set"]), Err("--set needs a value".to_owned()));
        assert!(parse(&["--config="]).is_err());
    }

    #[test]
    fn config_given_twice_is_an_error() {
        let err = parse(&["--config", "a", "--config", "b"]).unwrap_err();
        assert_eq!(err, "--config given more than once");
    }

    #[test]
    fn unknown_option_is_named() {
        assert_eq!(
            parse(&["--verbose"]),
            Err(r#"unknown option "--verbose""#.to_owned())
        );
        assert_eq!(
            parse(&["--foo=1"]),
            Err(r#"unknown option "--foo""#.to_owned())
        );
        assert_eq!(parse(&["-x"]), Err(r#"unknown option "-x""#.to_owned()));
    }

    #[test]
    fn stray_argument_is_named() {
        assert_eq!(
            parse(&["start"]),
            Err(r#"unexpected argument "start""#.to_owned())
        );
        assert_eq!(
            parse(&["--config", "a", "ctl"]),
            Err(r#"unexpected argument "ctl""#.to_owned())
        );
    }

    #[test]
    fn help_and_version_in_short_and_long_forms() {
        for arg in ["-h", "--help"] {
            assert_eq!(parse(&[arg]), Ok(Command::Help));
        }
        for arg in ["-V", "--version"] {
            assert_eq!(parse(&[arg]), Ok(Command::Version));
        }
        assert_eq!(parse(&["--config", "a", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn ctl_subcommand_collects_the_remaining_arguments() {
        assert_eq!(
            parse(&["ctl", "clients", "list", "--help"]),
            Ok(Command::Ctl(vec![
                "clients".into(),
                "list".into(),
                "--help".into()
            ]))
        );
        assert_eq!(parse(&["ctl"]), Ok(Command::Ctl(vec![])));
    }

    #[test]
    fn passwd_subcommand_collects_the_remaining_arguments() {
        let args = ["passwd", "-c", "pw", "--help"];
        let rest = args[1..].iter().map(|s| s.to_string()).collect();
        assert_eq!(parse(&args), Ok(Command::Passwd(rest)));
        assert!(usage().contains("mqhost passwd"));
    }

    #[test]
    fn admins_subcommand_collects_the_remaining_arguments() {
        let args = ["admins", "add", "alice"];
        let rest = args[1..].iter().map(|s| s.to_string()).collect();
        assert_eq!(parse(&args), Ok(Command::Admins(rest)));
        assert!(usage().contains("mqhost admins"));
    }

    #[test]
    fn version_line_names_the_crate_version() {
        assert_eq!(
            version_line(),
            format!("mqhost {}", env!("CARGO_PKG_VERSION"))
        );
        assert!(usage().contains("docs/configuration.md"));
        assert!(usage().contains("--set KEY=VALUE"));
    }
}
