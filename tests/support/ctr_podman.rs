//! podman as a reference, inside the throwaway sandbox: its storage, run
//! root, locks, caches and configuration all on the sandbox's own /run and
//! tmpfs, so that the machine's podman (if any) and files are untouched.
//!
//! What it took on the project's machines (ARCHITECTURE.md, "Small traps"):
//! - containers.conf of our own (CONTAINERS_CONF): `default_ulimits` below the
//!   hard limits (no CAP_SYS_RESOURCE here), `cgroup_manager = "cgroupfs"`
//!   (no systemd), `events_logger = "file"` (no journald);
//! - `--cgroups=disabled`, and a cgroup2 mount on the sandbox's /sys/fs/cgroup:
//!   crun refuses the host's hybrid layout, and the sandbox's fresh sysfs has
//!   none at all ("invalid file system type on '/sys/fs/cgroup'");
//! - tmp_dir, static_dir and volume_path left at their defaults: podman's
//!   `container cleanup`, run by conmon when the container exits, does not
//!   get our CONTAINERS_CONF, and with other paths it finds a "database
//!   configuration mismatch" and fails, so `podman run` only returns after
//!   its 20 s conmon timeout;
//! - tmpfs on /dev/shm (libpod_lock), /var/lib (containers/cache, the blob
//!   info cache) and /var/tmp (image copies): podman writes there whatever
//!   its configuration says.

use std::path::Path;

/// Shell lines, run inside the sandbox after `support::ctr::in_sandbox`'s
/// prelude (`$L` is the busybox layout): set up podman and load the layout's
/// tags as `busybox:latest`, `busybox:entry`, `busybox:bare` (localhost/).
/// Defines `$P`, the podman command. Exits 90 when podman is missing, 91
/// when it cannot be set up, 92 when it cannot run a container; the reason
/// is on stderr.
pub const SETUP: &str = r#"
command -v podman >/dev/null || { echo "podman is not installed: apt-get install podman" >&2; exit 90; }
PT=$(mktemp -d /run/podman-test.XXXXXX)
cat > "$PT/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
network_config_dir = "$PT/networks"
CONF
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/storage"\nrunroot = "%s/runroot"\n' "$PT" "$PT" > "$PT/storage.conf"
: > "$PT/registries.conf"
export CONTAINERS_CONF=$PT/containers.conf CONTAINERS_STORAGE_CONF=$PT/storage.conf \
    CONTAINERS_REGISTRIES_CONF=$PT/registries.conf
{
    mount -t cgroup2 cgroup2 /sys/fs/cgroup &&
    for d in /dev/shm /var/lib /var/tmp; do mount -t tmpfs podman-test "$d" || exit 1; done
} || { echo "mounting the sandbox's cgroup2 and tmpfs for podman failed" >&2; exit 91; }
P="podman"
for tag in latest entry bare; do
    id=$($P pull -q "oci:$L:$tag") && $P tag "$id" "busybox:$tag" ||
        { echo "podman could not load oci:$L:$tag (above)" >&2; exit 91; }
done
PODMAN_RUN="$P run --rm --network none --cgroups=disabled"
smoke=$($PODMAN_RUN busybox:entry ok 2>&1)
[ "$smoke" = "entry: ok" ] || { echo "podman cannot run a container here: $smoke" >&2; exit 92; }
"#;

/// What `SETUP`'s exit status means.
pub fn failure(status: i32) -> Option<&'static str> {
    match status {
        90 => Some("podman is not installed"),
        91 => Some("podman could not be set up in the sandbox"),
        92 => Some("podman cannot run a container in the sandbox"),
        _ => None,
    }
}

/// Where podman writes on a host by default (its configuration, storage,
/// caches, locks, run state): the names, sizes and times of everything
/// there, to compare before and after. (Not all of /dev/shm and /var/tmp:
/// other programs use them.)
pub fn host_paths() -> Vec<String> {
    let mut out = Vec::new();
    for top in [
        "/etc/containers",
        "/var/lib/containers",
        "/dev/shm/libpod_lock",
        "/run/containers",
        "/run/libpod",
        "/run/crun",
    ] {
        walk(Path::new(top), &mut out);
    }
    out
}

fn walk(path: &Path, out: &mut Vec<String>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    out.push(format!("{} {} {mtime}", path.display(), meta.len()));
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for entry in entries {
            walk(&entry, out);
        }
    }
}
