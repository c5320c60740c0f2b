//! `ctr exec`: a new process in a running container, as docker's exec: the
//! process of the container's config.json (its environment, user, working
//! directory) with another command, started by the runtime's `exec`.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{BoxBuilder as ConsoleSizeBuilder, Process, Spec};

use super::{runtime, tty, Record, Status};
use crate::image::Store;
use crate::runtime::ExecOptions;

/// What to run, as `ctr exec [-i] [-t] NAME CMD...` asked.
pub struct Exec {
    pub argv: Vec<String>,
    pub interactive: bool,
    pub tty: bool,
}

// ANCHOR: join
/// Runs `exec.argv` in container `record` and returns its exit status.
pub fn exec(store: &Store, record: &Record, exec: &Exec) -> Result<u8> {
    let runtime = runtime(store);
    if !matches!(record.status(&runtime), Status::Running { .. }) {
        bail!(
            "container {} is not running: start a new one with `ctr run`",
            record.name
        );
    }
    if exec.argv.is_empty() {
        bail!("no command given: say what to run after the container's name");
    }
    let config = super::containers_dir(store)
        .join(record.id.as_str())
        .join("config.json");
    let spec = Spec::load(&config).with_context(|| format!("reading {}", config.display()))?;
    let mut process: Process = spec
        .process()
        .clone()
        .context("config.json has no process")?;
    process.set_args(Some(exec.argv.clone()));
    process.set_terminal(Some(exec.tty));
    process.set_console_size(None);
    if exec.tty {
        if let Some(size) = tty::terminal_size() {
            let console = ConsoleSizeBuilder::default()
                .height(u64::from(size.ws_row))
                .width(u64::from(size.ws_col))
                .build()
                .expect("both fields given");
            process.set_console_size(Some(console));
        }
    }
    let signals = super::block_signals(exec.tty)?;
    let (console, theirs) = match exec.tty {
        true => {
            let (ours, theirs) = tty::console_socket()?;
            (Some(ours), Some(theirs))
        }
        false => (None, None),
    };
    if !exec.interactive {
        super::null_stdin()?;
    }
    let child = runtime.exec(
        &record.id,
        &process,
        ExecOptions {
            console: theirs,
            pid_file: None,
            exec_error_prefix: format!("ctr: exec in {}: ", record.name),
            preserve_fds: 0,
            check_command: false,
        },
    )?;
    super::attach_and_wait(console, exec.interactive, child, &signals)
}
// ANCHOR_END: join
