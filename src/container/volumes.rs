//! `-v`, `--mount` and `--tmpfs`, and the image's `Volumes`: what a
//! container mounts besides its root, as docker spells and decides it.
//! Pure: [`plan`] turns the flags and the image's config into a list of
//! [`Wanted`] mounts (checked, duplicates refused, ordered parents first),
//! and [`oci_mount`] writes one as config.json's `mounts` entry once its
//! source is known. Making the named volumes and filling them is
//! [`crate::volume`]'s; mounting them safely inside the root is the
//! runtime's (`in_root`, `bind`).

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Mount;

/// `ctr run`'s mount flags, as typed.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// `-v/--volume HOST:CTR[:OPTS]`, `-v NAME:CTR[:OPTS]`, `-v CTR`.
    pub volume: Vec<String>,
    /// `--mount type=bind|volume|tmpfs,...`.
    pub mount: Vec<String>,
    /// `--tmpfs PATH[:OPTS]`.
    pub tmpfs: Vec<String>,
}

/// Where a mount's content comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A path of the host. `create`: `-v` makes a missing one (docker
    /// does); `--mount type=bind` refuses it.
    Bind { path: PathBuf, create: bool },
    /// A named volume, made on first use.
    Named(String),
    /// A volume of its own, named at random (`-v /data`, the image's
    /// `Volumes`).
    Anonymous,
    /// A tmpfs, with its options (`size=64m`, `mode=1777`, `exec`...).
    Tmpfs(Vec<String>),
}

/// One mount the container asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub source: Source,
    /// Absolute and clean (no `.`, `..` or repeated `/`).
    pub target: String,
    pub readonly: bool,
    /// A new, empty volume is filled with what the image has at `target`
    /// (docker's copy-up); `nocopy` / `volume-nocopy` turn that off.
    pub copy: bool,
    /// `private`, `rshared`...: a bind's propagation (default rprivate).
    pub propagation: Option<String>,
}

// ANCHOR: plan
/// The container's mounts: `--tmpfs`, `-v`, `--mount`, then the image's
/// `Volumes` that no flag mounts already (as anonymous volumes); two
/// mounts on one target are refused, as docker refuses them. Ordered by
/// the depth of their target, so that `/data` is mounted before
/// `/data/cache` (docker's `sortMounts`).
pub fn plan(flags: &Flags, image_volumes: &[String]) -> Result<Vec<Wanted>> {
    let mut wanted = Vec::new();
    for text in &flags.tmpfs {
        wanted.push(parse_tmpfs(text).with_context(|| format!("--tmpfs {text:?}"))?);
    }
    for text in &flags.volume {
        wanted.push(parse_volume(text).with_context(|| format!("-v {text:?}"))?);
    }
    for text in &flags.mount {
        wanted.push(parse_mount(text).with_context(|| format!("--mount {text:?}"))?);
    }
    for (i, w) in wanted.iter().enumerate() {
        if wanted[..i].iter().any(|o| o.target == w.target) {
            bail!(
                "duplicate mount point: {} is mounted twice: keep one of them",
                w.target
            );
        }
    }
    for path in image_volumes {
        let target = clean_target(path)
            .with_context(|| format!("the image's volume {path:?} is invalid"))?;
        if !wanted.iter().any(|w| w.target == target) {
            wanted.push(Wanted {
                source: Source::Anonymous,
                target,
                readonly: false,
                copy: true,
                propagation: None,
            });
        }
    }
    wanted.sort_by_key(|w| Path::new(&w.target).components().count());
    Ok(wanted)
}
// ANCHOR_END: plan

/// docker's rule for a volume's name: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_volume_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        bail!(
            "{name:?} includes invalid characters for a local volume name, \
             only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed; if you meant a host \
             directory, give its absolute path"
        );
    }
    Ok(())
}

