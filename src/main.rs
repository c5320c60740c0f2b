//! `ctr`'s command line: parses it, calls the library, prints errors as
//! `ctr: what failed: why` and exits with docker's statuses.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use ctr::config::RunOptions;
use ctr::container::{self, Request};
use ctr::exit;
use ctr::image::{import, Store};

mod inspect_cli;
mod lifecycle_cli;
mod volume_cli;

#[derive(Parser)]
#[command(version, about = "A container runtime written from scratch")]
struct Cli {
    /// Where images and containers are kept [env: CTR_ROOT] [default: /var/lib/ctr]
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load images from a `docker save` archive or an OCI layout (dir or tar)
    Import {
        /// The archive or layout
        file: PathBuf,
        /// The name to give the image (with a tag), or the repository for the
        /// layout's tags (without one)
        name: Option<String>,
    },
    /// Pull an image from a registry
    Pull {
        /// The image: `redis`, `redis:7`, `host:port/repo@sha256:...`
        image: String,
    },
    /// List images
    Images,
    /// Remove images, and the layers no other image uses
    Rmi {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Run a command in a new container
    Run(Box<RunArgs>),
    #[command(flatten)]
    Lifecycle(lifecycle_cli::Lifecycle),
    /// Manage volumes: create, ls, inspect, rm, prune
    Volume {
        #[command(subcommand)]
        command: volume_cli::Volume,
    },
    /// Show containers, images and volumes as JSON (docker's fields), or through --format
    Inspect {
        /// Go template over each object, such as '{{.State.Status}}' or '{{json .Config}}'
        #[arg(short = 'f', long, value_name = "TEMPLATE")]
        format: Option<String>,
        /// Look only among containers, images or volumes
        #[arg(long = "type", value_name = "container|image|volume")]
        kind: Option<String>,
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// Find what ctr left on this host (check), or remove all it made (reset)
    System {
        #[command(subcommand)]
        command: System,
    },
    /// Print a script that completes ctr's commands and options in SHELL
    ///
    /// For instance `ctr completion bash > /etc/bash_completion.d/ctr`.
    Completion { shell: clap_complete::Shell },
    /// Write ctr's man pages (ctr.1, ctr-run.1...) into DIR
    #[command(hide = true)]
    Man { dir: PathBuf },
}

#[derive(Subcommand)]
enum System {
    /// List what ctr left behind: veths, the bridge, iptables rules, mounts,
    /// leases and temporary files that no live container uses (exit 1 if any)
    Check,
    /// Kill and remove every container, then everything ctr made: the
    /// network, its rules, mounts, leases, images, volumes and the store
    Reset,
}

// ANCHOR: run_args
#[derive(clap::Args)]
#[command(override_usage = "ctr run [OPTIONS] IMAGE [COMMAND] [ARG...]")]
struct RunArgs {
    /// Name the container
    #[arg(long)]
    name: Option<String>,
    /// Remove the container's files when it exits
    #[arg(long)]
    rm: bool,
    /// Set an environment variable (K=V), or pass ours (K)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    workdir: Option<String>,
    /// User to run as: name|uid[:group|gid]
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Override the image's entrypoint
    #[arg(long, value_name = "CMD")]
    entrypoint: Option<String>,
    /// The container's hostname [default: its short ID]
    #[arg(long)]
    hostname: Option<String>,
    /// Run an init as PID 1 that forwards signals and reaps orphans
    #[arg(long)]
    init: bool,
    /// Keep stdin open
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    tty: bool,
    /// Run in the background: print the container's ID and leave it running
    #[arg(short = 'd', long)]
    detach: bool,
    /// Publish a port: [IP:]HOST:CONTAINER[/tcp|udp]
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    publish: Vec<String>,
    /// Network: bridge (its own address, NAT), host (the host's), none (a
    /// loopback only) or pasta (user-mode) [default: bridge; without root, pasta]
    #[arg(long)]
    network: Option<String>,
    /// Memory limit: bytes, or with a unit (32m, 1g)
    #[arg(short = 'm', long, value_name = "BYTES")]
    memory: Option<String>,
    /// Memory and swap together (-1: unlimited swap) [default: twice --memory]
    #[arg(long, value_name = "BYTES")]
    memory_swap: Option<String>,
    /// A soft memory limit, below --memory
    #[arg(long, value_name = "BYTES")]
    memory_reservation: Option<String>,
    /// How many CPUs' worth of time, such as 0.5
    #[arg(long, value_name = "N")]
    cpus: Option<String>,
    /// CPU shares: a relative weight, 1024 the default
    #[arg(short = 'c', long, value_name = "N")]
    cpu_shares: Option<u64>,
    /// The CPUs it may run on, such as 0-3,5
    #[arg(long, value_name = "CPUS")]
    cpuset_cpus: Option<String>,
    /// At most this many processes (0 or -1: no limit)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Give a capability beyond docker's 14 (NET_ADMIN, SYS_PTRACE..., or ALL)
    #[arg(long, value_name = "CAP")]
    cap_add: Vec<String>,
    /// Take one of docker's 14 capabilities away (or ALL)
    #[arg(long, value_name = "CAP")]
    cap_drop: Vec<String>,
    /// Every capability ctr holds, every device of the host, no seccomp
    /// filter, /sys writable: no confinement at all
    #[arg(long)]
    privileged: bool,
    /// Mount the container's root filesystem read-only
    #[arg(long)]
    read_only: bool,
    /// no-new-privileges, seccomp=unconfined, seccomp=PROFILE.json (docker's
    /// format) or systempaths=unconfined
    #[arg(long, value_name = "OPT")]
    security_opt: Vec<String>,
    /// Give the container a device of the host: HOST[:CONTAINER][:PERMISSIONS]
    #[arg(long, value_name = "DEVICE")]
    device: Vec<String>,
    /// Mount a host path or a volume: [HOST_PATH|NAME:]CONTAINER_PATH[:ro|rw|nocopy]
    #[arg(short = 'v', long = "volume", value_name = "VOLUME")]
    volume: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,source=...,target=...[,readonly]...
    #[arg(long, value_name = "MOUNT")]
    mount: Vec<String>,
    /// Mount a tmpfs: PATH[:OPTIONS]
    #[arg(long, value_name = "PATH")]
    tmpfs: Vec<String>,
    /// Start it again when it ends: no, on-failure[:N], always, unless-stopped (with -d)
    #[arg(long, value_name = "POLICY", default_value = "no")]
    restart: String,
    /// The signal `ctr stop` sends first [default: the image's, or TERM]
    #[arg(long, value_name = "SIGNAL")]
    stop_signal: Option<String>,
    /// Seconds `ctr stop` waits before SIGKILL [default: 10]
    #[arg(long, value_name = "SECONDS")]
    stop_timeout: Option<u64>,
    /// Read environment variables from a file: K=V or K lines, # comments
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Add a line to the container's /etc/hosts: NAME:IP
    #[arg(long, value_name = "NAME:IP")]
    add_host: Vec<String>,
    /// A nameserver for the container's resolv.conf, instead of the host's
    #[arg(long, value_name = "IP")]
    dns: Vec<std::net::IpAddr>,
    /// Set a label on the container: K=V
    #[arg(short = 'l', long, value_name = "K=V")]
    label: Vec<String>,
    /// User namespace: host (the host's ids), or remap[:USER] (root inside
    /// is the first id of USER's /etc/subuid range; root's by default)
    #[arg(long, value_name = "MODE")]
    userns: Option<String>,
    /// The image (name or ID), then the command and its arguments [default: the image's]
    // Options end at the image, as docker's do: `ctr run busybox sh -c 'echo
    // hi'` gives `-c` to sh, not to ctr (trailing_var_arg, one positional).
    #[arg(required = true, trailing_var_arg = true, value_name = "IMAGE")]
    image_and_cmd: Vec<String>,
}
// ANCHOR_END: run_args

impl RunArgs {
    fn image(&self) -> &str {
        &self.image_and_cmd[0]
    }

    fn cmd(&self) -> &[String] {
        &self.image_and_cmd[1..]
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(status) => ExitCode::from(status),
        Err(err) => {
            eprintln!("ctr: {err:#}");
            ExitCode::from(exit::FAILED)
        }
    }
}

/// `--root`, else CTR_ROOT, else /var/lib/ctr (a rootless ctr's: the
/// user's own, ~/.local/share/ctr).
fn store_root(root: Option<PathBuf>) -> PathBuf {
    root.or_else(|| std::env::var_os("CTR_ROOT").map(PathBuf::from))
        .unwrap_or_else(|| match ctr::rootless::active() {
            Some(rootless) => rootless.dirs.data.clone(),
            None => PathBuf::from(ctr::image::store::DEFAULT_ROOT),
        })
}

fn store(root: Option<PathBuf>) -> Result<Store> {
    Store::open(&store_root(root))
}

fn require_root(what: &str) -> Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!("{what} needs root (namespaces, mounts, file owners): run it with sudo");
    }
    Ok(())
}

