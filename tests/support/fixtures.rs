//! The fixture images (see `mkfixtures`), built once per test run and kept
//! under target/, in a directory named by a hash of the scripts that make
//! them: change a script and the next run builds them anew.

use super::{quote, repo, sandbox, target_dir};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

pub struct Fixtures {
    /// storage/ (the registry's), static/, key.pem, root.crt, digests.
    pub dir: PathBuf,
    digests: HashMap<String, String>,
}

impl Fixtures {
    /// The manifest digest of library/busybox:TAG.
    pub fn digest(&self, tag: &str) -> &str {
        self.digests
            .get(tag)
            .unwrap_or_else(|| panic!("no fixture digest for {tag}"))
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.join("storage")
    }
}

/// Builds the fixtures if this run has not, and returns them.
pub fn fixtures() -> &'static Fixtures {
    static BUILT: OnceLock<Fixtures> = OnceLock::new();
    BUILT.get_or_init(|| {
        let support = repo().join("tests/support");
        let mut hasher = Sha256::new();
        for script in [
            support.join("mkfixtures"),
            support.join("mkredis"),
            support.join("fixture_server.py"),
            repo().join("scripts/mkrootfs"),
        ] {
            hasher.update(std::fs::read(&script).expect("reading a fixture script"));
        }
        let version = format!("{:x}", hasher.finalize());
        let dir = target_dir().join(format!("fixtures-{}", &version[..12]));
        if !dir.join("digests").exists() {
            let tmp = target_dir().join(format!(".fixtures-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            let script = support.join("mkfixtures").display().to_string();
            let out = sandbox(&format!(
                "{} {}",
                quote(&script),
                quote(&tmp.display().to_string())
            ));
            assert_eq!(out.status, 0, "building the fixture images: {}", out.both());
            // Another test binary may have finished first: keep either.
            if std::fs::rename(&tmp, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
            }
        }
        // target/fixtures names the newest, for `just registry` and readers.
        let link = target_dir().join(format!(".fixtures-link-{}", std::process::id()));
        let _ = std::fs::remove_file(&link);
        if std::os::unix::fs::symlink(dir.file_name().unwrap(), &link).is_ok() {
            let _ = std::fs::rename(&link, target_dir().join("fixtures"));
        }
        let digests = std::fs::read_to_string(dir.join("digests"))
            .expect("reading the fixture digests")
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(tag, digest)| (tag.to_string(), digest.to_string()))
            .collect();
        Fixtures { dir, digests }
    })
}
