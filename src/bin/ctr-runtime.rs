//! `ctr-runtime`: ctr's OCI runtime with runc's command line, so that an
//! engine written for runc can drive it: `podman --runtime`, containerd's
//! runc shim (`BinaryName`), or a person with a bundle. The work is the
//! library's (`ctr::runtime`); this is the command line, runc's log format
//! (`--log FILE --log-format json`, read by podman and containerd), and
//! runc's exit statuses (1 for an error of the runtime's own).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use nix::sys::signal::Signal;
use oci_spec::runtime::{Process, Spec};

use ctr::container::{attach_and_wait, block_signals, tty};
use ctr::runtime::{self, ContainerId, CreateOptions, ExecOptions, Runtime};

#[derive(Parser)]
#[command(
    name = "ctr-runtime",
    version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: ", "1.1.0"),
    about = "ctr's OCI runtime, with runc's command line"
)]
struct Cli {
    /// Where the containers' state is kept
    #[arg(long, global = true, default_value = runtime::DEFAULT_ROOT, value_name = "DIR")]
    root: PathBuf,
    /// Also write errors to FILE (as podman and containerd ask)
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// The format of --log: text or json (runc's: one JSON object a line)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Ask for systemd's cgroup manager, which ctr-runtime does not have
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// More messages (accepted for runc's sake; ctr-runtime says little)
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Create a container from a bundle; its process waits for `start`
    Create {
        #[command(flatten)]
        create: CreateArgs,
    },
    /// Start a created container's process
    Start { id: String },
    /// Print a container's state (runtime-spec's JSON)
    State { id: String },
    /// Send a signal (default SIGTERM) to a container's PID 1, or all its processes
    Kill {
        /// Every process of the container, not only PID 1
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped container (--force: a running one too)
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container, and wait for it unless --detach
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once it has started, leaving it running
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits (no delete)
        #[arg(long)]
        keep: bool,
    },
    /// Run a new process in a running container
    Exec(ExecArgs),
    /// List a container's processes
    Ps {
        /// table (ps's own, kept to the container's lines) or json (a list of PIDs)
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// Options for ps (default -ef), after the ID
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_options: Vec<String>,
    },
    /// List the containers
    List {
        /// table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        /// IDs only
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print what this runtime implements (runtime-spec's features document)
    Features,
    /// Write a config.json to start from (runc's template: sh on a terminal)
    Spec {
        /// The bundle to write it in
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

#[derive(clap::Args)]
struct CreateArgs {
    /// The bundle: a directory with config.json
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Write PID 1's PID to this file
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// A unix socket to send the terminal's master to (process.terminal)
    #[arg(long, value_name = "SOCKET")]
    console_socket: Option<PathBuf>,
    /// Pass descriptors 3 to 3+N-1 on to the container
    #[arg(long, default_value_t = 0, value_name = "N")]
    preserve_fds: i32,
    /// Accepted for runc's sake: ctr-runtime always uses pivot_root
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc's sake: ctr-runtime makes no session keyring
    #[arg(long)]
    no_new_keyring: bool,
    id: String,
}

#[derive(clap::Args)]
struct ExecArgs {
    /// The process, as config.json's `process` (a JSON file)
    #[arg(short, long, value_name = "FILE")]
    process: Option<PathBuf>,
    #[arg(long, value_name = "SOCKET")]
    console_socket: Option<PathBuf>,
    /// Return once it has started
    #[arg(short, long)]
    detach: bool,
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// A terminal for the process
    #[arg(short, long)]
    tty: bool,
    /// Its working directory
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// An environment variable (K=V)
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// UID[:GID]
    #[arg(short, long)]
    user: Option<String>,
    #[arg(long)]
    no_new_privs: bool,
    /// Pass descriptors 3 to 3+N-1 on to the process
    #[arg(long, default_value_t = 0, value_name = "N")]
    preserve_fds: i32,
    id: String,
    /// The command and its arguments (unless --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = Log {
        file: cli.log.clone(),
        format: cli.log_format,
    };
    match dispatch(cli) {
        Ok(status) => ExitCode::from(status),
        Err(err) => {
            log.error(&format!("{err:#}"));
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8> {
    if cli.systemd_cgroup {
        bail!(
            "--systemd-cgroup: ctr-runtime has no systemd cgroup manager; \
             configure the engine for cgroupfs (podman: --cgroup-manager=cgroupfs)"
        );
    }
    let rt = Runtime::new(&cli.root);
    let id = |text: &str| ContainerId::parse(text);
    match cli.command {
        Command::Create { create } => {
            let id = id(&create.id)?;
            // As runc: the caller is gone before the program runs, so a
            // missing command fails create.
            rt.create(&id, &create.bundle, create_options(&create, true)?)?;
            Ok(0)
        }
        Command::Start { id: i } => {
            rt.start(&id(&i)?)?;
            Ok(0)
        }
        Command::State { id: i } => {
            let state = rt.state(&id(&i)?)?;
            println!("{}", serde_json::to_string_pretty(&state)?);
            Ok(0)
        }
        Command::Kill { all, id: i, signal } => {
            rt.kill(&id(&i)?, parse_signal(&signal)?, all)?;
            Ok(0)
        }
        Command::Delete { force, id: i } => {
            rt.delete(&id(&i)?, force)?;
            Ok(0)
        }
        Command::Run {
            create,
            detach,
            keep,
        } => run(&rt, &create, detach, keep),
        Command::Exec(args) => exec(&rt, args),
        Command::Ps {
            format,
            id: i,
            ps_options,
        } => {
            let pids = rt.ps(&id(&i)?)?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string(&pids)?),
                "table" => print!("{}", ps_table(&ps_options, &pids)?),
                other => bail!("--format {other}: use table or json"),
            }
            Ok(0)
        }
        Command::List { format, quiet } => {
            let states = rt.list()?;
            match (format.as_str(), quiet) {
                (_, true) => states.iter().for_each(|s| println!("{}", s.id)),
                ("json", _) => println!("{}", serde_json::to_string(&states)?),
                ("table", _) => {
                    let rows: Vec<[String; 5]> = states
                        .iter()
                        .map(|s| {
                            [
                                s.id.clone(),
                                s.pid.to_string(),
                                s.status.to_string(),
                                s.bundle.display().to_string(),
                                s.created.clone(),
                            ]
                        })
                        .collect();
                    print!(
                        "{}",
                        table(["ID", "PID", "STATUS", "BUNDLE", "CREATED"], &rows)
                    );
                }
                (other, _) => bail!("--format {other}: use table or json"),
            }
            Ok(0)
        }
        Command::Spec { bundle } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("{} exists already: remove it first", path.display());
            }
            let json = serde_json::to_vec_pretty(&ctr::container::spec::template())?;
            std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
            Ok(0)
        }
        Command::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&runtime::features::document())?
            );
            Ok(0)
        }
    }
}

