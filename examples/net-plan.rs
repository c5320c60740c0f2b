//! Prints what `ctr run` makes for a container on the bridge, as the
//! commands you would type: the shared part, made with the first container,
//! then one container's part, for a fixed ID, PID and address. Nothing is
//! made: this is `net::plan`'s output, the data the executor applies.
//!
//! `cargo run --example net-plan -- [PORT...]`, each PORT as `-p` takes
//! it: `cargo run --example net-plan -- 6379:6379`.

use std::net::Ipv4Addr;

use anyhow::Result;
use ctr::net::{plan, Mode, Port};

/// A container's ID is random; the plan uses its first characters only.
const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The container's PID 1 on the host: its namespace is /proc/PID/ns/net.
const PID: i32 = 4242;
/// The first lease of the subnet.
const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);

fn main() -> Result<()> {
    let ports = std::env::args()
        .skip(1)
        .map(|arg| Port::parse(&arg))
        .collect::<Result<Vec<_>>>()?;
    println!("# made with the first container on the bridge, removed with the last");
    print!("{}", plan::shared());
    println!("# container {}, PID {PID}, leased {ADDRESS}", &ID[..12]);
    print!(
        "{}",
        plan::plan(Mode::Bridge, ID, PID, Some(ADDRESS), &ports)
    );
    Ok(())
}