fn dispatch(cli: Cli) -> Result<u8> {
    // ANCHOR: rootless_first
    // An ordinary user's ctr works in a user namespace where it is root
    // (rootless, as podman): entered first, while ctr has one thread.
    if !nix::unistd::Uid::effective().is_root() {
        if let Command::System { .. } = cli.command {
            bail!(
                "ctr system looks for what ctr left on the host (links, rules, mounts), \
                 which needs root: run it with sudo; a user's own containers go with \
                 `ctr rm -f`, images with `ctr rmi`"
            );
        }
        ctr::rootless::enter().context("running ctr without root")?;
    }
    // ANCHOR_END: rootless_first
    match cli.command {
        Command::Import { file, name } => {
            require_root("importing images")?;
            let store = store(cli.root)?;
            let shown = file.display().to_string();
            let imported = import::import(&store, &file, name.as_deref())
                .with_context(|| format!("importing {shown}"))?;
            for image in imported {
                let names: Vec<String> = image.refs.iter().map(|r| r.familiar()).collect();
                let name = if names.is_empty() {
                    image.id.to_string()
                } else {
                    names.join(", ")
                };
                println!(
                    "Loaded image: {name} ({} layers new, {} already here)",
                    image.layers_added, image.layers_shared
                );
            }
            Ok(0)
        }
        Command::Pull { image } => {
            require_root("pulling images")?;
            let store = store(cli.root)?;
            let reference = ctr::reference::Reference::parse(&image)?;
            let progress = ctr::registry::progress::Progress::for_stderr();
            ctr::registry::pull::pull_and_report(&store, &reference, &progress)?;
            Ok(0)
        }
        Command::Images => {
            let store = store(cli.root)?;
            print!(
                "{}",
                ctr::show::images(&store.images()?, ctr::image::store::now())
            );
            Ok(0)
        }
        Command::Rmi { images } => {
            require_root("removing images")?;
            let store = store(cli.root)?;
            let lock = store.lock(true)?;
            let in_use = |id: &ctr::digest::Digest| container::image_in_use(&store, id);
            for name in images {
                let report = store
                    .remove(&name, &in_use, &lock)
                    .with_context(|| format!("removing image {name}"))?;
                for line in report {
                    println!("{line}");
                }
            }
            Ok(0)
        }
        Command::Lifecycle(command) => {
            require_root("managing containers")?;
            lifecycle_cli::dispatch(&store(cli.root)?, command)
        }
        Command::Volume { command } => {
            require_root("managing volumes")?;
            volume_cli::dispatch(&store(cli.root)?, command)
        }
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "ctr", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { dir } => {
            use clap::CommandFactory;
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), &dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            Ok(0)
        }
        Command::Inspect {
            format,
            kind,
            names,
        } => inspect_cli::inspect(
            &store(cli.root)?,
            format.as_deref(),
            kind.as_deref(),
            &names,
        ),
        Command::System { command } => {
            require_root("checking the host")?;
            system(cli.root, command)
        }
        Command::Run(args) => {
            let image = args.image().to_string();
            run(cli.root, *args).with_context(|| format!("running {image}"))
        }
    }
}