fn create_options(create: &CreateArgs, check_command: bool) -> Result<CreateOptions> {
    let console = match &create.console_socket {
        Some(path) => Some(runtime::console::connect_socket(path)?),
        None => None,
    };
    Ok(CreateOptions {
        console,
        pid_file: create.pid_file.clone(),
        parent_death_signal: None,
        exec_error_prefix: "ctr-runtime: exec: ".into(),
        preserve_fds: create.preserve_fds.max(0),
        check_command,
    })
}

/// `run`: create, start, and (unless detached) wait, forwarding signals,
/// and delete; the status is the container's.
fn run(rt: &Runtime, create: &CreateArgs, detach: bool, keep: bool) -> Result<u8> {
    let id = ContainerId::parse(&create.id)?;
    let terminal = Spec::load(create.bundle.join("config.json"))
        .ok()
        .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
        == Some(true);
    // Waiting, the status says whether the command could run (127, 126).
    let mut options = create_options(create, detach)?;
    // A terminal with nobody to hand it to: ours relays it, as runc's does.
    let relay = terminal && options.console.is_none() && !detach;
    let ours = if relay {
        let (ours, theirs) = tty::console_socket()?;
        options.console = Some(theirs);
        Some(ours)
    } else {
        None
    };
    let signals = block_signals(relay)?;
    let created = rt.create(&id, &create.bundle, options)?;
    rt.start(&id)?;
    if detach {
        return Ok(0);
    }
    let status = attach_and_wait(ours, relay, created.pid, &signals)?;
    if !keep {
        rt.delete(&id, true)?;
    }
    Ok(status)
}

fn exec(rt: &Runtime, args: ExecArgs) -> Result<u8> {
    let id = ContainerId::parse(&args.id)?;
    let process = exec_process(rt, &id, &args)?;
    let terminal = process.terminal() == Some(true);
    let console = match &args.console_socket {
        Some(path) => Some(runtime::console::connect_socket(path)?),
        None => None,
    };
    let relay = terminal && console.is_none() && !args.detach;
    if terminal && console.is_none() && args.detach {
        bail!("--tty with --detach needs --console-socket: someone must hold the terminal");
    }
    let (ours, console) = if relay {
        let (ours, theirs) = tty::console_socket()?;
        (Some(ours), Some(theirs))
    } else {
        (None, console)
    };
    let signals = block_signals(relay)?;
    let child = rt.exec(
        &id,
        &process,
        ExecOptions {
            console,
            pid_file: args.pid_file.clone(),
            exec_error_prefix: "ctr-runtime: exec: ".into(),
            preserve_fds: args.preserve_fds.max(0),
            check_command: args.detach,
        },
    )?;
    if args.detach {
        return Ok(0);
    }
    attach_and_wait(ours, relay, child, &signals)
}