// ANCHOR: parse_volume
/// `-v`: `CTR` (an anonymous volume), `SRC:CTR` or `SRC:CTR:OPTS`, where
/// SRC is a host path (absolute, or `./`-relative to the current
/// directory) or a volume's name, and OPTS are `ro`, `rw`, `nocopy` and a
/// propagation, comma-separated.
pub fn parse_volume(text: &str) -> Result<Wanted> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, options) = match parts[..] {
        [target] => (None, target, ""),
        [source, target] => (Some(source), target, ""),
        [source, target, options] => (Some(source), target, options),
        _ => bail!("invalid volume specification: give [SOURCE:]TARGET[:OPTIONS]"),
    };
    let target = clean_target(target)?;
    let source = match source {
        None => Source::Anonymous,
        Some("") => bail!("the source is empty: give a host path or a volume's name"),
        Some(path) if path.starts_with('/') || path.starts_with('.') => Source::Bind {
            path: absolute(path)?,
            create: true,
        },
        Some(name) => {
            check_volume_name(name)?;
            Source::Named(name.to_string())
        }
    };
    let mut wanted = Wanted {
        source,
        target,
        readonly: false,
        copy: true,
        propagation: None,
    };
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" | "readonly" => wanted.readonly = true,
            "rw" => wanted.readonly = false,
            "nocopy" if !matches!(wanted.source, Source::Bind { .. }) => wanted.copy = false,
            word if is_propagation(word) && matches!(wanted.source, Source::Bind { .. }) => {
                wanted.propagation = Some(word.to_string())
            }
            "z" | "Z" => bail!("{option:?} relabels for SELinux, which ctr does not do: drop it"),
            _ => bail!(
                "unknown option {option:?}: use ro, rw, nocopy (volumes) or a propagation \
                 such as rslave (host paths)"
            ),
        }
    }
    Ok(wanted)
}
// ANCHOR_END: parse_volume

// ANCHOR: parse_mount
/// `--mount`: comma-separated `key=value`s, docker's keys: `type`
/// (bind, volume or tmpfs; volume by default), `source`/`src`,
/// `target`/`destination`/`dst`, `readonly`/`ro` (alone or `=true|false`),
/// `bind-propagation`, `volume-nocopy`, `tmpfs-size`, `tmpfs-mode`.
pub fn parse_mount(text: &str) -> Result<Wanted> {
    let mut typ = "volume".to_string();
    let mut source = None;
    let mut target = None;
    let mut readonly = false;
    let mut propagation = None;
    let mut copy = true;
    let mut tmpfs = Vec::new();
    for field in text.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let flag = |value: Option<String>| -> Result<bool> {
            match value.as_deref() {
                None | Some("true" | "1") => Ok(true),
                Some("false" | "0") => Ok(false),
                Some(other) => bail!("{key}={other}: give true or false"),
            }
        };
        let needed = |value: Option<String>| -> Result<String> {
            value.with_context(|| format!("{key} needs a value: {key}=..."))
        };
        match key.as_str() {
            "type" => typ = needed(value)?,
            "source" | "src" => source = Some(needed(value)?),
            "target" | "destination" | "dst" => target = Some(needed(value)?),
            "readonly" | "ro" => readonly = flag(value)?,
            "bind-propagation" => {
                let word = needed(value)?;
                if !is_propagation(&word) {
                    bail!("invalid bind-propagation {word:?}: use private, rprivate, shared, rshared, slave or rslave");
                }
                propagation = Some(word);
            }
            "volume-nocopy" => copy = !flag(value)?,
            "tmpfs-size" => tmpfs.push(format!("size={}", tmpfs_size(&needed(value)?)?)),
            "tmpfs-mode" => {
                let mode = needed(value)?;
                u32::from_str_radix(&mode, 8)
                    .with_context(|| format!("tmpfs-mode {mode:?} is no octal mode (1777)"))?;
                tmpfs.push(format!("mode={mode}"));
            }
            _ => bail!(
                "unknown key {key:?}: use type, source, target, readonly, bind-propagation, \
                 volume-nocopy, tmpfs-size or tmpfs-mode"
            ),
        }
    }
    let target = clean_target(&target.context("target is required: add target=/PATH")?)?;
    let only = |what: &str, ok: bool| -> Result<()> {
        if !ok {
            bail!("{what} does not apply to type={typ}: drop it");
        }
        Ok(())
    };
    only("bind-propagation", propagation.is_none() || typ == "bind")?;
    only("volume-nocopy", copy || typ == "volume")?;
    only(
        "tmpfs-size and tmpfs-mode",
        tmpfs.is_empty() || typ == "tmpfs",
    )?;
    let source = match (typ.as_str(), source) {
        ("bind", None) => bail!("source is required for type=bind: add source=/HOST/PATH"),
        ("bind", Some(path)) => Source::Bind {
            path: absolute(&path)?,
            create: false,
        },
        ("volume", None) => Source::Anonymous,
        ("volume", Some(name)) => {
            check_volume_name(&name)?;
            Source::Named(name)
        }
        ("tmpfs", None) => {
            copy = false;
            Source::Tmpfs(tmpfs)
        }
        ("tmpfs", Some(_)) => bail!("type=tmpfs takes no source: drop it"),
        (other, _) => bail!("type {other:?} is not supported: use bind, volume or tmpfs"),
    };
    Ok(Wanted {
        source,
        target,
        readonly,
        copy,
        propagation,
    })
}
// ANCHOR_END: parse_mount

