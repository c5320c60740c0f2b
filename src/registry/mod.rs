//! The distribution API's client and `ctr pull`: a reference's endpoint
//! (docker.io, mirrors, plain HTTP or HTTPS), its auth (Bearer tokens, logins
//! from docker's config.json), manifests and platform choice, and the pull
//! that streams layers into the image store.

pub mod auth;
pub mod client;
pub mod endpoint;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod timeouts;