/// The process to exec: `--process`, or the container's own process with
/// the command and the flags given.
fn exec_process(rt: &Runtime, id: &ContainerId, args: &ExecArgs) -> Result<Process> {
    if let Some(path) = &args.process {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
        let wrapped = serde_json::json!({ "process": json });
        runtime::supported::check(&wrapped)?;
        return serde_json::from_value(json)
            .with_context(|| format!("reading {} as an OCI process", path.display()));
    }
    if args.command.is_empty() {
        bail!("exec needs a command, or --process FILE");
    }
    let state = rt.state(id)?;
    let spec = Spec::load(Path::new(&state.bundle).join("config.json"))
        .with_context(|| format!("reading the config.json of {id}"))?;
    let mut process = spec
        .process()
        .clone()
        .context("config.json has no process")?;
    process.set_args(Some(args.command.clone()));
    process.set_terminal(Some(args.tty));
    process.set_console_size(None);
    if let Some(cwd) = &args.cwd {
        process.set_cwd(cwd.clone());
    }
    let mut env = process.env().clone().unwrap_or_default();
    env.extend(args.env.iter().cloned());
    process.set_env(Some(env));
    if let Some(user) = &args.user {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user.as_str(), None),
        };
        let mut u = process.user().clone();
        u.set_uid(
            uid.parse()
                .with_context(|| format!("--user {user}: a numeric UID[:GID]"))?,
        );
        if let Some(g) = gid {
            u.set_gid(
                g.parse()
                    .with_context(|| format!("--user {user}: a numeric UID[:GID]"))?,
            );
        }
        process.set_user(u);
    }
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    Ok(process)
}

/// Columns as wide as their widest cell, three spaces apart (runc's
/// tabwriter): IDs of 64 digits are the rule under engines.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: [&str; N]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        text + "\n"
    };
    let mut out = line(header);
    for row in rows {
        out.push_str(&line(std::array::from_fn(|i| row[i].as_str())));
    }
    out
}

/// A signal as runc takes it: `KILL`, `SIGKILL` or `9`.
fn parse_signal(text: &str) -> Result<Signal> {
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).with_context(|| format!("{n} is not a signal number"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse()
        .with_context(|| format!("unknown signal {text:?}"))
}

/// Errors to stderr, and to `--log` as runc writes it (podman reads one
/// JSON object; containerd the last `"level":"error"` line).
struct Log {
    file: Option<PathBuf>,
    format: LogFormat,
}

impl Log {
    fn error(&self, message: &str) {
        eprintln!("ctr-runtime: {message}");
        let Some(path) = &self.file else {
            return;
        };
        let line = match self.format {
            LogFormat::Json => serde_json::json!({
                "level": "error",
                "msg": message,
                "time": ctr::show::now_rfc3339(),
            })
            .to_string(),
            LogFormat::Text => format!(
                "time=\"{}\" level=error msg={:?}",
                ctr::show::now_rfc3339(),
                message
            ),
        };
        if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
            _ = writeln!(file, "{line}");
        }
    }
}

/// runc's `ps`: the host's `ps` with the user's options (default `-ef`),
/// kept to the container's processes.
fn ps_table(options: &[String], pids: &[i32]) -> Result<String> {
    let options = match options {
        [] => vec!["-ef".to_string()],
        given => given.to_vec(),
    };
    let out = std::process::Command::new("ps")
        .args(&options)
        .output()
        .context("running ps: install procps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            options.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    ctr::runtime::lifecycle::ps_table(&String::from_utf8_lossy(&out.stdout), pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_as_wide_as_its_cells() {
        let rows = [["a-long-id".to_string(), "7".into(), "running".into()]];
        assert_eq!(
            table(["ID", "PID", "STATUS"], &rows),
            "ID          PID   STATUS\na-long-id   7     running\n"
        );
    }

    #[test]
    fn signals_are_taken_as_runc_takes_them() {
        for text in ["KILL", "SIGKILL", "kill", "9"] {
            assert_eq!(parse_signal(text).unwrap(), Signal::SIGKILL, "{text}");
        }
        assert!(parse_signal("NOPE").is_err());
    }
}
