//! `ctr volume create|ls|inspect|rm|prune`, docker's flags and output.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use ctr::image::Store;
use ctr::volume;

#[derive(Subcommand)]
pub enum Volume {
    /// Make a volume (a random name if none is given)
    Create { name: Option<String> },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only the names
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Show volumes' details as JSON
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes that no container uses
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove the anonymous volumes no container uses (-a: every unused one)
    Prune {
        /// Named volumes too
        #[arg(short = 'a', long)]
        all: bool,
        /// Do not ask for confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
}

pub fn dispatch(store: &Store, command: Volume) -> Result<u8> {
    match command {
        Volume::Create { name } => {
            let name = match name {
                Some(name) => name,
                None => ctr::runtime::ContainerId::random()?.as_str().to_string(),
            };
            let _lock = store.lock(true)?;
            volume::create(store, &name, false)
                .with_context(|| format!("creating volume {name}"))?;
            println!("{name}");
            Ok(0)
        }
        Volume::Ls { quiet } => {
            let volumes = volume::list(store)?;
            if quiet {
                for v in volumes {
                    println!("{}", v.name);
                }
                return Ok(0);
            }
            let mut rows = vec![vec!["DRIVER".to_string(), "VOLUME NAME".to_string()]];
            rows.extend(volumes.into_iter().map(|v| vec!["local".into(), v.name]));
            print!("{}", ctr::show::table(&rows));
            Ok(0)
        }
        Volume::Inspect { names } => {
            let mut out = Vec::new();
            let mut failed = 0;
            for name in &names {
                match volume::get(store, name) {
                    Ok(v) => out.push(volume::inspect(store, &v)),
                    Err(err) => {
                        eprintln!("ctr: {err:#}");
                        failed += 1;
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(if failed > 0 { 1 } else { 0 })
        }
        Volume::Rm { names } => {
            let mut failed = 0;
            for name in &names {
                match volume::remove(store, name) {
                    Ok(()) => println!("{name}"),
                    Err(err) => {
                        eprintln!("ctr: {err:#}");
                        failed += 1;
                    }
                }
            }
            Ok(if failed > 0 { 1 } else { 0 })
        }
        Volume::Prune { all, force } => {
            if !force && !confirm(all)? {
                return Ok(0);
            }
            let removed = volume::prune(store, all)?;
            if !removed.is_empty() {
                println!("Deleted Volumes:");
                for (name, _) in &removed {
                    println!("{name}");
                }
                println!();
            }
            let bytes: u64 = removed.iter().map(|(_, b)| b).sum();
            println!("Total reclaimed space: {}", ctr::show::size(bytes));
            Ok(0)
        }
    }
}

/// docker's question before a prune; no answer (not a terminal, end of
/// input) is no.
fn confirm(all: bool) -> Result<bool> {
    let what = if all {
        "all volumes not used by at least one container"
    } else {
        "all anonymous volumes not used by at least one container"
    };
    if !std::io::stdin().is_terminal() {
        bail!("prune removes {what}: give -f to confirm (stdin is no terminal to ask on)");
    }
    print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
