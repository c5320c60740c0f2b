//! `ctr stats`: what containers use, from their cgroups, in docker's
//! columns. CPU % is the CPU time used between two readings over the time
//! between them (100% is one CPU's worth, as docker counts it).

use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{records, runtime, Record, Status};
use crate::image::Store;
use crate::runtime::cgroups::Usage;

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub id: String,
    pub name: String,
    pub cpu_percent: Option<f64>,
    pub memory: Option<u64>,
    pub memory_limit: u64,
    pub pids: Option<u64>,
}

/// The running containers named (all of them when none is), read twice
/// `interval` apart.
pub fn sample(store: &Store, names: &[String], interval: Duration) -> Result<Vec<Line>> {
    let runtime = runtime(store);
    let mut chosen: Vec<Record> = Vec::new();
    if names.is_empty() {
        chosen = records(store)?
            .into_iter()
            .filter(|r| matches!(r.status(&runtime), Status::Running { .. }))
            .collect();
        chosen.sort_by(|a, b| a.name.cmp(&b.name));
    } else {
        for name in names {
            chosen.push(super::lifecycle::find(store, name)?);
        }
    }
    let read = |r: &Record| runtime.usage(&r.id).ok().flatten().unwrap_or_default();
    let first: Vec<(Usage, Instant)> = chosen.iter().map(|r| (read(r), Instant::now())).collect();
    sleep(interval);
    let host_memory = host_memory();
    Ok(chosen
        .iter()
        .zip(first)
        .map(|(r, (before, at))| {
            let now = read(r);
            let cpu_percent = match (before.cpu_nanos, now.cpu_nanos) {
                (Some(a), Some(b)) => {
                    let wall = at.elapsed().as_nanos().max(1) as f64;
                    Some(b.saturating_sub(a) as f64 / wall * 100.0)
                }
                _ => None,
            };
            Line {
                id: r.short_id().to_string(),
                name: r.name.clone(),
                cpu_percent,
                memory: now.memory,
                memory_limit: now.memory_limit.unwrap_or(host_memory),
                pids: now.pids,
            }
        })
        .collect())
}

// ANCHOR: table
/// docker's table: CONTAINER ID, NAME, CPU %, MEM USAGE / LIMIT, MEM %, PIDS.
pub fn table(lines: &[Line]) -> String {
    let dash = || "--".to_string();
    let mut rows = vec![[
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "PIDS",
    ]
    .map(String::from)
    .to_vec()];
    for l in lines {
        rows.push(vec![
            l.id.clone(),
            l.name.clone(),
            l.cpu_percent.map_or_else(dash, |c| format!("{c:.2}%")),
            match l.memory {
                Some(m) => format!(
                    "{} / {}",
                    crate::show::binary_size(m),
                    crate::show::binary_size(l.memory_limit)
                ),
                None => dash(),
            },
            match l.memory {
                Some(m) if l.memory_limit > 0 => {
                    format!("{:.2}%", m as f64 / l.memory_limit as f64 * 100.0)
                }
                _ => dash(),
            },
            l.pids.map_or_else(dash, |p| p.to_string()),
        ]);
    }
    crate::show::table(&rows)
}
// ANCHOR_END: table

/// The machine's memory, the limit of a container that has none.
fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_columns() {
        let lines = [
            Line {
                id: "0123456789ab".into(),
                name: "r".into(),
                cpu_percent: Some(49.876),
                memory: Some(1_294_336),
                memory_limit: 32 << 20,
                pids: Some(4),
            },
            Line {
                id: "ba9876543210".into(),
                name: "quiet".into(),
                cpu_percent: None,
                memory: None,
                memory_limit: 0,
                pids: None,
            },
        ];
        assert_eq!(
            table(&lines),
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     PIDS\n\
             0123456789ab   r         49.88%    1.234MiB / 32MiB    3.86%     4\n\
             ba9876543210   quiet     --        --                  --        --\n"
        );
    }
}