/// `--tmpfs PATH[:OPTS]`: OPTS are mount(8)'s, as tmpfs(5) reads them
/// (`size=64m`, `mode=1777`, `exec`, `uid=1000`...).
pub fn parse_tmpfs(text: &str) -> Result<Wanted> {
    let (target, options) = text.split_once(':').unwrap_or((text, ""));
    let mut readonly = false;
    let mut kept = Vec::new();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => readonly = true,
            "rw" => readonly = false,
            o if o.starts_with("size=") => kept.push(format!("size={}", tmpfs_size(&o[5..])?)),
            o if o.contains(' ') || o.contains('\0') => bail!("invalid tmpfs option {o:?}"),
            o => kept.push(o.to_string()),
        }
    }
    Ok(Wanted {
        source: Source::Tmpfs(kept),
        target: clean_target(target)?,
        readonly,
        copy: false,
        propagation: None,
    })
}

// ANCHOR: oci_mount
/// config.json's entry for `wanted`, whose content is at `host` (a bind's
/// path, a volume's `_data`; ignored for a tmpfs), with docker's options:
/// `rbind` and `rprivate` (or the propagation asked) for what is bound,
/// and `ro` — which the runtime applies to the whole tree bound, as docker
/// does on kernels that can (5.12's mount_setattr). A tmpfs gets
/// `noexec,nosuid,nodev` unless its options undo them (moby's
/// `MergeTmpfsOptions`).
pub fn oci_mount(wanted: &Wanted, host: &Path) -> Mount {
    let mut mount = Mount::default();
    mount.set_destination(PathBuf::from(&wanted.target));
    let options = match &wanted.source {
        Source::Tmpfs(asked) => {
            mount.set_typ(Some("tmpfs".into()));
            mount.set_source(Some(PathBuf::from("tmpfs")));
            let mut defaults = ["noexec", "nosuid", "nodev"].map(String::from).to_vec();
            defaults.extend(asked.iter().cloned());
            if wanted.readonly {
                defaults.push("ro".into());
            }
            merge_tmpfs_options(&defaults)
        }
        _ => {
            mount.set_typ(Some("bind".into()));
            mount.set_source(Some(host.to_path_buf()));
            let mut options = vec!["rbind".to_string()];
            if wanted.readonly {
                options.push("ro".into());
            }
            options.push(
                wanted
                    .propagation
                    .clone()
                    .unwrap_or_else(|| "rprivate".into()),
            );
            options
        }
    };
    mount.set_options(Some(options));
    mount
}
// ANCHOR_END: oci_mount

