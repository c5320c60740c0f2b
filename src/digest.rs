//! Content digests (`sha256:<64 hex>`), validated before they are used for
//! anything, above all as a file name: a digest read from a manifest is
//! input, and `sha256:../../etc` must never become a path (ARCHITECTURE.md).

use std::fmt;
use std::io::{self, Read, Write};

use anyhow::{bail, Result};
use sha2::{Digest as _, Sha256};

/// A sha256 digest, known to be 64 lower-case hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses `sha256:<64 lower-case hex>`; any other algorithm is refused,
    /// as we could not verify it.
    pub fn parse(text: &str) -> Result<Digest> {
        let Some((algorithm, hex)) = text.split_once(':') else {
            bail!("invalid digest {text:?}: expected sha256:<64 hex digits>");
        };
        if algorithm != "sha256" {
            bail!("unsupported digest algorithm {algorithm:?} in {text:?}: only sha256 is");
        }
        Digest::from_hex(hex).map_err(|_| {
            anyhow::anyhow!("invalid digest {text:?}: expected sha256:<64 hex digits>")
        })
    }

    /// Takes the 64 hex digits alone (a file name in the store, an image ID).
    pub fn from_hex(hex: &str) -> Result<Digest> {
        let valid = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            bail!("invalid sha256 {hex:?}: expected 64 lower-case hex digits");
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }

    /// The digest of some bytes.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    fn from_hasher(hasher: Sha256) -> Digest {
        Digest {
            hex: to_hex(&hasher.finalize()),
        }
    }

    /// The 64 hex digits: safe to use as a file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as docker shows an image ID.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

/// Stored as its text, and validated when read back: a record edited by
/// hand cannot smuggle a path in.
impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(d)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A reader that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads what is left (a tar reader stops at the end-of-archive blocks,
    /// and the padding after them is part of the digest), then returns the
    /// digest and the number of bytes.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest::from_hasher(self.hasher), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
        }
    }

    pub fn finish(self) -> (W, Digest) {
        (self.inner, Digest::from_hasher(self.hasher))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn the_digest_of_nothing() {
        assert_eq!(Digest::of(b"").hex(), EMPTY);
        assert_eq!(Digest::of(b"").to_string(), format!("sha256:{EMPTY}"));
        assert_eq!(Digest::of(b"").short(), "e3b0c44298fc");
    }

    #[test]
    fn parses_what_it_prints() {
        let d = Digest::parse(&format!("sha256:{EMPTY}")).unwrap();
        assert_eq!(d, Digest::of(b""));
    }

    #[test]
    fn refuses_anything_that_is_not_a_sha256() {
        for bad in [
            "",
            "sha256:",
            EMPTY,
            "sha256:../../../../etc/passwd",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let err = Digest::parse("md5:abc").unwrap_err().to_string();
        assert!(
            err.contains("unsupported digest algorithm \"md5\""),
            "{err}"
        );
    }

    #[test]
    fn hashing_reader_counts_the_tail() {
        let data = b"hello, world".repeat(1000);
        let mut r = HashingReader::new(&data[..]);
        let mut first = [0u8; 10];
        r.read_exact(&mut first).unwrap();
        let (d, n) = r.finish().unwrap();
        assert_eq!(d, Digest::of(&data));
        assert_eq!(n, data.len() as u64);
    }

    #[test]
    fn hashing_writer_hashes_what_it_writes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (out, d) = w.finish();
        assert_eq!(out, b"abc");
        assert_eq!(d, Digest::of(b"abc"));
    }
}
