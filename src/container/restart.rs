//! `--restart`: whether a container that ended is started again, and when.
//! Pure: its monitor ([`super::monitor`]) asks after each exit and sleeps
//! the delay it is given.
//!
//! docker's rules: `no` never; `on-failure[:N]` after a non-zero exit, at
//! most N times; `always` and `unless-stopped` after any exit. None of them
//! restarts a container someone stopped (`ctr stop`, `kill`, `rm -f`): with
//! no daemon to restart, `always` and `unless-stopped` differ only in
//! docker's daemon start, which ctr has not. Between restarts docker waits
//! 100 ms, doubled each time up to a minute, and back to 100 ms once a run
//! has lasted 10 s: a container that fails at once does not spin.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "name")]
pub enum Policy {
    #[default]
    No,
    OnFailure {
        /// At most this many restarts; 0: no bound.
        #[serde(default)]
        max: u32,
    },
    Always,
    UnlessStopped,
}

impl FromStr for Policy {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Policy> {
        let (name, max) = match text.split_once(':') {
            Some((name, max)) => (name, Some(max)),
            None => (text, None),
        };
        let policy = match (name, max) {
            ("no", None) => Policy::No,
            ("always", None) => Policy::Always,
            ("unless-stopped", None) => Policy::UnlessStopped,
            ("on-failure", None) => Policy::OnFailure { max: 0 },
            ("on-failure", Some(n)) => match n.parse::<u32>() {
                Ok(max) => Policy::OnFailure { max },
                Err(_) => bail!(
                    "--restart {text}: the maximum of restarts must be a number, such as on-failure:3"
                ),
            },
            ("no" | "always" | "unless-stopped", Some(_)) => {
                bail!("--restart {text}: only on-failure takes a maximum (on-failure:3)")
            }
            _ => bail!("--restart {text}: use no, on-failure[:N], always or unless-stopped"),
        };
        Ok(policy)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Policy::No => write!(f, "no"),
            Policy::OnFailure { max: 0 } => write!(f, "on-failure"),
            Policy::OnFailure { max } => write!(f, "on-failure:{max}"),
            Policy::Always => write!(f, "always"),
            Policy::UnlessStopped => write!(f, "unless-stopped"),
        }
    }
}

/// How the last run ended, as the monitor saw it.
#[derive(Clone, Copy, Debug)]
pub struct Ended {
    pub code: u8,
    /// Someone stopped it on purpose (`ctr stop`, `kill`, `rm -f`).
    pub stopped: bool,
    /// How long it ran.
    pub ran: Duration,
    /// Restarts so far.
    pub restarts: u32,
}

pub const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long was a success: the delay starts over.
const STEADY: Duration = Duration::from_secs(10);

// ANCHOR: next
/// Whether to start it again, and after how long (`last`: the delay before
/// the run that ended, if it was a restart).
pub fn next(policy: Policy, ended: &Ended, last: Option<Duration>) -> Option<Duration> {
    if ended.stopped {
        return None;
    }
    let again = match policy {
        Policy::No => false,
        Policy::OnFailure { max } => ended.code != 0 && (max == 0 || ended.restarts < max),
        Policy::Always | Policy::UnlessStopped => true,
    };
    if !again {
        return None;
    }
    Some(match last {
        Some(delay) if ended.ran < STEADY => (delay * 2).min(MAX_DELAY),
        _ => FIRST_DELAY,
    })
}
// ANCHOR_END: next

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(code: u8, restarts: u32) -> Ended {
        Ended {
            code,
            stopped: false,
            ran: Duration::from_millis(5),
            restarts,
        }
    }

    #[test]
    fn policies_as_docker_spells_them() {
        for (text, policy) in [
            ("no", Policy::No),
            ("always", Policy::Always),
            ("unless-stopped", Policy::UnlessStopped),
            ("on-failure", Policy::OnFailure { max: 0 }),
            ("on-failure:3", Policy::OnFailure { max: 3 }),
        ] {
            assert_eq!(text.parse::<Policy>().unwrap(), policy, "{text}");
            assert_eq!(policy.to_string(), text);
        }
        for (bad, says) in [
            (
                "sometimes",
                "use no, on-failure[:N], always or unless-stopped",
            ),
            ("on-failure:x", "must be a number"),
            ("always:2", "only on-failure takes a maximum"),
        ] {
            let err = bad.parse::<Policy>().unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn which_exits_restart() {
        let on_failure = Policy::OnFailure { max: 2 };
        assert_eq!(next(Policy::No, &ended(1, 0), None), None);
        assert_eq!(next(on_failure, &ended(0, 0), None), None, "a success");
        assert_eq!(next(on_failure, &ended(137, 0), None), Some(FIRST_DELAY));
        assert!(next(on_failure, &ended(1, 1), None).is_some());
        assert_eq!(next(on_failure, &ended(1, 2), None), None, "at most 2");
        let unbounded = Policy::OnFailure { max: 0 };
        assert!(next(unbounded, &ended(1, 1000), None).is_some());
        for policy in [Policy::Always, Policy::UnlessStopped] {
            assert!(next(policy, &ended(0, 7), None).is_some());
            let stopped = Ended {
                stopped: true,
                ..ended(143, 0)
            };
            assert_eq!(next(policy, &stopped, None), None, "stopped on purpose");
        }
    }

    #[test]
    fn the_delay_doubles_to_a_minute_and_starts_over_after_a_steady_run() {
        let mut delays = Vec::new();
        let mut last = None;
        for restarts in 0..12 {
            last = next(Policy::Always, &ended(1, restarts), last);
            delays.push(last.unwrap().as_millis());
        }
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]
        );
        let steady = Ended {
            ran: Duration::from_secs(11),
            ..ended(1, 12)
        };
        assert_eq!(next(Policy::Always, &steady, last), Some(FIRST_DELAY));
    }
}
