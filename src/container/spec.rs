//! The engine's plan of a container, written as the runtime's contract:
//! config.json. Pure: everything the engine decided (the process from the
//! image and the flags, the user resolved in the image, the hostname, the
//! network, the confinement) goes in, an OCI runtime `Spec` comes out,
//! which `ctr-runtime` (or runc, or crun) can run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    BoxBuilder as ConsoleSizeBuilder, Capabilities, Linux, LinuxCapabilities,
    LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceType, LinuxResources, Mount, Process,
    Root, Spec, User,
};

use super::confine::{Confinement, READONLY_PATHS};
use crate::config;
use crate::net::Mode;
use crate::rootless::idmap::Map;
use crate::runtime::create::INIT_ANNOTATION;

/// What goes into a container's config.json.
pub struct Plan<'a> {
    pub process: &'a config::Process,
    /// `process.user`, resolved in the image's /etc/passwd and /etc/group.
    pub user: &'a config::User,
    /// The environment, HOME included.
    pub env: &'a [String],
    pub hostname: &'a str,
    pub network: Mode,
    /// `-t`, with the caller's terminal size (rows, columns) if it has one.
    pub terminal: Option<Option<(u16, u16)>>,
    /// `--init`: the runtime's init as PID 1.
    pub init: bool,
    /// The directory of the container's own /etc/hostname, hosts and
    /// resolv.conf, bound over the image's (none: the image's own).
    pub etc_dir: Option<&'a Path>,
    /// Its cgroup, when the machine has a cgroup filesystem.
    pub cgroup: Option<CgroupPlan>,
    /// What the process may do (see confine.rs).
    pub confinement: &'a Confinement,
    /// The ids the container has, when they are not the host's.
    pub ids: Option<&'a Ids>,
}

/// A container's ids, when not the host's: rootless, those of ctr's own
/// user namespace (the container shares it, as rootless podman's do);
/// with `--userns`, a namespace of its own, from these maps.
pub struct Ids {
    pub uid: Map,
    pub gid: Map,
    /// A user namespace of its own (linux.uidMappings, gidMappings).
    pub own_namespace: bool,
}

/// A cgroup per container, cgroupfs-style: `/ctr/ID`, with the limits.
pub struct CgroupPlan {
    pub path: PathBuf,
    /// A cgroup namespace of its own, so that /sys/fs/cgroup inside shows
    /// the container's cgroup as the top (docker's default on v2).
    pub namespace: bool,
    pub resources: Option<oci_spec::runtime::LinuxResources>,
}

/// The files of [`Plan::etc_dir`], and where each goes, as docker does.
pub const ETC_FILES: [(&str, &str); 3] = [
    ("hostname", "/etc/hostname"),
    ("hosts", "/etc/hosts"),
    ("resolv.conf", "/etc/resolv.conf"),
];

/// docker's sysctls for a container with a network namespace of its own:
/// any user may open ICMP sockets (ping without CAP_NET_RAW) and bind the
/// ports below 1024; the namespace is the container's, not the host's.
pub const NETNS_SYSCTLS: [(&str, &str); 2] = [
    ("net.ipv4.ip_unprivileged_port_start", "0"),
    ("net.ipv4.ping_group_range", "0 2147483647"),
];

