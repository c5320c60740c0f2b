//! `ctr run`'s limits, with docker's flags and docker's rules, turned into
//! config.json's `linux.resources`. Pure: the rules (a memory+swap limit
//! of twice the memory when only the memory is given, 6 MB at least, no
//! more CPUs than the machine has...) are docker's, tested as a table.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

/// The flags, as given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    /// `--memory`: bytes, or with a unit (`32m`, `1g`).
    pub memory: Option<String>,
    /// `--memory-swap`: memory+swap, or -1 for unlimited swap.
    pub memory_swap: Option<String>,
    /// `--memory-reservation`: a soft limit.
    pub memory_reservation: Option<String>,
    /// `--cpus`: how many CPUs' worth of time, `0.5`.
    pub cpus: Option<String>,
    /// `--cpu-shares`: a relative weight, 1024 the default.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`: which CPUs, `0-3,5`.
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit`: at most this many processes; 0 or -1: no limit.
    pub pids_limit: Option<i64>,
}

/// What the machine offers, for the checks docker makes.
pub struct Machine {
    pub cpus: usize,
    /// Whether swap can be limited (v1 without swap accounting cannot).
    pub swap_limit: bool,
}

/// docker's smallest memory limit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

// ANCHOR: resources
/// The resources config.json gets, or None when no limit was asked.
/// Returns also the warnings docker would print.
pub fn resources(
    limits: &Limits,
    machine: &Machine,
) -> Result<(Option<LinuxResources>, Vec<String>)> {
    if *limits == Limits::default() {
        return Ok((None, Vec::new()));
    }
    let mut warnings = Vec::new();
    let memory = limits
        .memory
        .as_deref()
        .map(|m| bytes(m).with_context(|| format!("--memory {m}")))
        .transpose()?;
    let mut swap = limits
        .memory_swap
        .as_deref()
        .map(|s| match s {
            "-1" => Ok(-1),
            s => bytes(s).with_context(|| format!("--memory-swap {s}")),
        })
        .transpose()?;
    let reservation = limits
        .memory_reservation
        .as_deref()
        .map(|m| bytes(m).with_context(|| format!("--memory-reservation {m}")))
        .transpose()?;
    if let Some(m) = memory {
        if m < MIN_MEMORY {
            bail!("--memory {m}: the minimum memory limit allowed is 6MB");
        }
    }
    match (memory, swap) {
        (None, Some(_)) => {
            bail!("--memory-swap needs --memory: the swap limit counts memory and swap together")
        }
        (Some(m), Some(s)) if s >= 0 && s < m => bail!(
            "--memory-swap {s} is below --memory {m}: it counts memory and swap together, \
             so give at least as much (or -1 for unlimited swap)"
        ),
        // docker: swap as large as the memory, unless told otherwise.
        (Some(m), None) => swap = Some(2 * m),
        _ => {}
    }
    if let (Some(m), Some(r)) = (memory, reservation) {
        if r > m {
            bail!("--memory-reservation {r} is above --memory {m}: a soft limit must be below the hard one");
        }
    }
    if swap.is_some() && !machine.swap_limit {
        warnings.push(
            "the kernel does not account swap (v1 without swapaccount=1): the memory+swap \
             limit is dropped, as docker drops it"
                .to_string(),
        );
        swap = None;
    }
    let mut resources = LinuxResourcesBuilder::default();
    if memory.is_some() || reservation.is_some() {
        let mut m = LinuxMemoryBuilder::default();
        if let Some(v) = memory {
            m = m.limit(v);
        }
        if let Some(v) = swap {
            m = m.swap(v);
        }
        if let Some(v) = reservation {
            m = m.reservation(v);
        }
        resources = resources.memory(m.build()?);
    }
    let cpus = limits
        .cpus
        .as_deref()
        .map(|c| cpu_quota(c, machine.cpus))
        .transpose()?;
    if cpus.is_some() || limits.cpu_shares.is_some() || limits.cpuset_cpus.is_some() {
        let mut c = LinuxCpuBuilder::default();
        if let Some(quota) = cpus {
            c = c.quota(quota).period(100_000u64);
        }
        if let Some(shares) = limits.cpu_shares {
            if shares < 2 {
                bail!("--cpu-shares {shares}: the minimum is 2");
            }
            c = c.shares(shares);
        }
        if let Some(set) = &limits.cpuset_cpus {
            check_cpuset(set, machine.cpus)?;
            c = c.cpus(set.clone());
        }
        resources = resources.cpu(c.build()?);
    }
    if let Some(limit) = limits.pids_limit {
        // docker: 0 and -1 both mean no limit.
        let limit = if limit <= 0 { -1 } else { limit };
        resources = resources.pids(LinuxPidsBuilder::default().limit(limit).build()?);
    }
    Ok((Some(resources.build()?), warnings))
}
// ANCHOR_END: resources

/// docker's sizes: a number of bytes, with an optional unit b, k, m, g, t
/// (powers of 1024), and an optional trailing b ("32mb").
pub fn bytes(text: &str) -> Result<i64> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let unit = match unit {
        "" | "b" => 1i64,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        _ => bail!("{text:?} is not a size: give bytes, or a number with b, k, m, g or t"),
    };
    let number: f64 = number.parse().map_err(|_| {
        anyhow::anyhow!("{text:?} is not a size: give bytes, or a number with b, k, m, g or t")
    })?;
    Ok((number * unit as f64) as i64)
}

/// `--cpus 0.5`: a quota of CPU time per 100 ms period.
fn cpu_quota(text: &str, machine_cpus: usize) -> Result<i64> {
    let cpus: f64 = text
        .parse()
        .map_err(|_| anyhow::anyhow!("--cpus {text}: give a number of CPUs, such as 0.5"))?;
    if cpus <= 0.0 || cpus > machine_cpus as f64 {
        bail!(
            "--cpus {text}: the range of CPUs is from 0.01 to {machine_cpus}.00, \
             as there are only {machine_cpus} CPUs available"
        );
    }
    Ok((cpus * 100_000.0).round() as i64)
}

/// `0-3,5`: CPUs that exist, as cpuset(7) lists them.
fn check_cpuset(set: &str, machine_cpus: usize) -> Result<()> {
    for part in set.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let b: usize = match (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
            (Ok(a), Ok(b)) if a <= b => b,
            _ => bail!("--cpuset-cpus {set}: give CPU numbers and ranges, such as 0-3,5"),
        };
        if b >= machine_cpus {
            bail!(
                "--cpuset-cpus {set}: CPU {b} does not exist (this machine has 0-{})",
                machine_cpus - 1
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            cpus: 2,
            swap_limit: true,
        }
    }

    fn json(limits: Limits) -> serde_json::Value {
        serde_json::to_value(resources(&limits, &machine()).unwrap().0).unwrap()
    }

    #[test]
    fn sizes_as_docker_reads_them() {
        for (text, n) in [
            ("1024", 1024),
            ("32m", 32 << 20),
            ("32M", 32 << 20),
            ("32mb", 32 << 20),
            ("1g", 1 << 30),
            ("1.5k", 1536),
            ("512k", 512 << 10),
        ] {
            assert_eq!(bytes(text).unwrap(), n, "{text}");
        }
        for bad in ["", "m", "12q", "-1m", "1.2.3"] {
            assert!(bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_flag_no_resources() {
        assert_eq!(json(Limits::default()), serde_json::Value::Null);
    }

    #[test]
    fn memory_alone_gets_as_much_swap() {
        let j = json(Limits {
            memory: Some("32m".into()),
            ..Default::default()
        });
        assert_eq!(j["memory"]["limit"], 32 << 20);
        assert_eq!(j["memory"]["swap"], 64 << 20);
        let j = json(Limits {
            memory: Some("32m".into()),
            memory_swap: Some("-1".into()),
            ..Default::default()
        });
        assert_eq!(j["memory"]["swap"], -1);
    }

    #[test]
    fn dockers_refusals() {
        let err = |limits: Limits| resources(&limits, &machine()).unwrap_err().to_string();
        assert!(err(Limits {
            memory: Some("4m".into()),
            ..Default::default()
        })
        .contains("6MB"));
        assert!(err(Limits {
            memory_swap: Some("64m".into()),
            ..Default::default()
        })
        .contains("needs --memory"));
        assert!(err(Limits {
            memory: Some("64m".into()),
            memory_swap: Some("32m".into()),
            ..Default::default()
        })
        .contains("below --memory"));
        assert!(err(Limits {
            cpus: Some("3".into()),
            ..Default::default()
        })
        .contains("only 2 CPUs available"));
        assert!(err(Limits {
            cpus: Some("0".into()),
            ..Default::default()
        })
        .contains("0.01"));
        assert!(err(Limits {
            cpuset_cpus: Some("0-4".into()),
            ..Default::default()
        })
        .contains("CPU 4 does not exist"));
        assert!(err(Limits {
            memory: Some("32m".into()),
            memory_reservation: Some("64m".into()),
            ..Default::default()
        })
        .contains("above --memory"));
    }

    #[test]
    fn cpus_pids_and_sets() {
        let j = json(Limits {
            cpus: Some("0.5".into()),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0,1".into()),
            pids_limit: Some(20),
            ..Default::default()
        });
        assert_eq!(j["cpu"]["quota"], 50000);
        assert_eq!(j["cpu"]["period"], 100000);
        assert_eq!(j["cpu"]["shares"], 512);
        assert_eq!(j["cpu"]["cpus"], "0,1");
        assert_eq!(j["pids"]["limit"], 20);
        let j = json(Limits {
            pids_limit: Some(0),
            ..Default::default()
        });
        assert_eq!(j["pids"]["limit"], -1);
    }

    #[test]
    fn no_swap_accounting_drops_the_swap_limit_with_a_warning() {
        let m = Machine {
            cpus: 2,
            swap_limit: false,
        };
        let (r, warnings) = resources(
            &Limits {
                memory: Some("32m".into()),
                ..Default::default()
            },
            &m,
        )
        .unwrap();
        let j = serde_json::to_value(r).unwrap();
        assert!(j["memory"].get("swap").map_or(true, |s| s.is_null()), "{j}");
        assert_eq!(warnings.len(), 1);
    }
}
