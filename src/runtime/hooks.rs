//! config.json's hooks: programs the runtime runs at points of the
//! container's life, each given the container's state on stdin (runtime
//! spec, "Lifecycle" and "POSIX-platform Hooks"). createRuntime runs in the
//! runtime's namespaces once the container's are made and before
//! pivot_root (a failure fails `create`); poststart after `start` and
//! poststop after `delete` (a failure is only reported).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Hook;

use super::state::State;

/// Runs `hooks` in order, each with `state` on stdin; stops at the first
/// that fails or outlives its timeout.
pub fn run(hooks: &[Hook], state: &State) -> Result<()> {
    let json = serde_json::to_vec(state)?;
    for hook in hooks {
        run_one(hook, &json).with_context(|| format!("hook {}", hook.path().display()))?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state: &[u8]) -> Result<()> {
    let args = hook.args().clone().unwrap_or_default();
    let mut command = Command::new(hook.path());
    // args[0] is the hook's argv[0], as in execv(3).
    if let Some(arg0) = args.first() {
        use std::os::unix::process::CommandExt;
        command.arg0(arg0);
    }
    command
        .args(args.iter().skip(1))
        .env_clear()
        .envs(
            hook.env()
                .iter()
                .flatten()
                .filter_map(|e| e.split_once('=')),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = command.spawn().context("starting it")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin gets EPIPE: not its failure.
        _ = stdin.write_all(state);
    }
    let Some(deadline) = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64))
    else {
        let status = child.wait().context("waiting for it")?;
        if !status.success() {
            bail!("it failed with {status}");
        }
        return Ok(());
    };
    loop {
        if let Some(status) = child.try_wait().context("waiting for it")? {
            if !status.success() {
                bail!("it failed with {status}");
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            _ = child.kill();
            _ = child.wait();
            bail!(
                "it did not finish within its timeout of {} s",
                hook.timeout().unwrap_or(0)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
