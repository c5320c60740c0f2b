//! `ctr inspect NAME...`: finds each name and reads what ctr keeps of it;
//! [`ctr::inspect`] turns that into docker's JSON.

use anyhow::{bail, Context, Result};

use ctr::container;
use ctr::image::Store;
use ctr::inspect;

/// `ctr inspect`: each name as a container, else an image, else a volume
/// (docker's order); a JSON array of them, or each through the template. As docker, a
/// name that is neither is reported, the others shown, and the status is 1.
pub fn inspect(
    store: &Store,
    format: Option<&str>,
    kind: Option<&str>,
    names: &[String],
) -> Result<u8> {
    let (containers, images, volumes) = match kind {
        None => (true, true, true),
        Some("container") => (true, false, false),
        Some("image") => (false, true, false),
        Some("volume") => (false, false, true),
        Some(other) => bail!("--type {other}: use container, image or volume"),
    };
    let runtime = container::runtime(store);
    let mut found = Vec::new();
    let mut missing = 0;
    for name in names {
        let record = containers
            .then(|| container::lifecycle::find(store, name).ok())
            .flatten();
        if let Some(record) = record {
            let dir = container::containers_dir(store).join(record.id.as_str());
            let spec = oci_spec::runtime::Spec::load(dir.join("config.json")).ok();
            found.push(inspect::container(
                &record,
                &record.status(&runtime),
                spec.as_ref(),
                &store.root().join("volumes"),
            ));
            continue;
        }
        let image = images.then(|| store.resolve(name).ok()).flatten();
        if let Some((image, _)) = image {
            let refs: Vec<ctr::reference::Reference> = store
                .images()?
                .into_iter()
                .find(|(i, _)| i.id == image.id)
                .map(|(_, refs)| refs)
                .unwrap_or_default();
            let config = ctr::config::parse(&store.blob(&image.id)?)
                .with_context(|| format!("parsing the config of image {}", image.id.short()))?;
            found.push(inspect::image(&image, &refs, &config));
            continue;
        }
        let volume = volumes
            .then(|| ctr::volume::get(store, name).ok())
            .flatten();
        if let Some(volume) = volume {
            found.push(ctr::volume::inspect(store, &volume));
            continue;
        }
        eprintln!("ctr: no such object: {name}");
        missing += 1;
    }
    match format {
        Some(template) => {
            for object in &found {
                println!("{}", ctr::template::render(template, object)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&found)?),
    }
    Ok(if missing > 0 { 1 } else { 0 })
}
