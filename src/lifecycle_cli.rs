//! The command line of a container's life after `run`: ps, logs, exec,
//! stop, kill, rm (docker's flags). main.rs flattens these into its commands.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use ctr::container::{join, lifecycle, stats};
use ctr::image::Store;

#[derive(Subcommand)]
pub enum Lifecycle {
    /// List containers (running ones; -a for all)
    Ps {
        /// Show all containers, stopped ones too
        #[arg(short = 'a', long)]
        all: bool,
        /// `table` (the default) or `json` (one object per line)
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Show what a detached container wrote
    Logs {
        /// Follow the output until the container exits
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N lines
        #[arg(short = 'n', long, value_name = "N")]
        tail: Option<usize>,
        /// Show when each line was written
        #[arg(short = 't', long)]
        timestamps: bool,
        name: String,
    },
    /// Run a command in a running container
    Exec {
        /// Keep stdin open
        #[arg(short = 'i', long)]
        interactive: bool,
        /// Allocate a pseudo-terminal
        #[arg(short = 't', long)]
        tty: bool,
        name: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
    /// Stop containers: their stop signal (SIGTERM by default), then SIGKILL
    Stop {
        /// Seconds to wait before SIGKILL [default: its --stop-timeout, or 10]
        #[arg(short = 't', long = "time")]
        time: Option<u64>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Start stopped containers again, in the background
    Start {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Stop containers, then start them again
    Restart {
        /// Seconds to wait before SIGKILL [default: its --stop-timeout, or 10]
        #[arg(short = 't', long = "time")]
        time: Option<u64>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Wait until containers end, then print their exit statuses
    Wait {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Send a signal to containers
    Kill {
        /// The signal: KILL, TERM, 9...
        #[arg(short = 's', long = "signal", default_value = "KILL")]
        signal: String,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Show what running containers use: CPU, memory, processes
    Stats {
        /// Print one table and exit, instead of redrawing it every second
        #[arg(long)]
        no_stream: bool,
        /// The containers [default: every running one]
        names: Vec<String>,
    },
    /// Remove containers
    Rm {
        /// Kill a running container first
        #[arg(short = 'f', long)]
        force: bool,
        /// Remove the anonymous volumes of the container too
        #[arg(short = 'v', long)]
        volumes: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// Runs one of them; as docker, a command on several containers goes on
/// past a failure, prints each, and fails at the end.
pub fn dispatch(store: &Store, command: Lifecycle) -> Result<u8> {
    let each = |names: &[String], what: &str, f: &dyn Fn(&str) -> Result<()>| -> Result<u8> {
        let mut failed = 0;
        for name in names {
            match f(name).with_context(|| format!("{what} {name}")) {
                Ok(()) => println!("{name}"),
                Err(err) => {
                    eprintln!("ctr: {err:#}");
                    failed += 1;
                }
            }
        }
        if failed > 0 {
            bail!("{failed} of {} containers failed", names.len());
        }
        Ok(0)
    };
    match command {
        Lifecycle::Ps { all, format } => {
            let lines = lifecycle::ps_lines(store, all, ctr::image::store::now())?;
            match format.as_str() {
                "table" => print!("{}", lifecycle::ps_table(&lines)),
                "json" => {
                    for line in lines {
                        println!("{}", serde_json::to_string(&line)?);
                    }
                }
                other => bail!("--format {other}: unknown format; use table or json"),
            }
            Ok(0)
        }
        Lifecycle::Logs {
            follow,
            tail,
            timestamps,
            name,
        } => {
            let options = ctr::container::logs::Options {
                follow,
                tail,
                timestamps,
            };
            lifecycle::logs(store, &name, options)?;
            Ok(0)
        }
        Lifecycle::Exec {
            interactive,
            tty,
            name,
            cmd,
        } => {
            let record = lifecycle::find(store, &name)?;
            let exec = join::Exec {
                argv: cmd,
                interactive,
                tty,
            };
            join::exec(store, &record, &exec).with_context(|| format!("exec in {name}"))
        }
        Lifecycle::Stop { time, names } => each(&names, "stopping", &|n| {
            lifecycle::stop(store, n, time.map(Duration::from_secs))
        }),
        Lifecycle::Start { names } => {
            each(&names, "starting", &|n| ctr::container::start(store, n))
        }
        Lifecycle::Restart { time, names } => each(&names, "restarting", &|n| {
            lifecycle::stop(store, n, time.map(Duration::from_secs))?;
            ctr::container::start(store, n)
        }),
        Lifecycle::Wait { names } => {
            // docker's: one status per line; its own status is the last one's.
            let mut last = 0;
            for name in &names {
                last =
                    lifecycle::wait(store, name).with_context(|| format!("waiting for {name}"))?;
                println!("{last}");
            }
            Ok(last)
        }
        Lifecycle::Kill { signal, names } => {
            let signal = lifecycle::parse_signal(&signal)?;
            each(&names, "killing", &|n| lifecycle::kill(store, n, signal))
        }
        Lifecycle::Stats { no_stream, names } => {
            use std::io::{IsTerminal, Write};
            let terminal = std::io::stdout().is_terminal();
            loop {
                let lines = stats::sample(store, &names, Duration::from_millis(500))?;
                let mut out = std::io::stdout().lock();
                if terminal && !no_stream {
                    // Redrawn in place, as docker's: clear and go home.
                    write!(out, "\x1b[2J\x1b[H")?;
                }
                write!(out, "{}", stats::table(&lines))?;
                out.flush()?;
                if no_stream {
                    return Ok(0);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        Lifecycle::Rm {
            force,
            volumes,
            names,
        } => each(&names, "removing", &|n| rm(store, n, force, volumes)),
    }
}

/// `ctr rm [-v]`: with `-v`, the container's anonymous volumes go with it
/// (its named ones stay, as docker's do).
fn rm(store: &Store, name: &str, force: bool, volumes: bool) -> Result<()> {
    let uses = match volumes {
        true => {
            let record = lifecycle::find(store, name)?;
            let dir = ctr::container::containers_dir(store).join(record.id.as_str());
            Some(ctr::volume::read_uses(&dir)?)
        }
        false => None,
    };
    lifecycle::rm(store, name, force)?;
    match uses {
        Some(uses) => ctr::volume::remove_anonymous(store, &uses),
        None => Ok(()),
    }
}