// ANCHOR: merge
/// config.json's mounts: docker's defaults but those a user's mount
/// replaces (`-v x:/dev/shm`), then the user's and the /etc files sorted
/// together by depth, as moby's `sortMounts` does: a volume on /etc comes
/// before /etc/hosts, which stays the container's.
pub fn merge(defaults: Vec<Mount>, theirs: Vec<Mount>) -> Vec<Mount> {
    let replaced = |m: &Mount| theirs.iter().any(|t| t.destination() == m.destination());
    let is_etc_file = |m: &Mount| {
        crate::container::spec::ETC_FILES
            .iter()
            .any(|(_, target)| m.destination() == Path::new(target))
    };
    let (etc, mut all): (Vec<Mount>, Vec<Mount>) = defaults
        .into_iter()
        .filter(|m| !replaced(m))
        .partition(is_etc_file);
    let mut sorted: Vec<Mount> = etc.into_iter().chain(theirs).collect();
    sorted.sort_by_key(|m| m.destination().components().count());
    all.extend(sorted);
    all
}
// ANCHOR_END: merge

/// Later options win: `exec` undoes a default `noexec`, a second
/// `size=` replaces the first; order kept otherwise.
fn merge_tmpfs_options(options: &[String]) -> Vec<String> {
    let key = |o: &str| -> String {
        let o = o.split('=').next().unwrap_or(o);
        match o {
            "ro" | "rw" => "rw".into(),
            _ => o.strip_prefix("no").unwrap_or(o).to_string(),
        }
    };
    let mut out: Vec<String> = Vec::new();
    for option in options {
        out.retain(|o| key(o) != key(option));
        out.push(option.clone());
    }
    out
}

/// A tmpfs size as docker reads it (`64m`, `1g`, bytes) as tmpfs(5) takes
/// it, in bytes.
fn tmpfs_size(text: &str) -> Result<u64> {
    let lower = text.to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &lower[digits.len()..];
    let n: u64 = digits
        .parse()
        .with_context(|| format!("tmpfs size {text:?} is no size: give bytes or 64m, 1g..."))?;
    let factor: u64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => bail!("tmpfs size {text:?}: unknown unit {unit:?} (use k, m or g)"),
    };
    n.checked_mul(factor)
        .with_context(|| format!("tmpfs size {text:?} is too large"))
}

fn is_propagation(word: &str) -> bool {
    crate::runtime::mount_options::propagation(word).is_some()
}

/// The target, absolute and without `.`/`..`/empty components. `..`
/// is refused rather than resolved: docker refuses a relative target, and
/// a `..` has no meaning a user would want.
fn clean_target(target: &str) -> Result<String> {
    if !target.starts_with('/') {
        bail!("invalid mount target {target:?}: it must be an absolute path");
    }
    let mut clean = PathBuf::from("/");
    for component in Path::new(target).components() {
        match component {
            Component::Normal(name) => clean.push(name),
            Component::ParentDir => {
                bail!("invalid mount target {target:?}: `..` is not allowed in it")
            }
            _ => {}
        }
    }
    if clean == Path::new("/") {
        bail!("invalid mount target {target:?}: the container's root cannot be a mount target");
    }
    Ok(clean.display().to_string())
}

