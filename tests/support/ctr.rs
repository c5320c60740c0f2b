//! What the runtime's tests share: the `ctr` binary, the busybox OCI layout
//! that `scripts/mkimage` makes, a sandbox script with a fresh store, and a
//! writer of small OCI layouts whose layers a test composes entry by entry
//! (whiteouts, and the hostile entries that must be refused).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};

use super::{binary, quote, repo, sandbox, target_dir, Outcome};

/// The ctr binary, built.
pub fn ctr() -> PathBuf {
    binary("ctr")
}

/// The busybox OCI layout (tags latest, entry, bare), made once under target/.
pub fn layout() -> PathBuf {
    static MADE: OnceLock<PathBuf> = OnceLock::new();
    MADE.get_or_init(|| {
        let dest = target_dir().join("test-images/busybox-oci");
        if !dest.join("index.json").exists() {
            let out = Command::new(repo().join("scripts/mkimage"))
                .arg(&dest)
                .output()
                .expect("running scripts/mkimage");
            // Another test binary may have made it meanwhile: that is fine.
            assert!(
                out.status.success() || dest.join("index.json").exists(),
                "scripts/mkimage failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        dest
    })
    .clone()
}

/// Runs `body` in a new sandbox where `$C` is ctr, CTR_ROOT a fresh store on
/// the sandbox's own /run, `$L` the busybox layout, already imported as
/// `busybox` (tags latest, entry, bare) unless `import` is false; and
/// `wait_for CMD...` (see [`super::WAIT_FOR`]).
pub fn in_sandbox(import: bool, body: &str) -> Outcome {
    let mut script = format!(
        "export CTR_ROOT=/run/ctr\nC={}\nL={}\n{}",
        quote(&ctr().display().to_string()),
        quote(&layout().display().to_string()),
        super::WAIT_FOR,
    );
    if import {
        script.push_str("$C import \"$L\" busybox >/dev/null || exit 99\n");
    }
    script.push_str(body);
    sandbox(&script)
}

/// `in_sandbox(true, body)`, asserting that it exited 0.
pub fn ok(body: &str) -> Outcome {
    let out = in_sandbox(true, body);
    assert_eq!(out.status, 0, "{}", out.both());
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An entry of a test layer.
pub enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    /// An empty regular file whose name is written as is, bypassing the tar
    /// crate's own checks: `../x`, `/x`.
    RawName(&'a str),
}

/// An uncompressed layer tar of `entries`.
pub fn layer(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match entry {
            Entry::Dir(name) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, name, &[][..]).unwrap();
            }
            Entry::File(name, text) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(text.len() as u64);
                b.append_data(&mut h, name, text.as_bytes()).unwrap();
            }
            Entry::Symlink(name, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, name, target).unwrap();
            }
            Entry::HardLink(name, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                h.set_link_name_literal(target).unwrap();
                h.set_path(name).unwrap();
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            Entry::RawName(name) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(0);
                let field = &mut h.as_old_mut().name;
                field.fill(0);
                field[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn write_blob(dir: &Path, bytes: &[u8]) -> String {
    let hex = sha256_hex(bytes);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(&hex), bytes).unwrap();
    format!("sha256:{hex}")
}

/// The gzip'd base layer of the busybox layout and its diff_id.
pub fn busybox_layer() -> (Vec<u8>, String) {
    let layout = layout();
    let read_json = |digest: &str| -> serde_json::Value {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let bytes = std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = read_json(index["manifests"][0]["digest"].as_str().unwrap());
    let config = read_json(manifest["config"]["digest"].as_str().unwrap());
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let bytes = std::fs::read(layout.join("blobs/sha256").join(&layer[7..])).unwrap();
    (
        bytes,
        config["rootfs"]["diff_ids"][0]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// Writes an OCI layout at `dir` with one image, tagged `tag`, whose layers
/// are `layers` (each: the blob and its diff_id; plain tars are their own),
/// with Cmd `cmd`.
pub fn write_layout(dir: &Path, tag: &str, layers: &[(Vec<u8>, String)], cmd: &[&str]) {
    let config = serde_json::json!({"Cmd": cmd, "Env": ["PATH=/bin"]});
    write_layout_with(dir, tag, layers, config);
}

/// [`write_layout`] with the image config's `config` object given whole
/// (`Volumes`, `WorkingDir`...).
pub fn write_layout_with(
    dir: &Path,
    tag: &str,
    layers: &[(Vec<u8>, String)],
    image_config: serde_json::Value,
) {
    std::fs::create_dir_all(dir).unwrap();
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for (blob, diff_id) in layers {
        let digest = write_blob(dir, blob);
        let gz = blob.starts_with(&[0x1f, 0x8b]);
        descriptors.push(serde_json::json!({
            "mediaType": if gz { "application/vnd.oci.image.layer.v1.tar+gzip" } else { "application/vnd.oci.image.layer.v1.tar" },
            "digest": digest, "size": blob.len()
        }));
        diff_ids.push(diff_id.clone());
    }
    let config = serde_json::json!({
        "created": "2023-11-14T22:13:20Z", "architecture": "amd64", "os": "linux",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = write_blob(dir, &config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": descriptors
    }))
    .unwrap();
    let manifest_digest = write_blob(dir, &manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag}}]
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A plain layer with its diff_id (its own digest).
pub fn plain(entries: &[Entry]) -> (Vec<u8>, String) {
    let bytes = layer(entries);
    let diff_id = format!("sha256:{}", sha256_hex(&bytes));
    (bytes, diff_id)
}

/// A fresh directory under target/ for a test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = target_dir()
        .join("test-scratch")
        .join(format!("{name}-{}", std::process::id()));
    _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