fn system(root: Option<PathBuf>, command: System) -> Result<u8> {
    match command {
        System::Check => {
            let leftovers = ctr::system::check(&store(root)?)?;
            for leftover in &leftovers {
                println!("{leftover}");
            }
            if leftovers.is_empty() {
                println!("nothing left over");
                return Ok(0);
            }
            eprintln!(
                "ctr: {} leftovers: `ctr rm` the containers they name, or `ctr system reset`",
                leftovers.len()
            );
            Ok(1)
        }
        System::Reset => {
            let root = store_root(root);
            let removed = ctr::system::reset(&root)?;
            for line in &removed {
                println!("removed {line}");
            }
            if removed.is_empty() {
                println!("nothing to remove");
            }
            Ok(0)
        }
    }
}

fn run(root: Option<PathBuf>, args: RunArgs) -> Result<u8> {
    let network: ctr::net::Mode = match &args.network {
        Some(name) => name.parse()?,
        None if ctr::rootless::active().is_some() => ctr::net::Mode::Pasta,
        None => ctr::net::Mode::Bridge,
    };
    let restart: ctr::container::restart::Policy = args.restart.parse()?;
    if restart != ctr::container::restart::Policy::No {
        if args.rm {
            bail!("--restart {restart} and --rm conflict: a container removed when it ends cannot be started again");
        }
        if !args.detach {
            bail!("--restart {restart} keeps the container running in the background: add -d");
        }
    }
    let extra_hosts = args
        .add_host
        .iter()
        .map(|h| ctr::net::files::parse_host(h))
        .collect::<Result<Vec<_>>>()?;
    let labels = args
        .label
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    // docker's order: the files' variables, then -e's, the last one winning.
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(ctr::config::env_file(file)?);
    }
    env.extend(args.env.iter().cloned());
    if let Some(signal) = &args.stop_signal {
        ctr::container::lifecycle::parse_signal(signal).context("--stop-signal")?;
    }
    let ports = args
        .publish
        .iter()
        .map(|p| ctr::net::Port::parse(p))
        .collect::<Result<Vec<_>>>()?;
    let volumes = ctr::container::volumes::Flags {
        volume: args.volume.clone(),
        mount: args.mount.clone(),
        tmpfs: args.tmpfs.clone(),
    };
    // Checked before anything is pulled or made.
    ctr::container::volumes::plan(&volumes, &[])?;
    require_root("running containers")?;
    let store = store(root)?;
    // docker's: an image that is not here is pulled first.
    ctr::registry::pull::ensure(&store, args.image())?;
    let cmd = args.cmd().to_vec();
    let request = Request {
        image: args.image().to_string(),
        name: args.name,
        rm: args.rm,
        init: args.init,
        interactive: args.interactive,
        tty: args.tty,
        hostname: args.hostname,
        detach: args.detach,
        network,
        ports,
        limits: ctr::container::limits::Limits {
            memory: args.memory,
            memory_swap: args.memory_swap,
            memory_reservation: args.memory_reservation,
            cpus: args.cpus,
            cpu_shares: args.cpu_shares,
            cpuset_cpus: args.cpuset_cpus,
            pids_limit: args.pids_limit,
        },
        confine: ctr::container::confine::Asked {
            privileged: args.privileged,
            cap_add: args.cap_add,
            cap_drop: args.cap_drop,
            read_only: args.read_only,
            security_opt: args.security_opt,
            devices: args.device,
        },
        options: RunOptions {
            entrypoint: args.entrypoint,
            cmd,
            env,
            workdir: args.workdir,
            user: args.user,
            hostname: String::new(),
            tty: args.tty,
        },
        volumes,
        restart,
        stop_signal: args.stop_signal,
        stop_timeout: args.stop_timeout,
        extra_hosts,
        dns: args.dns,
        labels,
        userns: args.userns,
    };
    container::run(&store, request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(words: &[&str]) -> RunArgs {
        let argv = ["ctr", "run"].iter().chain(words);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(args) => *args,
            _ => panic!("not run"),
        }
    }

    #[test]
    fn the_command_keeps_its_own_flags() {
        let a = run_args(&["-it", "--rm", "-e", "A=1", "busybox", "ls", "-l", "--rm"]);
        assert!(a.interactive && a.tty && a.rm);
        assert_eq!(a.env, ["A=1"]);
        assert_eq!(a.image(), "busybox");
        assert_eq!(a.cmd(), ["ls", "-l", "--rm"]);
    }

    #[test]
    fn options_as_docker_spells_them() {
        let a = run_args(&[
            "--name",
            "web",
            "-w",
            "/srv",
            "-u",
            "1:2",
            "--entrypoint",
            "",
            "--hostname",
            "h",
            "--init",
            "--network",
            "none",
            "-e",
            "B",
            "--env",
            "C=3",
            "img",
        ]);
        assert_eq!(a.name.as_deref(), Some("web"));
        assert_eq!(a.workdir.as_deref(), Some("/srv"));
        assert_eq!(a.user.as_deref(), Some("1:2"));
        assert_eq!(a.entrypoint.as_deref(), Some(""));
        assert_eq!(a.hostname.as_deref(), Some("h"));
        assert!(a.init);
        assert_eq!(a.env, ["B", "C=3"]);
        assert!(a.cmd().is_empty());
    }

    #[test]
    fn options_end_at_the_image_even_dockers_short_ones() {
        let a = run_args(&["-m", "32m", "busybox", "sh", "-c", "echo hi", "-m", "--rm"]);
        assert_eq!(a.memory.as_deref(), Some("32m"));
        assert!(!a.rm);
        assert_eq!(a.cmd(), ["sh", "-c", "echo hi", "-m", "--rm"]);
        let a = run_args(&["-c", "512", "--pids-limit", "-1", "img", "-c"]);
        assert_eq!(a.cpu_shares, Some(512));
        assert_eq!(a.pids_limit, Some(-1));
        assert_eq!(a.cmd(), ["-c"]);
    }

    #[test]
    fn privileges_as_docker_spells_them() {
        let a = run_args(&[
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop=ALL",
            "--cap-add",
            "kill",
            "--privileged",
            "--read-only",
            "--security-opt",
            "no-new-privileges",
            "--security-opt=seccomp=/p.json",
            "--device",
            "/dev/kmsg:/dev/kmsg:r",
            "img",
        ]);
        assert_eq!(a.cap_add, ["NET_ADMIN", "kill"]);
        assert_eq!(a.cap_drop, ["ALL"]);
        assert!(a.privileged && a.read_only);
        assert_eq!(a.security_opt, ["no-new-privileges", "seccomp=/p.json"]);
        assert_eq!(a.device, ["/dev/kmsg:/dev/kmsg:r"]);
    }

    #[test]
    fn an_image_is_required() {
        assert!(Cli::try_parse_from(["ctr", "run"]).is_err());
        assert!(Cli::try_parse_from(["ctr", "rmi"]).is_err());
    }

    #[test]
    fn networks_and_ports_are_checked_before_anything_runs() {
        let err = run(None, run_args(&["--network", "overlay", "x"])).unwrap_err();
        assert!(
            err.to_string().contains("use bridge, host, none or pasta"),
            "{err}"
        );
        let err = run(None, run_args(&["-p", "80", "x"])).unwrap_err();
        assert!(err.to_string().contains("give HOST:CONTAINER"), "{err}");
        let a = run_args(&["-d", "-p", "6379:6379", "--publish", "1:2/udp", "redis"]);
        assert!(a.detach);
        assert_eq!(a.publish, ["6379:6379", "1:2/udp"]);
        assert_eq!(a.network, None);
    }
}