/// A host path as given, made absolute against the current directory
/// (docker's CLI does this for `./dir`).
fn absolute(path: &str) -> Result<PathBuf> {
    let path = Path::new(path);
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let here = std::env::current_dir().context("reading the current directory")?;
    Ok(here.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(volume: &[&str], mount: &[&str], tmpfs: &[&str]) -> Flags {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Flags {
            volume: own(volume),
            mount: own(mount),
            tmpfs: own(tmpfs),
        }
    }

    fn error(result: Result<impl std::fmt::Debug>) -> String {
        format!("{:#}", result.unwrap_err())
    }

    #[test]
    fn every_form_of_the_flags_is_planned() {
        let plan = plan(
            &flags(
                &[
                    "redisdata:/data",
                    "/srv/site:/usr/share/html:ro",
                    "/cache",
                    "named:/data/sub:nocopy,ro",
                    "/h:/slave:rslave",
                ],
                &[
                    "type=bind,source=/etc/app,target=/etc/app,readonly",
                    "type=volume,src=logs,dst=/var/log,volume-nocopy",
                    "type=volume,target=/anon",
                    "type=tmpfs,target=/scratch,tmpfs-size=64m,tmpfs-mode=1770",
                ],
                &["/run:exec,size=1m", "/tmp"],
            ),
            &["/data".into(), "/image/only".into()],
        )
        .unwrap();
        insta::assert_debug_snapshot!(plan);
    }

    #[test]
    fn config_json_gets_dockers_options() {
        let mounts: Vec<Mount> = plan(
            &flags(
                &["redisdata:/data", "/srv:/srv:ro,rslave"],
                &["type=tmpfs,target=/scratch,tmpfs-size=64m"],
                &["/run:exec,size=1m,ro"],
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|w| oci_mount(w, Path::new("/var/lib/ctr/volumes/redisdata/_data")))
        .collect();
        insta::assert_snapshot!(serde_json::to_string_pretty(&mounts).unwrap());
    }

    #[test]
    fn bad_flags_say_what_to_do() {
        let one = |v: &[&str], m: &[&str], t: &[&str]| error(plan(&flags(v, m, t), &[]));
        insta::assert_snapshot!([
            one(&["data"], &[], &[]),
            one(&["a:b:c:d"], &[], &[]),
            one(&["xx:/d", "yy:/d/"], &[], &[]),
            one(&["x:/d"], &[], &[]),
            one(&["/h:/d:z"], &[], &[]),
            one(&["/h:/d:nocopy"], &[], &[]),
            one(&["/h:/../etc"], &[], &[]),
            one(&["/h:/"], &[], &[]),
            one(&["bad name!:/d"], &[], &[]),
            one(&[], &["type=bind,target=/d"], &[]),
            one(&[], &["type=nfs,target=/d"], &[]),
            one(&[], &["type=volume,source=v"], &[]),
            one(&[], &["type=volume,target=/d,colour=red"], &[]),
            one(&[], &["type=bind,src=/h,target=/d,volume-nocopy"], &[]),
            one(&[], &["type=tmpfs,target=/d,tmpfs-size=lots"], &[]),
            one(&[], &["type=tmpfs,target=/d,readonly=maybe"], &[]),
            one(&[], &[], &["relative"]),
        ]
        .join("\n"));
    }

    #[test]
    fn the_image_volumes_yield_to_flags() {
        let plan = plan(&flags(&["vol:/data"], &[], &[]), &["/data/".into()]).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].source, Source::Named("vol".into()));
        assert!(error(self::plan(&Flags::default(), &["rel".into()])).contains("absolute"));
    }

    #[test]
    fn user_mounts_replace_defaults_and_sort_with_the_etc_files() {
        let m = |dest: &str| {
            let mut mount = Mount::default();
            mount.set_destination(PathBuf::from(dest));
            mount
        };
        let defaults = ["/proc", "/dev", "/dev/shm", "/etc/hostname", "/etc/hosts"].map(m);
        let theirs = ["/data/sub", "/etc", "/dev/shm"].map(m);
        let merged: Vec<String> = merge(defaults.to_vec(), theirs.to_vec())
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect();
        assert_eq!(
            merged,
            [
                "/proc",
                "/dev",
                "/etc",
                "/etc/hostname",
                "/etc/hosts",
                "/data/sub",
                "/dev/shm"
            ]
        );
    }

    #[test]
    fn tmpfs_options_merge_as_mobys() {
        let merged = merge_tmpfs_options(
            &[
                "noexec", "nosuid", "nodev", "size=1", "exec", "size=2", "ro", "rw",
            ]
            .map(String::from),
        );
        assert_eq!(merged, ["nosuid", "nodev", "exec", "size=2", "rw"]);
    }

    #[test]
    fn relative_host_paths_are_made_absolute() {
        let w = parse_volume("./site:/srv").unwrap();
        let Source::Bind { path, create } = w.source else {
            panic!("not a bind");
        };
        assert!(path.is_absolute() && path.ends_with("site") && create);
    }
}
