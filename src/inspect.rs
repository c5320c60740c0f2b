//! `ctr inspect`: containers and images as docker's JSON, for the fields
//! people script against (`State.Status`, `State.Pid`, `Config.Env`,
//! `NetworkSettings.IPAddress`...). Pure: the records and config files go in,
//! a JSON value comes out; the CLI (inspect_cli.rs) reads them and prints it.
//!
//! Where ctr keeps less than docker, the field is there with what ctr
//! knows: `Config.Cmd` is the whole command (ctr records the command, not
//! how the image's Entrypoint and Cmd made it), and `Config.Entrypoint` is
//! null.

use std::time::Duration;

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::Spec;
use serde_json::{json, Map, Value};

use crate::container::{Record, Status};
use crate::image::store::ImageRecord;
use crate::reference::Reference;
use crate::show::format_rfc3339;

/// docker's "never": FinishedAt of a container that has not ended.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(seconds: u64) -> String {
    format_rfc3339(Duration::from_secs(seconds))
}

/// The mounts config.json has that a user asked for: not the ones every
/// container gets (/proc, /dev..., the /etc files).
const EVERY_CONTAINERS: [&str; 10] = [
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/sys/fs/cgroup",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
];

// ANCHOR: container
/// A container as `docker inspect` shows it. `volumes`: the directory that
/// holds named volumes, to tell a volume from a bind mount.
pub fn container(
    record: &Record,
    status: &Status,
    spec: Option<&Spec>,
    volumes: &std::path::Path,
) -> Value {
    let (word, running, restarting, pid, code) = match status {
        Status::Created => ("created", false, false, 0, 0),
        Status::Running { pid } => ("running", true, false, *pid, 0),
        Status::Restarting(code) => ("restarting", false, true, 0, *code),
        Status::Exited(code) => ("exited", false, false, 0, *code),
    };
    let exit = record.exit.as_ref();
    let process = spec.and_then(|s| s.process().as_ref());
    let env: Vec<String> = process.and_then(|p| p.env().clone()).unwrap_or_default();
    let cwd = process.map(|p| p.cwd().display().to_string());
    let user = process.map(|p| format!("{}:{}", p.user().uid(), p.user().gid()));
    let mounts: Vec<Value> = spec
        .and_then(|s| s.mounts().as_ref())
        .into_iter()
        .flatten()
        .filter(|m| !EVERY_CONTAINERS.contains(&m.destination().to_str().unwrap_or("")))
        .map(|m| {
            let options = m.options().clone().unwrap_or_default();
            let rw = !options.iter().any(|o| o == "ro");
            let source = m.source().as_ref().map(|s| s.display().to_string());
            let volume = m
                .source()
                .as_ref()
                .and_then(|s| s.strip_prefix(volumes).ok())
                .and_then(|rest| rest.components().next())
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            let kind = match (m.typ().as_deref(), &volume) {
                (_, Some(_)) => "volume",
                (Some("tmpfs"), _) => "tmpfs",
                _ => "bind",
            };
            json!({
                "Type": kind,
                "Name": volume,
                "Source": source.unwrap_or_default(),
                "Destination": m.destination().display().to_string(),
                "Mode": if rw { "" } else { "ro" },
                "RW": rw,
            })
        })
        .collect();
    let mut ports = Map::new();
    for port in &record.ports {
        ports.insert(
            format!("{}/{}", port.container_port, port.proto),
            json!([{
                "HostIp": port.host_ip.map_or("0.0.0.0".to_string(), |ip| ip.to_string()),
                "HostPort": port.host_port.to_string(),
            }]),
        );
    }
    let (policy_name, max) = match record.restart {
        crate::container::restart::Policy::OnFailure { max } => ("on-failure".to_string(), max),
        other => (other.to_string(), 0),
    };
    json!({
        "Id": record.id.as_str(),
        "Created": time(record.created),
        "Path": record.argv.first(),
        "Args": record.argv.get(1..).unwrap_or_default(),
        "State": {
            "Status": word,
            "Running": running,
            "Paused": false,
            "Restarting": restarting,
            "OOMKilled": exit.is_some_and(|e| e.oom_killed),
            "Dead": false,
            "Pid": pid,
            "ExitCode": code,
            "Error": "",
            "StartedAt": record.started.map_or(ZERO_TIME.to_string(), time),
            "FinishedAt": exit.map_or(ZERO_TIME.to_string(), |e| time(e.finished)),
        },
        "Image": record.image_id.to_string(),
        "Name": format!("/{}", record.name),
        "RestartCount": record.restart_count,
        "HostConfig": {
            "NetworkMode": record.network.to_string(),
            "RestartPolicy": {"Name": policy_name, "MaximumRetryCount": max},
            "PortBindings": ports.clone(),
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": record.hostname,
            "User": user,
            "Tty": record.tty,
            "Env": env,
            "Cmd": record.argv,
            "Entrypoint": Value::Null,
            "Image": record.image,
            "WorkingDir": cwd,
            "Labels": record.labels,
            "StopSignal": record.stop_signal,
            "StopTimeout": record.stop_timeout,
        },
        "NetworkSettings": {
            "IPAddress": record.address.map(|a| a.to_string()).unwrap_or_default(),
            // Only the bridge gives an address, and the bridge is ctr0.
            "Gateway": record.address.map(|_| crate::net::GATEWAY.to_string()).unwrap_or_default(),
            "IPPrefixLen": record.address.map_or(0, |_| crate::net::PREFIX),
            "Ports": ports,
        },
    })
}
// ANCHOR_END: container

/// An image as `docker image inspect` shows it.
pub fn image(record: &ImageRecord, refs: &[Reference], config: &ImageConfiguration) -> Value {
    let c = config.config().as_ref();
    json!({
        "Id": record.id.to_string(),
        "RepoTags": refs.iter().filter(|r| r.digest.is_none()).map(|r| r.familiar()).collect::<Vec<_>>(),
        "Created": record.created,
        "Architecture": config.architecture().to_string(),
        "Os": config.os().to_string(),
        "Size": record.size(),
        "Config": {
            "Env": c.and_then(|c| c.env().clone()),
            "Cmd": c.and_then(|c| c.cmd().clone()),
            "Entrypoint": c.and_then(|c| c.entrypoint().clone()),
            "WorkingDir": c.and_then(|c| c.working_dir().clone()).unwrap_or_default(),
            "User": c.and_then(|c| c.user().clone()).unwrap_or_default(),
            "ExposedPorts": c.and_then(|c| c.exposed_ports().clone())
                .map(|p| p.into_iter().map(|p| (p, json!({}))).collect::<Map<String, Value>>()),
            "Volumes": c.and_then(|c| c.volumes().clone())
                .map(|v| v.into_iter().map(|v| (v, json!({}))).collect::<Map<String, Value>>()),
            "Labels": c.and_then(|c| c.labels().clone()),
            "StopSignal": c.and_then(|c| c.stop_signal().clone()),
        },
        "RootFS": {
            "Type": "layers",
            "Layers": record.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        },
    })
}
