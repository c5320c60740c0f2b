//! Images: the content-addressed store, layer unpacking, and import of
//! `docker save` archives and OCI layouts.

pub mod import;
pub mod store;
pub mod unpack;

pub use store::{ImageRecord, Store};