/// config.json's bytes for SPEC, the same for the same container: oci-spec
/// holds capability sets as hash sets, whose order changes from one run
/// to the next; written sorted, two bundles can be compared with diff.
pub fn to_json(spec: &Spec) -> serde_json::Result<Vec<u8>> {
    let mut json = serde_json::to_value(spec)?;
    if let Some(sets) = json["process"]["capabilities"].as_object_mut() {
        for set in sets.values_mut() {
            if let Some(names) = set.as_array_mut() {
                names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    serde_json::to_vec_pretty(&json)
}

// ANCHOR: spec
pub fn spec(plan: &Plan) -> Spec {
    let mut process = Process::default();
    process.set_terminal(Some(plan.terminal.is_some()));
    if let Some(Some((rows, cols))) = plan.terminal {
        let size = ConsoleSizeBuilder::default()
            .height(u64::from(rows))
            .width(u64::from(cols))
            .build()
            .expect("both fields given");
        process.set_console_size(Some(size));
    }
    let mut user = User::default();
    user.set_uid(plan.user.uid);
    user.set_gid(plan.user.gid);
    user.set_additional_gids(Some(plan.user.groups.clone()));
    process.set_user(user);
    process.set_args(Some(plan.process.argv.clone()));
    process.set_env(Some(plan.env.to_vec()));
    process.set_cwd(PathBuf::from(&plan.process.cwd));
    let confinement = plan.confinement;
    process.set_capabilities(
        confinement
            .capabilities
            .as_ref()
            .map(|names| capabilities(names, plan.user.uid == 0)),
    );
    process.set_rlimits(None);
    process.set_no_new_privileges(confinement.no_new_privileges.then_some(true));
    process.set_apparmor_profile(None);
    process.set_oom_score_adj(None);
    process.set_selinux_label(None);

    let mut namespaces = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ];
    if plan.network.own_namespace() {
        namespaces.push(LinuxNamespaceType::Network);
    }
    if plan.cgroup.as_ref().is_some_and(|c| c.namespace) {
        namespaces.push(LinuxNamespaceType::Cgroup);
    }
    if plan.ids.is_some_and(|ids| ids.own_namespace) {
        namespaces.push(LinuxNamespaceType::User);
    }
    let namespaces: Vec<LinuxNamespace> = namespaces
        .into_iter()
        .map(|typ| {
            let mut ns = LinuxNamespace::default();
            ns.set_typ(typ);
            ns
        })
        .collect();
    // oci-spec's defaults are its own (masked paths, a device rule): every
    // field the plan does not set is cleared, so that config.json says only
    // what ctr decided.
    let mut linux = Linux::default();
    linux.set_namespaces(Some(namespaces));
    let paths = |p: &[String]| (!p.is_empty()).then(|| p.to_vec());
    linux.set_readonly_paths(paths(&confinement.readonly_paths));
    linux.set_masked_paths(paths(&confinement.masked_paths));
    // The device rules are the devices cgroup's: with a cgroup only.
    linux.set_resources(plan.cgroup.as_ref().and_then(|c| {
        let mut resources = c.resources.clone().unwrap_or_default();
        if !confinement.device_rules.is_empty() {
            resources.set_devices(Some(confinement.device_rules.clone()));
        }
        (resources != LinuxResources::default()).then_some(resources)
    }));
    linux.set_cgroups_path(plan.cgroup.as_ref().map(|c| c.path.clone()));
    linux.set_devices((!confinement.devices.is_empty()).then(|| confinement.devices.clone()));
    linux.set_seccomp(confinement.seccomp.clone());
    if plan.network.own_namespace() {
        let mut sysctl: HashMap<String, String> = NETNS_SYSCTLS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // The kernel takes only groups that exist in the network
        // namespace's user namespace: those of its gid map.
        if let Some(ids) = plan.ids {
            let last = ids
                .gid
                .size()
                .saturating_sub(1)
                .min(u64::from(u32::MAX - 1));
            sysctl.insert("net.ipv4.ping_group_range".into(), format!("0 {last}"));
        }
        linux.set_sysctl(Some(sysctl));
    }
    if let Some(ids) = plan.ids.filter(|ids| ids.own_namespace) {
        let mappings = |map: &Map| {
            map.ranges
                .iter()
                .map(|r| {
                    LinuxIdMappingBuilder::default()
                        .container_id(r.inside)
                        .host_id(r.outside)
                        .size(r.count)
                        .build()
                        .expect("every field is set")
                })
                .collect::<Vec<_>>()
        };
        linux.set_uid_mappings(Some(mappings(&ids.uid)));
        linux.set_gid_mappings(Some(mappings(&ids.gid)));
    }

    let mut root = Root::default();
    root.set_path(PathBuf::from("rootfs"));
    root.set_readonly(Some(confinement.read_only));

    let mut annotations = HashMap::new();
    if plan.init {
        annotations.insert(INIT_ANNOTATION.to_string(), "true".to_string());
    }

    let mut spec = Spec::default();
    spec.set_version(oci_spec::runtime::VERSION.to_string());
    spec.set_root(Some(root));
    spec.set_hostname(Some(plan.hostname.to_string()));
    spec.set_process(Some(process));
    let mut mounts = mounts(plan.etc_dir, confinement.privileged);
    // devpts's gid=5 (tty) must exist in the user namespace; a single
    // mapping has only root: ptys are root's group then (as podman's).
    if plan.ids.is_some_and(|ids| ids.gid.outside(5).is_none()) {
        for m in &mut mounts {
            if let Some(options) = m.options().clone() {
                m.set_options(Some(options.into_iter().filter(|o| o != "gid=5").collect()));
            }
        }
    }
    spec.set_mounts(Some(mounts));
    spec.set_linux(Some(linux));
    spec.set_annotations((!annotations.is_empty()).then_some(annotations));
    spec
}
// ANCHOR_END: spec

// ANCHOR: capabilities
/// docker's sets: root's process gets `names` as its bounding, effective
/// and permitted sets; another user's only as its bounding set, which is
/// what execve(2) would leave it (no inheritable set: docker gives none).
fn capabilities(names: &[String], root: bool) -> LinuxCapabilities {
    let set: Capabilities = names
        .iter()
        .filter_map(|n| n.strip_prefix("CAP_")?.parse().ok())
        .collect();
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(root.then(|| set.clone()));
    caps.set_permitted(root.then_some(set));
    caps.set_inheritable(None);
    caps.set_ambient(None);
    caps
}
// ANCHOR_END: capabilities

// ANCHOR: mounts
/// docker's default mounts, then the container's /etc files. /sys and the
/// cgroup filesystem are read-only, but with `--privileged`.
fn mounts(etc_dir: Option<&Path>, privileged: bool) -> Vec<Mount> {
    let ro: &[&str] = if privileged { &[] } else { &["ro"] };
    let m = |destination: &str, typ: &str, source: &str, options: &[&str]| {
        let mut mount = Mount::default();
        mount.set_destination(PathBuf::from(destination));
        mount.set_typ(Some(typ.to_string()));
        mount.set_source(Some(PathBuf::from(source)));
        mount.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
        mount
    };
    let mut mounts = vec![
        m("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        m(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        m(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        m(
            "/sys",
            "sysfs",
            "sysfs",
            &[&["nosuid", "noexec", "nodev"], ro].concat(),
        ),
        m(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &[ro, &["nosuid", "noexec", "nodev"]].concat(),
        ),
        m(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        m(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
    ];
    for (name, target) in ETC_FILES.iter().filter(|_| etc_dir.is_some()) {
        let source = etc_dir.unwrap_or(Path::new("/")).join(name);
        mounts.push(m(
            target,
            "bind",
            &source.display().to_string(),
            &["rbind", "rprivate"],
        ));
    }
    mounts
}
// ANCHOR_END: mounts

/// `ctr-runtime spec`: a config.json to start from, as `runc spec` writes
/// one: `sh` as root on a terminal, in every namespace but the user's.
pub fn template() -> Spec {
    let process = config::Process {
        argv: vec!["sh".into()],
        env: vec![
            format!("PATH={}", config::DEFAULT_PATH),
            "TERM=xterm".into(),
        ],
        cwd: "/".into(),
        user: "0".into(),
    };
    let user = config::User {
        uid: 0,
        gid: 0,
        groups: vec![],
        home: "/root".into(),
    };
    spec(&Plan {
        process: &process,
        user: &user,
        env: &process.env,
        hostname: "ctr-runtime",
        network: Mode::None,
        terminal: Some(None),
        init: false,
        etc_dir: None,
        cgroup: None,
        ids: None,
        // runc's template confines; this one keeps root's capabilities, so
        // that a bundle made from it can try anything (only the kernel's
        // knobs in /proc are read-only).
        confinement: &Confinement {
            readonly_paths: READONLY_PATHS.map(String::from).to_vec(),
            ..Confinement::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::confine::{decide, Asked, Host};

    fn plan_with<'a>(
        process: &'a config::Process,
        user: &'a config::User,
        env: &'a [String],
    ) -> Plan<'a> {
        Plan {
            process,
            user,
            env,
            hostname: "0123456789ab",
            network: Mode::Bridge,
            terminal: None,
            init: false,
            etc_dir: Some(Path::new("/var/lib/ctr/containers/x")),
            cgroup: None,
            ids: None,
            confinement: confined(&Asked::default()),
        }
    }

    /// The confinement `asked` gets on a machine of docker's 14 and more.
    fn confined(asked: &Asked) -> &'static Confinement {
        let host = Host {
            caps: ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
                .iter()
                .chain(crate::container::confine::DEFAULT_CAPS.iter())
                .map(|c| c.to_string())
                .collect(),
            arch: "x86_64".into(),
            kernel: (6, 1),
            device_cgroup: true,
            ..Host::default()
        };
        Box::leak(Box::new(decide(asked, &host).unwrap()))
    }

    #[test]
    fn the_plan_becomes_config_json() {
        let process = config::Process {
            argv: vec!["redis-server".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/data".into(),
            user: "redis".into(),
        };
        let user = config::User {
            uid: 999,
            gid: 999,
            groups: vec![999],
            home: "/home/redis".into(),
        };
        let env = vec!["PATH=/bin".to_string(), "HOME=/home/redis".to_string()];
        let mut plan = plan_with(&process, &user, &env);
        let json = serde_json::to_value(spec(&plan)).unwrap();
        assert_eq!(json["process"]["args"], serde_json::json!(["redis-server"]));
        assert_eq!(json["process"]["user"]["uid"], 999);
        assert_eq!(json["process"]["cwd"], "/data");
        assert_eq!(json["process"]["terminal"], false);
        assert_eq!(json["root"]["path"], "rootfs");
        assert_eq!(json["hostname"], "0123456789ab");
        let types: Vec<_> = json["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(types, ["pid", "ipc", "uts", "mount", "network"]);
        assert!(json.get("annotations").is_none());
        // What the runtime would refuse is never written.
        assert_eq!(
            crate::runtime::supported::unimplemented(&json),
            Vec::<String>::new()
        );

        plan.network = Mode::Host;
        plan.init = true;
        plan.terminal = Some(Some((30, 100)));
        let json = serde_json::to_value(spec(&plan)).unwrap();
        let types = json["linux"]["namespaces"].as_array().unwrap().len();
        assert_eq!(types, 4, "the host's network namespace");
        assert_eq!(json["annotations"][INIT_ANNOTATION], "true");
        assert_eq!(json["process"]["consoleSize"]["height"], 30);
        assert_eq!(
            crate::runtime::supported::unimplemented(&json),
            Vec::<String>::new()
        );
    }

    /// config.json for a default `ctr run` (root, bridge network, a
    /// cgroup), and for `--privileged`, reviewed as a whole; the seccomp
    /// rules are seccomp.rs's to test, shown here by their count.
    #[test]
    fn config_json_confined_and_privileged() {
        let process = config::Process {
            argv: vec!["sh".into()],
            env: vec![],
            cwd: "/".into(),
            user: "0".into(),
        };
        let root = config::User {
            uid: 0,
            gid: 0,
            groups: vec![],
            home: "/root".into(),
        };
        let mut plan = plan_with(&process, &root, &[]);
        plan.cgroup = Some(CgroupPlan {
            path: "/ctr/x".into(),
            namespace: false,
            resources: None,
        });
        let shown = |plan: &Plan| {
            let mut json = serde_json::to_value(spec(plan)).unwrap();
            // oci-spec keeps capabilities in a HashSet: any order.
            if let Some(sets) = json["process"]["capabilities"].as_object_mut() {
                for set in sets.values_mut() {
                    let mut names: Vec<String> =
                        serde_json::from_value(set.take()).unwrap_or_default();
                    names.sort();
                    *set = names.into();
                }
            }
            if let Some(rules) = json["linux"]["seccomp"]["syscalls"].as_array() {
                let n = rules.len();
                json["linux"]["seccomp"]["syscalls"] = format!("{n} rules").into();
            }
            serde_json::to_string_pretty(&json).unwrap()
        };
        insta::assert_snapshot!("confined", shown(&plan));
        plan.confinement = confined(&Asked {
            privileged: true,
            ..Asked::default()
        });
        insta::assert_snapshot!("privileged", shown(&plan));
    }

    #[test]
    fn the_confinement_becomes_config_json() {
        let process = config::Process {
            argv: vec!["sh".into()],
            env: vec![],
            cwd: "/".into(),
            user: "0".into(),
        };
        let root = config::User {
            uid: 0,
            gid: 0,
            groups: vec![],
            home: "/root".into(),
        };
        let mut plan = plan_with(&process, &root, &[]);
        plan.cgroup = Some(CgroupPlan {
            path: "/ctr/x".into(),
            namespace: false,
            resources: None,
        });
        let json = serde_json::to_value(spec(&plan)).unwrap();
        let caps = &json["process"]["capabilities"];
        assert_eq!(caps["bounding"].as_array().unwrap().len(), 14);
        assert_eq!(caps["effective"], caps["bounding"]);
        assert_eq!(caps["permitted"], caps["bounding"]);
        assert!(caps.get("inheritable").is_none() && caps.get("ambient").is_none());
        assert!(json["process"].get("noNewPrivileges").is_none());
        let linux = &json["linux"];
        assert_eq!(linux["maskedPaths"].as_array().unwrap().len(), 12);
        assert_eq!(linux["readonlyPaths"].as_array().unwrap().len(), 5);
        assert_eq!(linux["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(linux["resources"]["devices"][0]["allow"], false);
        assert_eq!(linux["resources"]["devices"].as_array().unwrap().len(), 14);
        assert_eq!(linux["sysctl"]["net.ipv4.ping_group_range"], "0 2147483647");
        assert_eq!(linux["sysctl"]["net.ipv4.ip_unprivileged_port_start"], "0");
        assert_eq!(json["root"]["readonly"], false);
        let sys = &json["mounts"][3];
        assert_eq!(sys["destination"], "/sys");
        assert!(sys["options"].as_array().unwrap().contains(&"ro".into()));
        assert_eq!(
            crate::runtime::supported::unimplemented(&json),
            Vec::<String>::new()
        );

        // Another user: the bounding set only, as execve would leave it.
        let user = config::User {
            uid: 1000,
            ..root.clone()
        };
        plan.user = &user;
        plan.network = Mode::Host;
        let json = serde_json::to_value(spec(&plan)).unwrap();
        let caps = &json["process"]["capabilities"];
        assert_eq!(caps["bounding"].as_array().unwrap().len(), 14);
        assert!(caps.get("effective").is_none() && caps.get("permitted").is_none());
        assert!(json["linux"].get("sysctl").is_none(), "the host's network");

        plan.user = &root;
        plan.confinement = confined(&Asked {
            privileged: true,
            read_only: true,
            security_opt: vec!["no-new-privileges".into()],
            ..Asked::default()
        });
        let json = serde_json::to_value(spec(&plan)).unwrap();
        assert_eq!(
            json["process"]["capabilities"]["effective"]
                .as_array()
                .unwrap()
                .len(),
            16
        );
        assert_eq!(json["process"]["noNewPrivileges"], true);
        assert_eq!(json["root"]["readonly"], true);
        let linux = &json["linux"];
        assert!(linux.get("seccomp").is_none() && linux.get("maskedPaths").is_none());
        assert!(linux.get("readonlyPaths").is_none());
        assert_eq!(
            linux["resources"]["devices"],
            serde_json::json!([{"allow": true, "access": "rwm"}])
        );
        for mount in &json["mounts"].as_array().unwrap()[3..5] {
            assert!(!mount["options"].as_array().unwrap().contains(&"ro".into()));
        }
    }
}
