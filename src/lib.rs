//! The runtime `ctr`: the lessons of `steps/` grown into a docker-compatible
//! `run` (ARCHITECTURE.md is the map). One module per concern:
//!
//! - [`reference`]: image names in docker's grammar;
//! - [`digest`]: validated sha256 digests;
//! - [`image`]: the content-addressed store, layer unpacking, `import`;
//! - [`registry`]: the distribution API client and `pull`;
//! - [`config`]: the image config and how `run`'s options combine with it;
//! - [`container`]: the engine's containers: a bundle per container, the
//!   runtime driven through it, the monitor, the lifecycle;
//! - [`runtime`]: the OCI runtime (runc's part), which `ctr-runtime` serves;
//! - [`net`]: bridge networking, published ports, IPAM (a plan and its executor);
//! - [`exit`]: docker's exit statuses;
//! - [`lockfile`]: the flock(2) lock files of the store and the network;
//! - [`show`]: tables and sizes as docker prints them.
//! - [`rootless`]: ctr run by an ordinary user, in a user namespace of its own;
//! - [`system`]: `ctr system check` and `reset`: what ctr left on the host.
//! - [`volume`]: named and anonymous volumes, their copy-up and who uses them.
//!
//! `main.rs` is only the command line.

pub mod config;
pub mod container;
pub mod digest;
pub mod exit;
pub mod image;
pub mod inspect;
pub mod lockfile;
pub mod net;
pub mod reference;
pub mod registry;
pub mod rootless;
pub mod runtime;
pub mod show;
pub mod system;
pub mod template;
pub mod volume;
