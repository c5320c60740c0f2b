//! How long ctr waits for a registry, step by step, so that one that hangs
//! fails in seconds and says where: connecting, the answer's headers, and a
//! body that stops coming (which a pull then resumes). `CTR_REGISTRY_TIMEOUT`
//! sets them: seconds for all three (`5`), or some by name
//! (`connect=5,response=30,stall=60`).

use std::time::Duration;

use anyhow::{bail, Context, Result};

pub const VARIABLE: &str = "CTR_REGISTRY_TIMEOUT";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To open the connection (TCP, and TLS on top).
    pub connect: Duration,
    /// From the request sent to the whole of the answer's headers.
    pub response: Duration,
    /// With no byte of a body coming.
    pub stall: Duration,
}

impl Default for Timeouts {
    /// Shorter than the minute or more of TCP's own give-up, long enough
    /// for a registry under load: docker's dialer waits 30 s to connect, and
    /// a slow mirror may take seconds to answer a cold manifest.
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            response: Duration::from_secs(15),
            stall: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// The environment's, or the defaults.
    pub fn from_env() -> Result<Timeouts> {
        match std::env::var(VARIABLE) {
            Ok(text) if !text.trim().is_empty() => parse(&text),
            _ => Ok(Timeouts::default()),
        }
    }
}

/// `N` (seconds, for all three) or `connect=N,response=N,stall=N` (any of
/// them; the others keep their default). Seconds may have a fraction.
pub fn parse(text: &str) -> Result<Timeouts> {
    let seconds = |value: &str| -> Result<Duration> {
        let n: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|n: &f64| *n > 0.0 && n.is_finite())
            .with_context(|| {
                format!(
                    "{VARIABLE}={text:?} is not a number of seconds, \
                 nor connect=N,response=N,stall=N"
                )
            })?;
        Ok(Duration::from_secs_f64(n))
    };
    if !text.contains('=') {
        let all = seconds(text)?;
        return Ok(Timeouts {
            connect: all,
            response: all,
            stall: all,
        });
    }
    let mut timeouts = Timeouts::default();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let slot = match name.trim() {
            "connect" => &mut timeouts.connect,
            "response" => &mut timeouts.response,
            "stall" => &mut timeouts.stall,
            other => bail!(
                "{VARIABLE}={text:?}: no timeout is named {other:?}; \
                 the names are connect, response and stall"
            ),
        };
        *slot = seconds(value)?;
    }
    Ok(timeouts)
}

/// Whole seconds, or with a fraction when there is one: `1 s`, `0.5 s`.
pub fn show(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_number_or_some_by_name() {
        let one = Duration::from_secs(1);
        assert_eq!(
            parse("1").unwrap(),
            Timeouts {
                connect: one,
                response: one,
                stall: one
            }
        );
        let t = parse("stall=90, connect=0.5").unwrap();
        assert_eq!(t.stall, Duration::from_secs(90));
        assert_eq!(t.connect, Duration::from_millis(500));
        assert_eq!(t.response, Timeouts::default().response);
        for bad in ["soon", "0", "-1", "stall", "stall=", "read=3", "inf"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("CTR_REGISTRY_TIMEOUT="), "{bad}: {err}");
        }
        assert_eq!(show(Duration::from_secs(1)), "1 s");
        assert_eq!(show(Duration::from_millis(500)), "0.5 s");
    }
}
