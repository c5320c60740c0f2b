//! A container's ID: what both the engine and the runtime name it by.
//!
//! The runtime takes any ID its caller chooses, as runc does (podman and
//! containerd choose their own): letters, digits and `_ + - .`, so that it
//! is safe as a directory name. The engine makes docker's: 64 hex digits,
//! shown by their first 12.

use std::fmt;
use std::io::Read;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerId(String);

impl ContainerId {
    /// runc's rule (`^[\w+-\.]+$`), and at most 1024 bytes; `.` and `..`
    /// are no names.
    pub fn parse(text: &str) -> Result<ContainerId> {
        let ok = !text.is_empty()
            && text.len() <= 1024
            && text != "."
            && text != ".."
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
        if !ok {
            bail!("invalid container ID {text:?}: use letters, digits and _ + - . (at most 1024)");
        }
        Ok(ContainerId(text.to_string()))
    }

    /// 32 random bytes, hex: docker's format.
    pub fn random() -> Result<ContainerId> {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .context("reading /dev/urandom for a container ID")?;
        Ok(ContainerId(
            bytes.iter().map(|b| format!("{b:02x}")).collect(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 characters, as docker shows an ID.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ContainerId {
    type Error = anyhow::Error;
    fn try_from(text: String) -> Result<ContainerId> {
        ContainerId::parse(&text)
    }
}

impl From<ContainerId> for String {
    fn from(id: ContainerId) -> String {
        id.0
    }
}

impl AsRef<std::path::Path> for ContainerId {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_safe_directory_names() {
        for good in ["a", "web-1", "x.y_z+1", &"f".repeat(64)] {
            assert!(ContainerId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "né", &"a".repeat(1025)] {
            assert!(ContainerId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn random_ids_are_64_hex_shown_by_12() {
        let id = ContainerId::random().unwrap();
        assert_eq!(id.as_str().len(), 64);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(id.short(), &id.as_str()[..12]);
        assert_ne!(id, ContainerId::random().unwrap());
    }

    #[test]
    fn serde_checks_what_it_reads() {
        let id: ContainerId = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(id.as_str(), "abc");
        assert!(serde_json::from_str::<ContainerId>("\"../x\"").is_err());
    }
}
